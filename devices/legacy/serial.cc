// devices/legacy/serial.cc: the 16550A UART's registers, FIFO and interrupt identification.
#include "devices/legacy/serial.h"

#include <algorithm>
#include <optional>

namespace tandem {

namespace {
// Register offsets (DLAB = 0 unless noted).
constexpr uint64_t kRbrThr = 0;  // DLL when DLAB = 1
constexpr uint64_t kIer = 1;     // DLM when DLAB = 1
constexpr uint64_t kIirFcr = 2;
constexpr uint64_t kLcr = 3;
constexpr uint64_t kMcr = 4;
constexpr uint64_t kLsr = 5;
constexpr uint64_t kMsr = 6;
constexpr uint64_t kScr = 7;

constexpr uint8_t kIerRda = 0x01;   // ERBFI: received data available
constexpr uint8_t kIerThre = 0x02;  // ETBEI: THR empty
constexpr uint8_t kIerRls = 0x04;   // ELSI: receiver line status
constexpr uint8_t kIerMs = 0x08;    // EDSSI: modem status
constexpr uint8_t kIerMask = 0x0f;  // the 16550A has no more IER bits (Linux probes this)

constexpr uint8_t kIirNoInt = 0x01;
constexpr uint8_t kIirRls = 0x06;
constexpr uint8_t kIirRda = 0x04;
constexpr uint8_t kIirThre = 0x02;
constexpr uint8_t kIirMs = 0x00;
constexpr uint8_t kIirFifos = 0xc0;

constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;

constexpr uint8_t kLcrDlab = 0x80;

constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f;

constexpr uint8_t kLsrDr = 0x01;
constexpr uint8_t kLsrOe = 0x02;
constexpr uint8_t kLsrThre = 0x20;
constexpr uint8_t kLsrTemt = 0x40;

constexpr uint8_t kMsrDcts = 0x01;
constexpr uint8_t kMsrDdsr = 0x02;
constexpr uint8_t kMsrTeri = 0x04;
constexpr uint8_t kMsrDdcd = 0x08;
constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;

// Interrupt sources, as a bit mask (not register bits).
constexpr uint8_t kSrcRls = 0x1, kSrcRda = 0x2, kSrcThre = 0x4, kSrcMs = 0x8;
}  // namespace

// What an access does after the state lock is released.
struct Serial::Effects {
  std::optional<uint8_t> tx;  // a byte for the output sink
  bool drained = false;       // the guest emptied the receive FIFO
};

Serial::Serial(OutputSink output, std::function<void()> interrupt, std::function<void()> on_rx_drained)
    : output_(std::move(output)), interrupt_(std::move(interrupt)), on_rx_drained_(std::move(on_rx_drained)) {}

uint8_t Serial::pending_sources() const {
  uint8_t p = 0;
  if ((ier_ & kIerRls) && overrun_) p |= kSrcRls;
  if ((ier_ & kIerRda) && rx_count_ > 0) p |= kSrcRda;
  if ((ier_ & kIerThre) && thr_ipending_) p |= kSrcThre;
  if ((ier_ & kIerMs) && (msr_deltas_ & 0x0f)) p |= kSrcMs;
  return p;
}

// MSR bits 4..7: a connected, ready line; in loopback, MCR's outputs wired back.
uint8_t Serial::modem_inputs() const {
  if (!(mcr_ & kMcrLoop)) return kMsrDcd | kMsrDsr | kMsrCts;
  uint8_t v = 0;
  if (mcr_ & kMcrRts) v |= kMsrCts;
  if (mcr_ & kMcrDtr) v |= kMsrDsr;
  if (mcr_ & kMcrOut1) v |= kMsrRi;
  if (mcr_ & kMcrOut2) v |= kMsrDcd;
  return v;
}

void Serial::rx_push(uint8_t byte) {
  rx_[(rx_head_ + rx_count_) % kRxFifoSize] = byte;
  ++rx_count_;
}

uint8_t Serial::rx_pop() {
  uint8_t b = rx_[rx_head_];
  rx_head_ = (rx_head_ + 1) % kRxFifoSize;
  --rx_count_;
  return b;
}

void Serial::rx_clear(Effects& fx) {
  if (rx_count_ > 0) fx.drained = true;
  rx_head_ = 0;
  rx_count_ = 0;
}

uint8_t Serial::read_register(uint64_t offset, Effects& fx) {
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
    case kRbrThr:
      if (dlab) return dll_;
      if (rx_count_ == 0) return 0;
      {
        uint8_t b = rx_pop();
        if (rx_count_ == 0) fx.drained = true;
        return b;
      }
    case kIer:
      return dlab ? dlm_ : ier_;
    case kIirFcr: {
      const uint8_t p = pending_sources();
      uint8_t id = kIirNoInt;
      if (p & kSrcRls) {
        id = kIirRls;
      } else if (p & kSrcRda) {
        id = kIirRda;
      } else if (p & kSrcThre) {
        id = kIirThre;
        thr_ipending_ = false;  // reading IIR acknowledges THR empty
      } else if (p & kSrcMs) {
        id = kIirMs;
      }
      return static_cast<uint8_t>(id | (fifo_enabled_ ? kIirFifos : 0));
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr: {
      uint8_t v = kLsrThre | kLsrTemt;
      if (rx_count_ > 0) v |= kLsrDr;
      if (overrun_) v |= kLsrOe;
      overrun_ = false;
      return v;
    }
    case kMsr: {
      uint8_t v = static_cast<uint8_t>(modem_inputs() | msr_deltas_);
      msr_deltas_ = 0;
      return v;
    }
    case kScr:
      return scr_;
  }
  return 0xff;
}

void Serial::write_register(uint64_t offset, uint8_t value, Effects& fx) {
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
    case kRbrThr:
      if (dlab) {
        dll_ = value;
      } else {
        if (mcr_ & kMcrLoop) {
          if (rx_count_ < kRxFifoSize) {
            rx_push(value);
          } else {
            overrun_ = true;
            ++overruns_;
          }
        } else {
          fx.tx = value;
        }
        thr_ipending_ = true;  // the byte left at once: THR is empty again
      }
      return;
    case kIer:
      if (dlab) {
        dlm_ = value;
      } else {
        const uint8_t old = ier_;
        ier_ = value & kIerMask;
        // Enabling ETBEI re-arms THR empty (THR always is); disabling it disarms.
        if ((old ^ ier_) & kIerThre) thr_ipending_ = (ier_ & kIerThre) != 0;
      }
      return;
    case kIirFcr:
      // Toggling FIFO mode clears the FIFOs; the clear bits only count with FIFO mode on.
      if (!(value & kFcrEnable)) {
        if (fifo_enabled_) rx_clear(fx);
        fifo_enabled_ = false;
      } else {
        if (!fifo_enabled_ || (value & kFcrClearRx)) rx_clear(fx);
        fifo_enabled_ = true;
      }
      return;
    case kLcr:
      lcr_ = value;
      return;
    case kMcr: {
      const uint8_t before = modem_inputs();
      mcr_ = value & kMcrMask;
      const uint8_t after = modem_inputs();
      const uint8_t changed = before ^ after;
      if (changed & kMsrCts) msr_deltas_ |= kMsrDcts;
      if (changed & kMsrDsr) msr_deltas_ |= kMsrDdsr;
      if (changed & kMsrDcd) msr_deltas_ |= kMsrDdcd;
      if ((before & kMsrRi) && !(after & kMsrRi)) msr_deltas_ |= kMsrTeri;  // trailing edge of RI
      return;
    }
    case kLsr:
    case kMsr:
      return;  // read-only
    case kScr:
      scr_ = value;
      return;
  }
}

// Releases the lock and carries out the effects: output, interrupt, drained. The guest serializes
// its THR writes (an OUT completes only after the sink returns), so output keeps its order.
void Serial::finish(std::unique_lock<std::mutex>& lock, uint8_t pending_before, Effects& fx) {
  const bool raise = (pending_sources() & ~pending_before) != 0;
  lock.unlock();
  if (fx.tx && output_) {
    const uint8_t b = *fx.tx;
    output_(std::span<const uint8_t>(&b, 1));
  }
  if (raise && interrupt_) interrupt_();
  if (fx.drained && on_rx_drained_) on_rx_drained_();
}

void Serial::read(uint64_t offset, std::span<uint8_t> data) {
  std::unique_lock lock(mu_);
  if (data.size() != 1 || offset >= kPorts) {
    std::fill(data.begin(), data.end(), uint8_t{0xff});
    ++ignored_;
    return;
  }
  const uint8_t before = pending_sources();
  Effects fx;
  data[0] = read_register(offset, fx);
  finish(lock, before, fx);
}

void Serial::write(uint64_t offset, std::span<const uint8_t> data) {
  std::unique_lock lock(mu_);
  if (data.size() != 1 || offset >= kPorts) {
    ++ignored_;
    return;
  }
  const uint8_t before = pending_sources();
  Effects fx;
  write_register(offset, data[0], fx);
  finish(lock, before, fx);
}

size_t Serial::enqueue_input(std::span<const uint8_t> bytes) {
  std::unique_lock lock(mu_);
  const uint8_t before = pending_sources();
  const size_t n = std::min(bytes.size(), kRxFifoSize - rx_count_);
  for (size_t i = 0; i < n; ++i) rx_push(bytes[i]);
  Effects fx;
  finish(lock, before, fx);
  return n;
}

size_t Serial::rx_room() const {
  std::lock_guard lock(mu_);
  return kRxFifoSize - rx_count_;
}

uint64_t Serial::overruns() const {
  std::lock_guard lock(mu_);
  return overruns_;
}

uint16_t Serial::divisor() const {
  std::lock_guard lock(mu_);
  return static_cast<uint16_t>(dll_ | (dlm_ << 8));
}

uint64_t Serial::ignored_accesses() const {
  std::lock_guard lock(mu_);
  return ignored_;
}

}  // namespace tandem
