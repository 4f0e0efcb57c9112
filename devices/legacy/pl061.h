// devices/legacy/pl061.h: an ARM PrimeCell PL061 GPIO controller (8 lines), as a power button.
//
// A machine without ACPI (tandem on aarch64) has no ACPI power button; like QEMU's `virt` it wires
// a PL061 input line to a "gpio-keys" node in the device tree whose key is KEY_POWER, and the
// guest's input layer (busybox acpid in tandem's guest image) powers off. The registers follow the
// PL061 TRM (ARM DDI 0190): masked data at 0x000-0x3FC, direction, interrupt sense / both-edges /
// event, mask, raw and masked status, clear, the mode select, and the PrimeCell ID registers the
// guest's AMBA bus probes. Input lines are set by the VMM (set_input); an edge or level
// the guest enabled raises the interrupt through `raise` (an irqfd pulse: the device tree makes it
// edge-triggered). Every access is bounds-checked: unknown offsets read 0 and ignore writes.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>

#include "devices/bus.h"

namespace tandem {

class Pl061 : public BusDevice {
 public:
  static constexpr uint64_t kSize = 0x1000;
  static constexpr uint32_t kLines = 8;
  // Register offsets.
  static constexpr uint64_t kData = 0x000, kDataEnd = 0x400, kDir = 0x400, kIs = 0x404, kIbe = 0x408, kIev = 0x40c,
                            kIe = 0x410, kRis = 0x414, kMis = 0x418, kIc = 0x41c, kAfsel = 0x420, kIdBase = 0xfe0;

  // `raise` runs with no lock held, on the thread that changed a line or the guest's vCPU.
  explicit Pl061(std::function<void()> raise);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "pl061"; }

  // Drives input line `line` (0-7) to `level`; an edge or level the guest enabled interrupts it.
  // A button is a press (high) and, some time later, a release (low): the guest's gpio-keys reads
  // the line after its debounce delay, so a press must stay high for longer than that.
  void set_input(uint32_t line, bool level);

  uint8_t raw_status() const;

 private:
  uint32_t reg_read(uint64_t offset);
  // Latches edges/levels after the input changed from `old` (mu_ held); true when a newly enabled
  // interrupt is pending.
  bool update_locked(uint8_t old);

  std::function<void()> raise_;
  mutable std::mutex mu_;
  uint8_t in_ = 0;     // levels driven by the VMM
  uint8_t out_ = 0;    // levels the guest drives on output lines
  uint8_t dir_ = 0, is_ = 0, ibe_ = 0, iev_ = 0, ie_ = 0, afsel_ = 0;
  uint8_t ris_ = 0;    // latched edges and current levels
};

}  // namespace tandem
