// devices/pci/pci_function.cc: config writes, MSI-X routing and BAR moves for every PCI endpoint.
#include "devices/pci/pci_function.h"

#include <cstdio>

#include "base/hex.h"
#include "base/log.h"

namespace tandem {

PciFunction::PciFunction(const PciIds& ids, VmServices& vm, std::string owner) : vm_(vm), owner_(std::move(owner)), cfg_(ids) {}

Status PciFunction::add_bar(uint8_t index, BarKind kind, uint64_t size, uint64_t address, bool prefetchable) {
  TANDEM_TRY(with_context(cfg_.add_bar(index, kind, size, prefetchable), owner_));
  cfg_.set_bar_address(index, address);
  return {};
}

void PciFunction::serve_bar(uint8_t index, std::weak_ptr<BusDevice> device) {
  if (index < pci::kNumBars) servers_[index] = std::move(device);
}

Status PciFunction::add_msix(uint16_t vectors, uint8_t bar, uint32_t table, uint32_t pba) {
  if (msix_) return Error{owner_ + ": MSI-X is set up already"};
  auto msix = MsixVectors::create(vectors, vm_, owner_);
  if (!msix) return msix.error();
  if (pba < table + msix.value()->table().table_size() || pba + msix.value()->table().pba_size() > cfg_.bar_size(bar)) {
    return Error{owner_ + ": the MSI-X table and PBA do not fit BAR " + std::to_string(bar)};
  }
  auto cap = add_capability(pci::kCapMsix, msix.value()->table().capability_body(bar, table, pba));
  if (!cap) return cap.error();
  msix_ = std::move(msix).value();
  msix_cap_ = *cap;
  msix_table_ = table;
  msix_pba_ = pba;
  cfg_.set_writable(msix_cap_ + 3, 1, 0xc0);  // message control: enable and function mask
  return {};
}

Result<uint32_t> PciFunction::add_capability(uint8_t id, std::span<const uint8_t> body) {
  return with_context(cfg_.add_capability(id, body), owner_);
}

void PciFunction::config_write(uint32_t offset, std::span<const uint8_t> data) {
  cfg_.write(offset, data);
  if (msix_) {
    if (auto s = msix_->config_written(cfg_, msix_cap_, offset, data.size()); !s) log(s.message());
  }
  update_bars();
}

bool PciFunction::msix_read(uint64_t offset, std::span<uint8_t> data) {
  if (!msix_ || offset < msix_table_) return false;
  msix_->bar_read(msix_table_, msix_pba_, offset, data);
  return true;
}

bool PciFunction::msix_write(uint64_t offset, std::span<const uint8_t> data) {
  if (!msix_ || offset < msix_table_) return false;
  if (auto s = msix_->bar_write(msix_table_, msix_pba_, offset, data); !s) log(s.message());
  return true;
}

void PciFunction::disable() {
  cfg_.space().set16(pci::kCommand, 0);
  update_bars();
}

void PciFunction::update_bars() {
  for (uint8_t i = 0; i < pci::kNumBars; ++i) {
    if (cfg_.bar_kind(i) == BarKind::kNone) continue;  // unused, or the upper half of a 64-bit BAR
    auto now = cfg_.active_bar(i);
    if (now != mapped_[i]) move_bar(i, now);
  }
}

void PciFunction::move_bar(uint8_t index, std::optional<uint64_t> now) {
  const auto old = mapped_[index];
  auto server = cfg_.bar_kind(index) == BarKind::kIo ? nullptr : servers_[index].lock();  // MMIO only
  if (old && server) {
    if (auto s = vm_.unmap_mmio(*old); !s) log(s.message());
  }
  mapped_[index].reset();
  if (now && server) {
    if (auto s = vm_.map_mmio(server, *now, cfg_.bar_size(index)); !s) {
      log("BAR " + std::to_string(index) + " at " + hex(*now) + " stays unmapped: " + s.message());
      now.reset();
    }
  }
  mapped_[index] = now;
  if (bar_moved_ && old != now) bar_moved_(index, old, now);
}

void PciFunction::log(const std::string& what) const { log_line(owner_, what); }

}  // namespace tandem
