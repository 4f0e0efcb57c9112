// devices/legacy/i8042.h: a minimal i8042 keyboard controller, there for the reset line.
//
// One BusDevice over ports 0x60..0x64 (length 5): offset 0 is the data port, offset 4 the
// status (read) / command (write) port; offsets 1..3 read 0xff. There is no keyboard and no
// interrupt. Pulsing the reset line (command 0xFE, or any 0xF0..0xFF with bit 0 clear, or clearing
// bit 0 of the output port via 0xD1) calls on_reset. A few commands answer minimally: 0xAA
// self test (0x55), 0xAB interface test (0x00), 0x20/0x60 read/write the command byte, 0xD0/0xD1
// read/write the output port, 0xAD/0xAE/0xA7/0xA8 set the disable bits; all others are ignored.
// Status is 0 when there is nothing to read (OBF clear, IBF never set).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "devices/bus.h"

namespace tandem {

class I8042 : public BusDevice {
 public:
  static constexpr uint64_t kLength = 5;
  static constexpr uint64_t kDataOffset = 0;
  static constexpr uint64_t kCommandOffset = 4;  // status register on reads

  // Status register bits.
  static constexpr uint8_t kStatusOutputFull = 0x01;
  static constexpr uint8_t kStatusInputFull = 0x02;
  static constexpr uint8_t kStatusSystem = 0x04;

  // `on_reset` is called (on a vCPU thread, no lock held) each time the guest pulses reset.
  explicit I8042(std::function<void()> on_reset);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "i8042"; }

  uint64_t resets() const;

 private:
  bool command(uint8_t cmd);          // true if it pulses reset
  bool data_write(uint8_t value);     // true if it pulses reset

  const std::function<void()> on_reset_;
  mutable std::mutex mu_;
  uint8_t command_byte_ = 0x40;  // translation on; no interrupts (none are wired)
  uint8_t output_port_ = 0x03;   // reset line inactive (bit 0 high), A20 on
  std::optional<uint8_t> output_;    // a byte waiting in the output buffer
  std::optional<uint8_t> awaiting_;  // a command (0x60, 0xD1) waiting for its data byte
  uint64_t resets_ = 0;
};

}  // namespace tandem
