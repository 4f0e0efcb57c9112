// devices/legacy/acpi_pm.h: hardware-reduced ACPI power management: the FADT's sleep
// control/status register and reset register, one byte each.
//
// One BusDevice over 2 ports, placed by the machine (x86_64: the sleep port 0x3c0 of its address
// map): offset 0 is the sleep register (writes: control, SLP_TYP in bits 2..4, SLP_EN bit
// 5, WAK_STS bit 7 write-1-to-clear; reads: status, WAK_STS once a sleep was requested), offset 1
// the reset register (the FADT's, kAcpiResetPort there). Entering S5 (SLP_TYP 5, the DSDT's _S5_)
// calls on_poweroff; writing `reset_value` (the FADT's RESET_VALUE, given at construction) to the
// reset register calls on_reset. Other sleep states are not supported: such a request is counted
// and ignored, but WAK_STS is still set so that the guest's wait for wake-up ends.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>

#include "devices/bus.h"

namespace tandem {

class AcpiPm : public BusDevice {
 public:
  static constexpr uint64_t kLength = 2;
  static constexpr uint64_t kSleepOffset = 0;
  static constexpr uint64_t kResetOffset = 1;

  static constexpr uint8_t kSlpEn = 0x20;
  static constexpr uint8_t kWakSts = 0x80;
  static constexpr uint8_t kSlpTypS5 = 5;

  // Writing `reset_value` to the reset register resets. Both callbacks run on a vCPU thread with no
  // lock held.
  AcpiPm(uint8_t reset_value, std::function<void()> on_poweroff, std::function<void()> on_reset);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "acpi-pm"; }

  // Writes that did nothing: unsupported sleep states, sleep writes without SLP_EN or WAK_STS,
  // other reset values, unknown offsets or widths.
  uint64_t ignored() const;

 private:
  const uint8_t reset_value_;
  const std::function<void()> on_poweroff_;
  const std::function<void()> on_reset_;
  mutable std::mutex mu_;
  bool wak_sts_ = false;
  uint64_t ignored_ = 0;
};

}  // namespace tandem
