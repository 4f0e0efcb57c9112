// devices/pci/pci_config.cc: BAR registers, sizing probes and the capability list.
#include "devices/pci/pci_config.h"

#include <algorithm>

#include "base/le.h"

namespace tandem {

PciConfig::PciConfig(const PciIds& ids) {
  space_.set16(0x00, ids.vendor);
  space_.set16(0x02, ids.device);
  space_.set8(0x08, ids.revision);
  space_.set8(0x09, ids.prog_if);
  space_.set8(0x0a, ids.subclass);
  space_.set8(0x0b, ids.class_code);
  space_.set8(0x0e, 0x00);  // header type 0, single function
  space_.set16(0x2c, ids.subsystem_vendor);
  space_.set16(0x2e, ids.subsystem);
  space_.set16(pci::kCommand, 0);
  space_.set_writable(pci::kCommand, 1, static_cast<uint8_t>(pci::kCommandIo | pci::kCommandMemory | pci::kCommandBusMaster));
  space_.set_writable(pci::kCommand + 1, 1, static_cast<uint8_t>(pci::kCommandIntxDisable >> 8));
  space_.set_writable(0x3c, 1);  // interrupt line: scratch for the OS; pin 0 (no INTx, MSI-X only)
}

Status PciConfig::add_bar(uint8_t index, BarKind kind, uint64_t size, bool prefetchable) {
  bool wide = kind == BarKind::kMem64;
  if (index >= pci::kNumBars || (wide && index + 1 >= pci::kNumBars)) {
    return Error{"BAR " + std::to_string(index) + " is out of range"};
  }
  if (bars_[index].kind != BarKind::kNone || bars_[index].upper_half || (wide && (bars_[index + 1].kind != BarKind::kNone || bars_[index + 1].upper_half))) {
    return Error{"BAR " + std::to_string(index) + " is already in use"};
  }
  uint64_t min = kind == BarKind::kIo ? 4 : 4096;
  if (kind == BarKind::kNone || size < min || (size & (size - 1)) || (kind == BarKind::kMem32 && size > (1ULL << 31)) ||
      (kind == BarKind::kIo && size > 256)) {
    return Error{"BAR " + std::to_string(index) + ": size " + std::to_string(size) + " is not a valid power of two for its kind"};
  }
  bars_[index] = Bar{kind, size, prefetchable && kind != BarKind::kIo, false};
  if (wide) bars_[index + 1] = Bar{BarKind::kNone, 0, false, true};
  regs_[index] = 0;
  if (wide) regs_[index + 1] = 0;
  return {};
}

void PciConfig::set_bar_address(uint8_t index, uint64_t addr) {
  if (index >= pci::kNumBars || bars_[index].kind == BarKind::kNone) return;
  write_bar_register(index, static_cast<uint32_t>(addr));
  if (bars_[index].kind == BarKind::kMem64) write_bar_register(index + 1, static_cast<uint32_t>(addr >> 32));
}

uint32_t PciConfig::bar_register(uint8_t index) const {
  const Bar& b = bars_[index];
  if (b.upper_half) return regs_[index];
  switch (b.kind) {
    case BarKind::kNone: return 0;
    case BarKind::kIo: return (regs_[index] & ~0x3u) | 0x1;
    case BarKind::kMem32: return (regs_[index] & ~0xfu) | (b.prefetchable ? 0x8 : 0);
    case BarKind::kMem64: return (regs_[index] & ~0xfu) | 0x4 | (b.prefetchable ? 0x8 : 0);
  }
  return 0;
}

void PciConfig::write_bar_register(uint8_t index, uint32_t value) {
  const Bar& b = bars_[index];
  if (b.upper_half) {
    uint64_t size = bars_[index - 1].size;
    regs_[index] = value & static_cast<uint32_t>(~(size - 1) >> 32);
    return;
  }
  if (b.kind == BarKind::kNone) return;
  regs_[index] = value & static_cast<uint32_t>(~(b.size - 1));
}

uint64_t PciConfig::bar_address(uint8_t index) const {
  if (index >= pci::kNumBars) return 0;
  const Bar& b = bars_[index];
  switch (b.kind) {
    case BarKind::kNone: return 0;
    case BarKind::kIo: return regs_[index] & ~0x3u;
    case BarKind::kMem32: return regs_[index] & ~0xfu;
    case BarKind::kMem64: return (regs_[index] & ~0xfull) | static_cast<uint64_t>(regs_[index + 1]) << 32;
  }
  return 0;
}

std::optional<uint64_t> PciConfig::active_bar(uint8_t index) const {
  if (index >= pci::kNumBars) return std::nullopt;
  const Bar& b = bars_[index];
  if (b.kind == BarKind::kNone) return std::nullopt;
  uint16_t want = b.kind == BarKind::kIo ? pci::kCommandIo : pci::kCommandMemory;
  if (!(command() & want)) return std::nullopt;
  uint64_t addr = bar_address(index);
  uint64_t limit = b.kind == BarKind::kMem64 ? (1ULL << 48) : b.kind == BarKind::kMem32 ? (1ULL << 32) : 0x10000;
  if (addr == 0 || addr + b.size > limit || addr + b.size < addr) return std::nullopt;
  // The all-ones of a sizing probe that was never restored.
  if (addr == (b.kind == BarKind::kIo ? (0xffffu & ~(b.size - 1)) : b.kind == BarKind::kMem32 ? (0xffffffffull & ~(b.size - 1)) : ~(b.size - 1))) {
    return std::nullopt;
  }
  return addr;
}

Result<uint32_t> PciConfig::add_capability(uint8_t id, std::span<const uint8_t> body) {
  uint32_t len = static_cast<uint32_t>(body.size()) + 2;
  uint32_t at = (next_cap_ + 3) & ~3u;
  if (at + len > 0x100) return Error{"PCI capability area is full (capability " + std::to_string(id) + ")"};
  space_.set8(at, id);
  space_.set8(at + 1, 0);
  for (uint32_t i = 0; i < body.size(); ++i) space_.set8(at + 2 + i, body[i]);
  if (last_cap_ == 0) {
    space_.set8(0x34, static_cast<uint8_t>(at));
    space_.set16(0x06, static_cast<uint16_t>(space_.get16(0x06) | 0x10));  // status: capability list
  } else {
    space_.set8(last_cap_ + 1, static_cast<uint8_t>(at));
  }
  last_cap_ = at;
  next_cap_ = at + len;
  return at;
}

void PciConfig::read(uint32_t off, std::span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) {
    uint32_t o = off + static_cast<uint32_t>(i);
    if (o >= pci::kBar0 && o < pci::kBar0 + 4 * pci::kNumBars) {
      uint8_t index = static_cast<uint8_t>((o - pci::kBar0) / 4);
      data[i] = static_cast<uint8_t>(bar_register(index) >> (8 * ((o - pci::kBar0) % 4)));
    } else {
      data[i] = space_.get8(o);
    }
  }
}

void PciConfig::write(uint32_t off, std::span<const uint8_t> data) {
  uint32_t end = off + static_cast<uint32_t>(data.size());
  if (off < pci::kBar0 + 4 * pci::kNumBars && end > pci::kBar0) {
    // Merge the written bytes into each touched BAR register, then apply its size mask.
    for (uint8_t index = 0; index < pci::kNumBars; ++index) {
      uint32_t reg = pci::kBar0 + 4u * index;
      if (end <= reg || off >= reg + 4) continue;
      uint32_t v = regs_[index];
      for (uint32_t o = std::max(off, reg); o < std::min(end, reg + 4); ++o) {
        uint32_t shift = 8 * (o - reg);
        v = (v & ~(0xffu << shift)) | static_cast<uint32_t>(data[o - off]) << shift;
      }
      write_bar_register(index, v);
    }
  }
  for (size_t i = 0; i < data.size(); ++i) {
    uint32_t o = off + static_cast<uint32_t>(i);
    if (o >= pci::kBar0 && o < pci::kBar0 + 4 * pci::kNumBars) continue;
    space_.write(o, data.subspan(i, 1));
  }
}

}  // namespace tandem
