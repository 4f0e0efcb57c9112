// devices/legacy/serial.h: a 16550A UART (COM1) on the port-I/O bus, 8 registers at offsets 0..7.
//
// Transmission is instantaneous: a THR write goes straight to the output sink (or, in loopback mode,
// into the receive FIFO), so THR and the transmitter are always empty. Input from the host goes into
// a bounded receive FIFO through enqueue_input(), which takes only what fits: the caller keeps the
// rest and offers it again once the guest has drained the FIFO (on_rx_drained tells it when).
// The FIFO holds kRxFifoSize bytes whether or not the guest enabled FIFO mode (FCR bit 0, which
// only changes what IIR reports: 0xC0); host input is accepted in loopback mode too.
//
// Interrupts: the trigger is called whenever an enabled interrupt source (line status, received
// data, THR empty, modem status) becomes pending that was not pending before — for an edge-triggered
// irqfd. That includes IER writes that enable THRE while THR is empty, which Linux's 8250 driver
// relies on. MCR.OUT2 does not gate the interrupt.
//
// Thread safety: read/write (vCPU threads) and enqueue_input (main thread) may run concurrently.
// Callbacks are called with no lock of this device held (they may call back into it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>

#include "devices/bus.h"

namespace tandem {

class Serial : public BusDevice {
 public:
  using OutputSink = std::function<void(std::span<const uint8_t>)>;

  static constexpr uint64_t kPorts = 8;        // the bus range length
  static constexpr size_t kRxFifoSize = 64;    // receive FIFO capacity, in bytes

  // `output` receives transmitted bytes (on a vCPU thread). `interrupt` is called on each newly
  // pending interrupt condition. `on_rx_drained`, if given, is called (on a vCPU thread) when the
  // guest empties a non-empty receive FIFO, by reading it or by clearing it through FCR.
  Serial(OutputSink output, std::function<void()> interrupt, std::function<void()> on_rx_drained = {});

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "serial"; }

  // Appends as many of `bytes` to the receive FIFO as fit and returns how many that was (a prefix
  // of `bytes`). Raises the received-data interrupt if it is enabled.
  size_t enqueue_input(std::span<const uint8_t> bytes);
  // Free bytes in the receive FIFO.
  size_t rx_room() const;

  // Bytes lost because the receive FIFO was full (only loopback writes can overrun: host input is
  // never dropped, enqueue_input refuses it instead).
  uint64_t overruns() const;
  // The baud-rate divisor (DLM:DLL); the baud rate is 115200 / divisor.
  uint16_t divisor() const;
  // Accesses ignored because of their offset or width (not 1 byte).
  uint64_t ignored_accesses() const;

 private:
  struct Effects;

  uint8_t pending_sources() const;
  uint8_t modem_inputs() const;
  uint8_t read_register(uint64_t offset, Effects& fx);
  void write_register(uint64_t offset, uint8_t value, Effects& fx);
  void rx_push(uint8_t byte);
  uint8_t rx_pop();
  void rx_clear(Effects& fx);
  void finish(std::unique_lock<std::mutex>& lock, uint8_t pending_before, Effects& fx);

  const OutputSink output_;
  const std::function<void()> interrupt_;
  const std::function<void()> on_rx_drained_;

  mutable std::mutex mu_;

  uint8_t ier_ = 0;
  uint8_t lcr_ = 0;
  uint8_t mcr_ = 0;
  uint8_t scr_ = 0;
  uint8_t dll_ = 0x0c;  // 9600 baud until the guest sets it
  uint8_t dlm_ = 0;
  uint8_t msr_deltas_ = 0;    // MSR bits 0..3, cleared by reading MSR
  bool fifo_enabled_ = false; // FCR bit 0
  bool thr_ipending_ = false; // THR-empty interrupt armed (cleared by reading it from IIR)
  bool overrun_ = false;      // LSR.OE, cleared by reading LSR

  std::array<uint8_t, kRxFifoSize> rx_{};
  size_t rx_head_ = 0;
  size_t rx_count_ = 0;

  uint64_t overruns_ = 0;
  uint64_t ignored_ = 0;
};

}  // namespace tandem
