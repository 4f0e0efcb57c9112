// devices/pci/hotplug.cc: PCIU/PCID/B0EJ/GSEL, the registers behind ACPI PCI hotplug.
#include "devices/pci/hotplug.h"

#include <cstring>

#include "base/le.h"

namespace tandem {

PciHotplug::PciHotplug(std::function<void()> raise, std::function<void(uint8_t)> on_eject)
    : raise_(std::move(raise)), on_eject_(std::move(on_eject)) {}

void PciHotplug::press_power_button() {
  {
    std::lock_guard lock(mu_);
    events_ |= kEventPowerButton;
  }
  raise_();
}

void PciHotplug::request(uint32_t PciHotplug::*set, uint32_t PciHotplug::*cancel, uint8_t slot) {
  if (slot == 0 || slot >= 32) return;
  {
    std::lock_guard lock(mu_);
    this->*set |= 1u << slot;
    this->*cancel &= ~(1u << slot);  // a scan and an eject of one slot cancel each other
    events_ |= kEventPci;
  }
  raise_();
}

void PciHotplug::request_scan(uint8_t slot) { request(&PciHotplug::up_, &PciHotplug::down_, slot); }
void PciHotplug::request_eject(uint8_t slot) { request(&PciHotplug::down_, &PciHotplug::up_, slot); }

void PciHotplug::read(uint64_t offset, std::span<uint8_t> data) {
  std::memset(data.data(), 0, data.size());
  std::lock_guard lock(mu_);
  if (data.size() != 4 || offset % 4 || offset >= kPorts) {
    ++ignored_;
    return;
  }
  uint32_t* reg = offset == kPciUp ? &up_ : offset == kPciDown ? &down_ : offset == kEventSelect ? &events_ : nullptr;
  if (!reg) return;  // B0EJ reads 0
  u64_to_le(*reg, data);
  *reg = 0;
}

void PciHotplug::write(uint64_t offset, std::span<const uint8_t> data) {
  uint32_t eject = 0;
  {
    std::lock_guard lock(mu_);
    if (data.size() != 4 || offset != kEject) {
      ++ignored_;
      return;
    }
    eject = static_cast<uint32_t>(le_to_u64(data)) & ~1u;  // slot 0 is the host bridge
  }
  for (uint8_t slot = 1; slot < 32; ++slot) {
    if (eject & (1u << slot)) on_eject_(slot);
  }
}

uint64_t PciHotplug::ignored() const {
  std::lock_guard lock(mu_);
  return ignored_;
}

}  // namespace tandem
