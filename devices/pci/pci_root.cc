// devices/pci/pci_root.cc: bus 0 and its config access paths (0xCF8/0xCFC and ECAM).
#include "devices/pci/pci_root.h"

#include <cstring>
#include <utility>

#include "base/le.h"

namespace tandem {

namespace {
bool natural(uint32_t reg, size_t len) { return (len == 1 || len == 2 || len == 4) && reg % len == 0; }
}  // namespace

PciRoot::PciRoot() { slots_[0] = std::make_shared<PciHostBridge>(); }

Status PciRoot::add(uint8_t slot, std::shared_ptr<PciDevice> device) {
  std::lock_guard lock(mu_);
  if (slot == 0 || slot >= slots_.size()) return Error{"PCI slot " + std::to_string(slot) + " is out of range (1..31)"};
  if (slots_[slot]) return Error{"PCI slot " + std::to_string(slot) + " is taken by " + slots_[slot]->name()};
  slots_[slot] = std::move(device);
  return {};
}

std::shared_ptr<PciDevice> PciRoot::remove(uint8_t slot) {
  std::lock_guard lock(mu_);
  if (slot == 0 || slot >= slots_.size()) return nullptr;
  return std::exchange(slots_[slot], nullptr);
}

Result<uint8_t> PciRoot::free_slot() const {
  std::lock_guard lock(mu_);
  for (uint8_t s = 1; s < slots_.size(); ++s) {
    if (!slots_[s]) return s;
  }
  return Error{"PCI bus 0 is full (31 devices)"};
}

std::shared_ptr<PciDevice> PciRoot::at(uint8_t bus, uint8_t dev, uint8_t fn) const {
  if (bus != 0 || fn != 0 || dev >= slots_.size()) return nullptr;
  std::lock_guard lock(mu_);
  return slots_[dev];
}

void PciRoot::config_read(uint8_t bus, uint8_t dev, uint8_t fn, uint32_t reg, std::span<uint8_t> data) {
  auto d = at(bus, dev, fn);
  if (!d || reg >= ConfigSpace::kSize || !natural(reg, data.size())) {
    std::memset(data.data(), 0xff, data.size());
    return;
  }
  d->config_read(reg, data);
}

void PciRoot::config_write(uint8_t bus, uint8_t dev, uint8_t fn, uint32_t reg, std::span<const uint8_t> data) {
  auto d = at(bus, dev, fn);
  if (!d || reg >= ConfigSpace::kSize || !natural(reg, data.size())) return;
  d->config_write(reg, data);
}

// 0xCF8: CONFIG_ADDRESS (enable bit 31, bus 23:16, device 15:11, function 10:8, register 7:2);
// 0xCFC..0xCFF: CONFIG_DATA, any byte lane.
void PciConfigIo::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset == 0 && data.size() == 4) {
    u64_to_le(address_, data);
    return;
  }
  if (offset >= 4 && offset + data.size() <= 8 && (address_ & 0x80000000u)) {
    uint32_t reg = (address_ & 0xfc) | static_cast<uint32_t>(offset - 4);
    root_->config_read((address_ >> 16) & 0xff, (address_ >> 11) & 0x1f, (address_ >> 8) & 0x7, reg, data);
    return;
  }
  std::memset(data.data(), 0xff, data.size());
}

void PciConfigIo::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset == 0 && data.size() == 4) {
    address_ = static_cast<uint32_t>(le_to_u64(data)) & 0x80fffffcu;
    return;
  }
  if (offset >= 4 && offset + data.size() <= 8 && (address_ & 0x80000000u)) {
    uint32_t reg = (address_ & 0xfc) | static_cast<uint32_t>(offset - 4);
    root_->config_write((address_ >> 16) & 0xff, (address_ >> 11) & 0x1f, (address_ >> 8) & 0x7, reg, data);
  }
}

void PciEcam::read(uint64_t offset, std::span<uint8_t> data) {
  root_->config_read((offset >> 20) & 0xff, (offset >> 15) & 0x1f, (offset >> 12) & 0x7, offset & 0xfff, data);
}

void PciEcam::write(uint64_t offset, std::span<const uint8_t> data) {
  root_->config_write((offset >> 20) & 0xff, (offset >> 15) & 0x1f, (offset >> 12) & 0x7, offset & 0xfff, data);
}

}  // namespace tandem
