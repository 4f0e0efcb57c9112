// devices/pci/pci_device.h: what a device on tandem's PCI bus offers: its configuration space.
//
// Config accesses arrive as (register offset, bytes) with widths 1, 2 or 4 at natural alignment,
// from the 0xCF8/0xCFC port pair or from ECAM. ConfigSpace is a 4 KiB byte array with per-byte
// write masks, so read-only fields stay read-only whatever the guest writes.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace tandem {

class PciDevice {
 public:
  virtual ~PciDevice() = default;
  virtual void config_read(uint32_t offset, std::span<uint8_t> data) = 0;
  virtual void config_write(uint32_t offset, std::span<const uint8_t> data) = 0;
  virtual std::string name() const = 0;
  // The device has left the bus (hot-unplug, after the guest ejected it): undo everything hanging
  // off it (BAR mappings, doorbells, interrupts, backend threads) so that dropping the last
  // reference frees it. Config accesses no longer reach it.
  virtual void unplug() {}
};

// A configuration space with write masks: bits set in the mask are guest-writable.
class ConfigSpace {
 public:
  static constexpr uint32_t kSize = 4096;
  ConfigSpace() { bytes_.fill(0); masks_.fill(0); }

  void set8(uint32_t off, uint8_t v) { if (off < kSize) bytes_[off] = v; }
  void set16(uint32_t off, uint16_t v) { set8(off, v & 0xff); set8(off + 1, v >> 8); }
  void set32(uint32_t off, uint32_t v) { set16(off, v & 0xffff); set16(off + 2, v >> 16); }
  uint8_t get8(uint32_t off) const { return off < kSize ? bytes_[off] : 0xff; }
  uint16_t get16(uint32_t off) const { return static_cast<uint16_t>(get8(off) | get8(off + 1) << 8); }
  uint32_t get32(uint32_t off) const { return get16(off) | static_cast<uint32_t>(get16(off + 2)) << 16; }
  void set_writable(uint32_t off, uint32_t len, uint8_t mask = 0xff) {
    for (uint32_t i = 0; i < len && off + i < kSize; ++i) masks_[off + i] = mask;
  }

  void read(uint32_t off, std::span<uint8_t> data) const {
    for (size_t i = 0; i < data.size(); ++i) data[i] = get8(off + static_cast<uint32_t>(i));
  }
  void write(uint32_t off, std::span<const uint8_t> data) {
    for (size_t i = 0; i < data.size(); ++i) {
      uint32_t o = off + static_cast<uint32_t>(i);
      if (o >= kSize) return;
      bytes_[o] = static_cast<uint8_t>((bytes_[o] & ~masks_[o]) | (data[i] & masks_[o]));
    }
  }

 private:
  std::array<uint8_t, kSize> bytes_;
  std::array<uint8_t, kSize> masks_;
};

// The host bridge at 00:00.0: class 06/00, nothing writable but the command register.
class PciHostBridge : public PciDevice {
 public:
  PciHostBridge() {
    cfg_.set16(0x00, 0x8086);  // vendor (the generic host bridge ID other small VMMs use too)
    cfg_.set16(0x02, 0x0d57);  // device
    cfg_.set8(0x08, 0);        // revision
    cfg_.set8(0x0a, 0x00);     // subclass: host bridge
    cfg_.set8(0x0b, 0x06);     // class: bridge
    cfg_.set8(0x0e, 0x00);     // header type 0
    cfg_.set_writable(0x04, 2);
  }
  void config_read(uint32_t offset, std::span<uint8_t> data) override { cfg_.read(offset, data); }
  void config_write(uint32_t offset, std::span<const uint8_t> data) override { cfg_.write(offset, data); }
  std::string name() const override { return "pci host bridge"; }

 private:
  ConfigSpace cfg_;
};

}  // namespace tandem
