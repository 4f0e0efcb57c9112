// devices/pci/hotplug.h: the ACPI hotplug registers of bus 0, and the event selector of the
// Generic Event Device (docs/hotplug.md).
//
// Sixteen ports where the machine places them (x86_64: 0x600), four 32-bit registers, read by the
// DSDT's AML:
//   +0x0 PCIU  (read, cleared by the read)  bit n: slot n was filled, the guest should scan it
//   +0x4 PCID  (read, cleared by the read)  bit n: tandem asks the guest to eject slot n
//   +0x8 B0EJ  (write; reads 0)             bit n: the guest let go of slot n, tandem may free it
//   +0xC GSEL  (read, cleared by the read)  why the GED interrupt fired: 1 power button, 2 PCI slots
// One edge on the GED's interrupt covers any number of pending events: the bits stay set until the
// guest's _EVT reads them. Other widths and offsets are ignored (counted) and read as zero.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>

#include "devices/bus.h"

namespace tandem {

class PciHotplug : public BusDevice {
 public:
  static constexpr uint64_t kPorts = 16;
  static constexpr uint64_t kPciUp = 0x0, kPciDown = 0x4, kEject = 0x8, kEventSelect = 0xc;
  static constexpr uint32_t kEventPowerButton = 1, kEventPci = 2;

  // `raise` pulses the GED interrupt (any thread). `on_eject(slot)` runs on the vCPU thread that
  // wrote B0EJ, once per slot bit, with no lock held.
  PciHotplug(std::function<void()> raise, std::function<void(uint8_t slot)> on_eject);

  // Each sets its bits and raises the interrupt.
  void press_power_button();
  void request_scan(uint8_t slot);   // a device now sits in `slot`
  void request_eject(uint8_t slot);  // ask the guest to let go of `slot`

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "pci-hotplug"; }

  uint64_t ignored() const;

 private:
  // Sets `slot`'s bit in *set, clears it in *cancel, flags a PCI event and raises the interrupt.
  void request(uint32_t PciHotplug::*set, uint32_t PciHotplug::*cancel, uint8_t slot);

  const std::function<void()> raise_;
  const std::function<void(uint8_t)> on_eject_;
  mutable std::mutex mu_;
  uint32_t up_ = 0, down_ = 0, events_ = 0;
  uint64_t ignored_ = 0;
};

}  // namespace tandem
