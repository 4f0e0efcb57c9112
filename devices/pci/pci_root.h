// devices/pci/pci_root.h: PCI segment 0, bus 0, and its two ways in.
//
// PciRoot holds up to 32 devices (function 0 each) by slot; an access to an empty slot or to another
// bus or function reads all-ones. PciConfigIo is the legacy 0xCF8 address / 0xCFC data port pair;
// PciEcam is the memory-mapped configuration space (1 MiB per bus, 4 KiB per function).
#pragma once

#include <array>
#include <memory>
#include <mutex>

#include "base/result.h"
#include "devices/bus.h"
#include "devices/pci/pci_device.h"

namespace tandem {

class PciRoot {
 public:
  // Puts `device` in `slot` (1..31; slot 0 holds the host bridge). Error if taken or out of range.
  Status add(uint8_t slot, std::shared_ptr<PciDevice> device);
  // Takes the device out of `slot` (config reads of the slot see all-ones from now on) and returns
  // it; null if the slot is empty or 0.
  std::shared_ptr<PciDevice> remove(uint8_t slot);
  // The first free slot, or an Error when the bus is full.
  Result<uint8_t> free_slot() const;
  // The device in `slot` of bus 0, or null.
  std::shared_ptr<PciDevice> in_slot(uint8_t slot) const { return slot < 32 ? at(0, slot, 0) : nullptr; }

  void config_read(uint8_t bus, uint8_t dev, uint8_t fn, uint32_t reg, std::span<uint8_t> data);
  void config_write(uint8_t bus, uint8_t dev, uint8_t fn, uint32_t reg, std::span<const uint8_t> data);

  PciRoot();

 private:
  std::shared_ptr<PciDevice> at(uint8_t bus, uint8_t dev, uint8_t fn) const;
  mutable std::mutex mu_;
  std::array<std::shared_ptr<PciDevice>, 32> slots_;
};

// Ports 0xCF8..0xCFF.
class PciConfigIo : public BusDevice {
 public:
  explicit PciConfigIo(std::shared_ptr<PciRoot> root) : root_(std::move(root)) {}
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "pci config io"; }

 private:
  std::shared_ptr<PciRoot> root_;
  std::mutex mu_;
  uint32_t address_ = 0;
};

// ECAM: offset = bus << 20 | dev << 15 | fn << 12 | reg.
class PciEcam : public BusDevice {
 public:
  explicit PciEcam(std::shared_ptr<PciRoot> root) : root_(std::move(root)) {}
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "pci ecam"; }

 private:
  std::shared_ptr<PciRoot> root_;
};

}  // namespace tandem
