// devices/pci/pci_config.h: a type-0 PCI configuration header with BARs and a capability list.
//
// What an endpoint's config space needs beyond raw bytes: identity, the command register, BAR
// registers that answer a sizing probe with their size and keep their type bits, and a linked
// capability list. The device decides what moves: after a write it asks active_bar() where each
// BAR decodes now and (un)maps whatever hangs off it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "base/result.h"
#include "devices/pci/pci_device.h"

namespace tandem {

enum class BarKind { kNone, kMem32, kMem64, kIo };

struct PciIds {
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint8_t revision = 0;
  uint8_t prog_if = 0;
  uint8_t subclass = 0;
  uint8_t class_code = 0;
  uint16_t subsystem_vendor = 0;
  uint16_t subsystem = 0;
};

namespace pci {
constexpr uint16_t kCommandIo = 1 << 0;
constexpr uint16_t kCommandMemory = 1 << 1;
constexpr uint16_t kCommandBusMaster = 1 << 2;
constexpr uint16_t kCommandIntxDisable = 1 << 10;
constexpr uint32_t kCommand = 0x04;
constexpr uint32_t kBar0 = 0x10;
constexpr uint8_t kNumBars = 6;
constexpr uint8_t kCapVendor = 0x09;
constexpr uint8_t kCapMsix = 0x11;
}  // namespace pci

class PciConfig {
 public:
  explicit PciConfig(const PciIds& ids);

  // Declares BAR `index` (a 64-bit BAR also takes index+1). Size: a power of two, at least 4 KiB
  // for memory and 4 bytes for I/O. Error for a bad index, size or overlap with another BAR.
  Status add_bar(uint8_t index, BarKind kind, uint64_t size, bool prefetchable = false);
  // Programs a BAR's address as firmware would (the guest may move it later).
  void set_bar_address(uint8_t index, uint64_t addr);
  // Appends a capability: `body` is everything after the ID and next-pointer bytes. Returns its
  // offset. Error when the 192 bytes of the standard capability area are full.
  Result<uint32_t> add_capability(uint8_t id, std::span<const uint8_t> body);
  // Lets the guest write these bits (for capability fields such as MSI-X message control).
  void set_writable(uint32_t off, uint32_t len, uint8_t mask = 0xff) { space_.set_writable(off, len, mask); }

  void read(uint32_t off, std::span<uint8_t> data) const;
  void write(uint32_t off, std::span<const uint8_t> data);

  // Where the BAR decodes right now: nullopt while decoding is off in the command register or the
  // BAR holds no usable address (zero, or the all-ones of a sizing probe).
  std::optional<uint64_t> active_bar(uint8_t index) const;
  uint64_t bar_address(uint8_t index) const;
  uint64_t bar_size(uint8_t index) const { return index < pci::kNumBars ? bars_[index].size : 0; }
  BarKind bar_kind(uint8_t index) const { return index < pci::kNumBars ? bars_[index].kind : BarKind::kNone; }
  uint16_t command() const { return space_.get16(pci::kCommand); }
  ConfigSpace& space() { return space_; }
  const ConfigSpace& space() const { return space_; }

 private:
  struct Bar {
    BarKind kind = BarKind::kNone;
    uint64_t size = 0;
    bool prefetchable = false;
    bool upper_half = false;  // the high dword of the 64-bit BAR below
  };
  uint32_t bar_register(uint8_t index) const;
  void write_bar_register(uint8_t index, uint32_t value);

  ConfigSpace space_;
  std::array<Bar, pci::kNumBars> bars_{};
  std::array<uint32_t, pci::kNumBars> regs_{};
  uint32_t last_cap_ = 0;
  uint32_t next_cap_ = 0x40;
};

}  // namespace tandem
