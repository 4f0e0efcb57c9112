// Unit tests for devices/legacy/serial: the 16550A driven the way Linux's 8250 driver drives it.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "devices/bus.h"
#include "devices/legacy/serial.h"

using namespace tandem;

constexpr uint16_t kCom1Port = 0x3f8;  // where x86_64's machine puts it

namespace {
// Register offsets and bits, spelled as in Linux's include/uapi/linux/serial_reg.h.
constexpr uint64_t RX = 0, TX = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, EFR = 2, LCR = 3, MCR = 4,
                   LSR = 5, MSR = 6, SCR = 7;
constexpr uint8_t IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08, IER_UUE = 0x40;
constexpr uint8_t IIR_NO_INT = 0x01, IIR_RLSI = 0x06, IIR_RDI = 0x04, IIR_THRI = 0x02, IIR_MSI = 0x00;
constexpr uint8_t FCR_ENABLE_FIFO = 0x01, FCR_CLEAR_RCVR = 0x02, FCR_CLEAR_XMIT = 0x04, FCR7_64BYTE = 0x20;
constexpr uint8_t LCR_DLAB = 0x80, LCR_WLEN8 = 0x03, LCR_CONF_MODE_A = 0x80, LCR_CONF_MODE_B = 0xbf;
constexpr uint8_t MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
constexpr uint8_t LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
constexpr uint8_t MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08, MSR_CTS = 0x10,
                  MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;

struct Uart {
  std::string out;
  int irqs = 0;
  int drained = 0;
  Serial dev{[this](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); }, [this] { ++irqs; },
             [this] { ++drained; }};

  uint8_t in(uint64_t off) {
    uint8_t v = 0;
    dev.read(off, std::span<uint8_t>(&v, 1));
    return v;
  }
  void outb(uint64_t off, uint8_t v) { dev.write(off, std::span<const uint8_t>(&v, 1)); }
  size_t feed(const std::string& s) {
    return dev.enqueue_input(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  std::string drain() {
    std::string s;
    while (in(LSR) & LSR_DR) s.push_back(static_cast<char>(in(RX)));
    return s;
  }
};
}  // namespace

TEST_CASE("serial: Linux 8250 autoconfig identifies a 16550A") {
  Uart u;
  // IER probe: clear, then all four bits must read back.
  uint8_t scratch = u.in(IER);
  u.outb(IER, 0);
  CHECK((u.in(IER) & 0x0f) == 0);
  u.outb(IER, 0x0f);
  CHECK((u.in(IER) & 0x0f) == 0x0f);
  u.outb(IER, scratch);

  // Loopback test: RTS and OUT2 come back as CTS and DCD.
  uint8_t save_mcr = u.in(MCR);
  uint8_t save_lcr = u.in(LCR);
  u.outb(MCR, MCR_LOOP | 0x0a);
  CHECK((u.in(MSR) & 0xf0) == 0x90);
  u.outb(MCR, save_mcr);

  // EFR zeroing, then the FIFO type from IIR's top bits: 3 = 16550A.
  u.outb(LCR, LCR_CONF_MODE_B);
  u.outb(EFR, 0);
  u.outb(LCR, 0);
  u.outb(FCR, FCR_ENABLE_FIFO);
  CHECK((u.in(IIR) >> 6) == 3);

  // autoconfig_16550a: not an ST16C650 (EFR reads non-zero with LCR 0x80 / 0xBF) ...
  u.outb(LCR, LCR_CONF_MODE_A);
  CHECK(u.in(EFR) != 0);
  u.outb(LCR, LCR_CONF_MODE_B);
  CHECK(u.in(EFR) != 0);
  // ... not a National SuperIO (EXCR1 does not follow MCR.LOOP) ...
  u.outb(LCR, 0);
  uint8_t status1 = u.in(MCR);
  u.outb(LCR, 0xe0);
  uint8_t status2 = u.in(0x02);
  CHECK(((status1 ^ status2) & MCR_LOOP) == 0);
  u.outb(LCR, 0);
  u.outb(MCR, status1 ^ MCR_LOOP);
  u.outb(LCR, 0xe0);
  status2 = u.in(0x02);
  u.outb(LCR, 0);
  u.outb(MCR, status1);
  CHECK(((status1 ^ status2) & MCR_LOOP) == 0);
  // ... not a TI16750 (IIR bit 5 never set, with or without DLAB) ...
  u.outb(FCR, FCR_ENABLE_FIFO | FCR7_64BYTE);
  status1 = u.in(IIR) >> 5;
  u.outb(FCR, FCR_ENABLE_FIFO);
  u.outb(LCR, LCR_CONF_MODE_A);
  u.outb(FCR, FCR_ENABLE_FIFO | FCR7_64BYTE);
  status2 = u.in(IIR) >> 5;
  CHECK_FALSE((status1 == 6 && status2 == 7));
  u.outb(FCR, FCR_ENABLE_FIFO);
  u.outb(LCR, 0);
  // ... and not an XScale (IER bit 6 does not stick).
  u.outb(IER, IER_UUE);
  CHECK((u.in(IER) & IER_UUE) == 0);
  u.outb(IER, 0);

  // The scratch register holds what is written (autoconfig_8250's test).
  u.outb(SCR, 0xa5);
  CHECK(u.in(SCR) == 0xa5);
  u.outb(SCR, 0x5a);
  CHECK(u.in(SCR) == 0x5a);

  u.outb(LCR, save_lcr);
  // Startup: clear FIFOs, read the interrupt registers; LSR must not look absent.
  u.outb(FCR, FCR_ENABLE_FIFO);
  u.outb(FCR, FCR_ENABLE_FIFO | FCR_CLEAR_RCVR | FCR_CLEAR_XMIT);
  u.outb(FCR, 0);
  u.in(LSR);
  u.in(RX);
  u.in(IIR);
  u.in(MSR);
  CHECK(u.in(LSR) == (LSR_THRE | LSR_TEMT));
  CHECK(u.in(IIR) == IIR_NO_INT);  // FIFOs off again
  CHECK(u.out.empty());
  // The IER probe's 0x0F enabled THRE with THR empty: one interrupt (OUT2 does not gate it; the
  // guest has no handler yet, so it is dropped or seen as spurious).
  CHECK(u.irqs == 1);
}

TEST_CASE("serial: baud rate divisor through DLAB") {
  Uart u;
  u.outb(IER, IER_RDI);
  u.outb(LCR, LCR_DLAB | LCR_WLEN8);
  u.outb(DLL, 0x01);  // 115200
  u.outb(DLM, 0x00);
  CHECK(u.in(DLL) == 0x01);
  CHECK(u.in(DLM) == 0x00);
  u.outb(LCR, LCR_WLEN8);
  CHECK(u.dev.divisor() == 1);
  CHECK(u.in(LCR) == LCR_WLEN8);
  CHECK(u.in(IER) == IER_RDI);  // the DLM write did not touch IER
  CHECK(u.out.empty());         // nor did the DLL write transmit

  u.outb(LCR, LCR_DLAB | LCR_WLEN8);
  u.outb(DLL, 0x0c);
  u.outb(DLM, 0x01);
  CHECK(u.dev.divisor() == 0x010c);
  CHECK(u.in(LCR) == (LCR_DLAB | LCR_WLEN8));
}

TEST_CASE("serial: THR empty interrupt, as the 8250 THRE test and transmit path use it") {
  Uart u;
  u.outb(FCR, FCR_ENABLE_FIFO);
  CHECK(u.in(IIR) == 0xc1);

  // Enabling THRI with THR empty raises the interrupt at once.
  u.outb(IER, IER_THRI);
  CHECK(u.irqs == 1);
  CHECK(u.in(IIR) == (0xc0 | IIR_THRI));
  CHECK(u.in(IIR) == (0xc0 | IIR_NO_INT));  // reading IIR acknowledged it
  // IER off and on again re-asserts it (otherwise Linux sets UART_BUG_THRE).
  u.outb(IER, 0);
  u.outb(IER, IER_THRI);
  CHECK(u.irqs == 2);
  CHECK(u.in(IIR) == (0xc0 | IIR_THRI));
  // Writing IER with THRI already set does not re-arm an acknowledged interrupt.
  u.outb(IER, IER_THRI);
  CHECK(u.in(IIR) == (0xc0 | IIR_NO_INT));
  CHECK(u.irqs == 2);

  // tx_chars after acknowledging: the first byte re-raises, the rest find it pending.
  for (char c : std::string("hello, world\n")) u.outb(TX, static_cast<uint8_t>(c));
  CHECK(u.out == "hello, world\n");
  CHECK(u.irqs == 3);
  CHECK(u.in(LSR) == (LSR_THRE | LSR_TEMT));
  CHECK(u.in(IIR) == (0xc0 | IIR_THRI));
  // stop_tx: disabling THRI drops the pending interrupt.
  u.outb(TX, '!');
  u.outb(IER, 0);
  CHECK(u.in(IIR) == (0xc0 | IIR_NO_INT));
  CHECK(u.irqs == 4);
  CHECK(u.out == "hello, world\n!");

  // Console write with interrupts masked: output, no interrupt.
  for (char c : std::string("console")) {
    while (!(u.in(LSR) & LSR_THRE)) {
    }
    u.outb(TX, static_cast<uint8_t>(c));
  }
  CHECK(u.out == "hello, world\n!console");
  CHECK(u.irqs == 4);
}

TEST_CASE("serial: receiving input") {
  Uart u;
  u.outb(FCR, FCR_ENABLE_FIFO);
  // Input with interrupts off waits in the FIFO without an interrupt.
  CHECK(u.feed("ab") == 2);
  CHECK(u.irqs == 0);
  CHECK(u.in(LSR) == (LSR_DR | LSR_THRE | LSR_TEMT));
  CHECK(u.in(IIR) == 0xc1);
  // Enabling RDI with data present raises it.
  u.outb(IER, IER_RDI | IER_RLSI);
  CHECK(u.irqs == 1);
  CHECK(u.in(IIR) == (0xc0 | IIR_RDI));
  CHECK(u.feed("c") == 1);
  CHECK(u.irqs == 1);  // already pending
  CHECK(u.drain() == "abc");
  CHECK(u.drained == 1);
  CHECK(u.in(IIR) == 0xc1);
  CHECK(u.in(RX) == 0);  // empty FIFO reads 0
  CHECK(u.drained == 1);
  CHECK(u.feed("xyz") == 3);
  CHECK(u.irqs == 2);
  CHECK(u.drain() == "xyz");
  CHECK(u.drained == 2);
}

TEST_CASE("serial: the receive FIFO is bounded and refuses rather than drops host input") {
  Uart u;
  u.outb(IER, IER_RDI | IER_RLSI);
  CHECK(u.dev.rx_room() == Serial::kRxFifoSize);
  std::string paste(100, 'p');
  for (size_t i = 0; i < paste.size(); ++i) paste[i] = static_cast<char>('a' + i % 26);
  size_t taken = u.feed(paste);
  CHECK(taken == Serial::kRxFifoSize);
  CHECK(u.dev.rx_room() == 0);
  CHECK(u.feed("more") == 0);
  CHECK((u.in(LSR) & LSR_OE) == 0);
  CHECK(u.dev.overruns() == 0);
  CHECK(u.irqs == 1);
  // The guest reads one byte: room for one more.
  CHECK(u.in(RX) == 'a');
  CHECK(u.dev.rx_room() == 1);
  taken += u.feed(paste.substr(taken));
  CHECK(taken == Serial::kRxFifoSize + 1);
  // Drain everything, then offer the rest: nothing lost, order kept.
  std::string got = "a" + u.drain();
  CHECK(u.drained == 1);
  CHECK(u.feed(paste.substr(taken)) == paste.size() - taken);
  got += u.drain();
  CHECK(got == paste);

  // FCR clears the receive FIFO (and says so).
  CHECK(u.feed("junk") == 4);
  u.outb(FCR, FCR_ENABLE_FIFO | FCR_CLEAR_RCVR);
  CHECK(u.dev.rx_room() == Serial::kRxFifoSize);
  CHECK(u.drained == 3);
  CHECK((u.in(LSR) & LSR_DR) == 0);
}

TEST_CASE("serial: loopback") {
  Uart u;
  u.outb(FCR, FCR_ENABLE_FIFO);
  u.in(MSR);
  CHECK(u.in(MSR) == (MSR_DCD | MSR_DSR | MSR_CTS));  // a connected line, no deltas
  u.outb(MCR, MCR_LOOP);
  CHECK(u.in(MSR) == (MSR_DDSR | MSR_DDCD | MSR_DCTS));  // every input dropped
  u.outb(MCR, MCR_LOOP | MCR_DTR);
  CHECK(u.in(MSR) == (MSR_DSR | MSR_DDSR));
  u.outb(MCR, MCR_LOOP | MCR_RTS | MCR_OUT1 | MCR_OUT2);
  CHECK(u.in(MSR) == (MSR_CTS | MSR_RI | MSR_DCD | MSR_DCTS | MSR_DDSR | MSR_DDCD));
  u.outb(MCR, MCR_LOOP);
  CHECK(u.in(MSR) == (MSR_DCTS | MSR_TERI | MSR_DDCD));  // RI trailing edge
  CHECK(u.in(MCR) == MCR_LOOP);

  // Transmitted bytes come back as received ones and never reach the output.
  u.outb(TX, 'L');
  u.outb(TX, 'B');
  CHECK(u.out.empty());
  CHECK(u.drain() == "LB");

  u.outb(MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
  CHECK(u.in(MSR) == (MSR_DCD | MSR_DSR | MSR_CTS | MSR_DCTS | MSR_DDSR | MSR_DDCD));
  u.outb(TX, 'x');
  CHECK(u.out == "x");
  CHECK((u.in(LSR) & LSR_DR) == 0);
}

TEST_CASE("serial: FIFO overrun and IIR priorities") {
  Uart u;
  u.outb(FCR, FCR_ENABLE_FIFO);
  u.outb(MCR, MCR_LOOP);
  u.in(MSR);  // clear the deltas from entering loopback
  u.outb(IER, IER_RDI | IER_THRI | IER_RLSI | IER_MSI);
  CHECK(u.in(IIR) == (0xc0 | IIR_THRI));
  int irqs = u.irqs;

  // Fill the FIFO through loopback, then one byte more: overrun, that byte is lost.
  for (size_t i = 0; i < Serial::kRxFifoSize; ++i) u.outb(TX, static_cast<uint8_t>(i));
  CHECK(u.dev.overruns() == 0);
  u.outb(TX, 0xee);
  u.outb(TX, 0xef);
  CHECK(u.dev.overruns() == 2);
  u.outb(MCR, MCR_LOOP | MCR_DTR);  // a modem status change as well
  CHECK(u.irqs > irqs);

  // Everything pending at once: line status, then data, then THR empty, then modem status.
  CHECK(u.in(IIR) == (0xc0 | IIR_RLSI));
  CHECK(u.in(LSR) == (LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT));
  CHECK(u.in(LSR) == (LSR_DR | LSR_THRE | LSR_TEMT));  // reading LSR cleared OE
  CHECK(u.in(IIR) == (0xc0 | IIR_RDI));
  std::string got = u.drain();
  REQUIRE(got.size() == Serial::kRxFifoSize);
  for (size_t i = 0; i < got.size(); ++i) CHECK(static_cast<uint8_t>(got[i]) == i);
  CHECK(u.in(IIR) == (0xc0 | IIR_THRI));
  CHECK(u.in(IIR) == (0xc0 | IIR_MSI));
  CHECK(u.in(MSR) == (MSR_DSR | MSR_DDSR));
  CHECK(u.in(IIR) == (0xc0 | IIR_NO_INT));

  // A disabled source is pending but not reported: overrun without RLSI shows only in LSR.
  u.outb(IER, IER_RDI);
  for (size_t i = 0; i <= Serial::kRxFifoSize; ++i) u.outb(TX, 1);
  CHECK(u.in(IIR) == (0xc0 | IIR_RDI));
  CHECK((u.in(LSR) & LSR_OE) != 0);
  CHECK(u.dev.overruns() == 3);
}

TEST_CASE("serial: odd offsets and widths do nothing harmful") {
  Uart u;
  u.outb(IER, IER_THRI);
  u.in(IIR);
  int irqs = u.irqs;
  for (uint64_t off : {uint64_t{8}, uint64_t{0x100}, ~uint64_t{0}}) {
    CHECK(u.in(off) == 0xff);
    u.outb(off, 0x55);
  }
  for (size_t width : {2, 4, 8}) {
    for (uint64_t off = 0; off < 10; ++off) {
      std::array<uint8_t, 8> buf{};
      buf.fill(0x41);
      u.dev.write(off, std::span<const uint8_t>(buf.data(), width));
      u.dev.read(off, std::span<uint8_t>(buf.data(), width));
      for (size_t i = 0; i < width; ++i) CHECK(buf[i] == 0xff);
    }
  }
  u.dev.read(0, std::span<uint8_t>());
  u.dev.write(0, std::span<const uint8_t>());
  CHECK(u.out.empty());
  CHECK(u.irqs == irqs);
  CHECK(u.in(IER) == IER_THRI);
  CHECK(u.in(LCR) == 0);
  CHECK(u.in(SCR) == 0);
  CHECK(u.dev.ignored_accesses() == 6 + 3 * 10 * 2 + 2);
}

TEST_CASE("serial: works through the port I/O bus at COM1, and with empty callbacks") {
  Bus pio("pio");
  auto dev = std::make_shared<Serial>(nullptr, nullptr);
  REQUIRE(pio.insert(dev, kCom1Port, Serial::kPorts).ok());
  uint8_t v = 0;
  CHECK(pio.read(kCom1Port + 5, std::span<uint8_t>(&v, 1)));
  CHECK(v == (LSR_THRE | LSR_TEMT));
  v = IER_THRI | IER_RDI;
  CHECK(pio.write(kCom1Port + 1, std::span<const uint8_t>(&v, 1)));
  v = 'q';
  CHECK(pio.write(kCom1Port, std::span<const uint8_t>(&v, 1)));
  const uint8_t in[] = {'z'};
  CHECK(dev->enqueue_input(in) == 1);
  CHECK(pio.read(kCom1Port, std::span<uint8_t>(&v, 1)));
  CHECK(v == 'z');
}

TEST_CASE("serial: callbacks run without the device lock held") {
  Serial* self = nullptr;
  int calls = 0;
  Serial dev([&](std::span<const uint8_t>) { calls += static_cast<int>(self->rx_room() > 0); },
             [&] {
               uint8_t v = 0;
               self->read(2, std::span<uint8_t>(&v, 1));  // an interrupt handler reading IIR
               ++calls;
             },
             [&] { calls += static_cast<int>(self->rx_room() == Serial::kRxFifoSize); });
  self = &dev;
  uint8_t v = IER_THRI | IER_RDI;
  dev.write(1, std::span<const uint8_t>(&v, 1));
  v = 'a';
  dev.write(0, std::span<const uint8_t>(&v, 1));
  dev.enqueue_input(std::span<const uint8_t>(&v, 1));
  dev.read(0, std::span<uint8_t>(&v, 1));
  CHECK(calls == 5);
}

TEST_CASE("serial: concurrent guest reads/writes and host input lose nothing") {
  std::atomic<int> irqs{0};
  std::string out;
  Serial dev([&](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); }, [&] { ++irqs; });
  uint8_t v = IER_RDI | IER_THRI;
  dev.write(1, std::span<const uint8_t>(&v, 1));
  constexpr size_t kTotal = 20000;
  std::thread host([&] {
    size_t sent = 0;
    while (sent < kTotal) {
      uint8_t chunk[37];
      size_t n = std::min(sizeof chunk, kTotal - sent);
      for (size_t i = 0; i < n; ++i) chunk[i] = static_cast<uint8_t>((sent + i) % 251);
      sent += dev.enqueue_input(std::span<const uint8_t>(chunk, n));
      std::this_thread::yield();
    }
  });
  std::thread writer([&] {
    for (int i = 0; i < 5000; ++i) {
      uint8_t c = static_cast<uint8_t>('0' + i % 10);
      dev.write(0, std::span<const uint8_t>(&c, 1));
    }
  });
  size_t received = 0;
  bool in_order = true;
  while (received < kTotal) {
    uint8_t lsr = 0, iir = 0;
    dev.read(2, std::span<uint8_t>(&iir, 1));
    dev.read(5, std::span<uint8_t>(&lsr, 1));
    if (lsr & LSR_DR) {
      uint8_t b = 0;
      dev.read(0, std::span<uint8_t>(&b, 1));
      in_order &= b == received % 251;
      ++received;
    }
  }
  host.join();
  writer.join();
  CHECK(in_order);
  CHECK(out.size() == 5000);
  CHECK(dev.overruns() == 0);
  CHECK(irqs.load() > 0);
}
