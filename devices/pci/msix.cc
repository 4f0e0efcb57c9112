// devices/pci/msix.cc: MSI-X table, PBA and per-vector eventfd/GSI binding.
#include "devices/pci/msix.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "base/eventfd.h"
#include "base/le.h"

namespace tandem {

MsixTable::MsixTable(uint16_t vectors)
    : entries_(std::min<uint16_t>(std::max<uint16_t>(vectors, 1), kMaxVectors)), pba_((entries_.size() + 63) / 64, 0) {}

std::array<uint8_t, 10> MsixTable::capability_body(uint8_t bar, uint32_t table_offset, uint32_t pba_offset) const {
  std::array<uint8_t, 10> b{};
  store_le<uint16_t>(b, 0, static_cast<uint16_t>(entries_.size() - 1));
  store_le<uint32_t>(b, 2, (table_offset & ~7u) | (bar & 7u));
  store_le<uint32_t>(b, 6, (pba_offset & ~7u) | (bar & 7u));
  return b;
}

void MsixTable::set_control(uint16_t control) {
  enabled_ = control & kEnable;
  function_masked_ = control & kFunctionMask;
}

void MsixTable::read_table(uint64_t offset, std::span<uint8_t> data) const {
  if ((data.size() != 4 && data.size() != 8) || offset % data.size() || offset >= table_size() ||
      table_size() - offset < data.size()) {
    std::memset(data.data(), 0xff, data.size());
    return;
  }
  for (size_t done = 0; done < data.size(); done += 4) {
    uint64_t o = offset + done;
    const Entry& e = entries_[o / kEntrySize];
    uint32_t v = 0;
    switch (o % kEntrySize) {
      case 0: v = e.addr_lo; break;
      case 4: v = e.addr_hi; break;
      case 8: v = e.data; break;
      case 12: v = e.control; break;
    }
    store_le<uint32_t>(data, done, v);
  }
}

uint16_t MsixTable::write_table(uint64_t offset, std::span<const uint8_t> data) {
  if ((data.size() != 4 && data.size() != 8) || offset % data.size() || offset >= table_size() ||
      table_size() - offset < data.size()) {
    return kMsixNoVector;
  }
  uint16_t vector = static_cast<uint16_t>(offset / kEntrySize);
  for (size_t done = 0; done < data.size(); done += 4) {
    uint64_t o = offset + done;
    Entry& e = entries_[o / kEntrySize];
    uint32_t v = *load_le<uint32_t>(data, done);
    switch (o % kEntrySize) {
      case 0: e.addr_lo = v & ~3u; break;
      case 4: e.addr_hi = v; break;
      case 8: e.data = v; break;
      case 12: e.control = v & 1; break;  // only the mask bit is defined
    }
  }
  return vector;
}

void MsixTable::read_pba(uint64_t offset, std::span<uint8_t> data) const {
  if ((data.size() != 4 && data.size() != 8) || offset % data.size() || offset >= pba_size() || pba_size() - offset < data.size()) {
    std::memset(data.data(), 0xff, data.size());
    return;
  }
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t byte = offset + i;
    data[i] = static_cast<uint8_t>(pba_[byte / 8] >> (8 * (byte % 8)));
  }
}

MsiMessage MsixTable::message(uint16_t vector) const {
  if (vector >= entries_.size()) return {};
  const Entry& e = entries_[vector];
  return MsiMessage{static_cast<uint64_t>(e.addr_hi) << 32 | e.addr_lo, e.data};
}

bool MsixTable::vector_masked(uint16_t vector) const { return vector >= entries_.size() || (entries_[vector].control & 1); }

bool MsixTable::deliverable(uint16_t vector) const { return enabled_ && !function_masked_ && !vector_masked(vector); }

void MsixTable::set_pending(uint16_t vector, bool pending) {
  if (vector >= entries_.size()) return;
  uint64_t bit = 1ULL << (vector % 64);
  pba_[vector / 64] = pending ? (pba_[vector / 64] | bit) : (pba_[vector / 64] & ~bit);
}

Result<std::unique_ptr<MsixVectors>> MsixVectors::create(uint16_t vectors, VmServices& vm, const std::string& owner) {
  std::unique_ptr<MsixVectors> v(new MsixVectors(vectors, vm, owner));
  v->lines_.resize(v->table_.vectors());
  for (auto& line : v->lines_) {
    line.fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!line.fd) return errno_error(owner + ": eventfd for an MSI-X vector");
    auto gsi = vm.allocate_gsi();
    if (!gsi) return Error{owner + ": " + gsi.message()};
    line.gsi = *gsi;
  }
  return v;
}

MsixVectors::~MsixVectors() {
  for (auto& line : lines_) {
    if (line.attached) (void)vm_.set_irqfd(line.source >= 0 ? line.source : line.fd.get(), line.gsi, false);
    if (line.routed) (void)vm_.remove_route(line.gsi);
    if (line.fd) vm_.release_gsi(line.gsi);
  }
}

Status MsixVectors::sync(uint16_t vector) {
  if (vector >= lines_.size()) return {};
  Line& line = lines_[vector];
  bool want = table_.deliverable(vector);
  MsiMessage msg = table_.message(vector);
  if (want && (!line.routed || msg.address != line.routed_msg.address || msg.data != line.routed_msg.data)) {
    if (auto s = vm_.set_msi_route(line.gsi, msg); !s) return Error{owner_ + ": MSI-X vector " + std::to_string(vector) + ": " + s.message()};
    line.routed = true;
    line.routed_msg = msg;
  }
  if (want != line.attached) {
    // Attaching an irqfd delivers what collected in the eventfd while the vector was masked.
    if (auto s = vm_.set_irqfd(line.source >= 0 ? line.source : line.fd.get(), line.gsi, want); !s) {
      return Error{owner_ + ": MSI-X vector " + std::to_string(vector) + ": " + s.message()};
    }
    line.attached = want;
  }
  table_.set_pending(vector, false);
  return {};
}

Status MsixVectors::sync_all() {
  for (uint16_t v = 0; v < lines_.size(); ++v) TANDEM_TRY(sync(v));
  return {};
}

void MsixVectors::signal(uint16_t vector) const {
  if (vector >= lines_.size()) return;
  signal_eventfd(lines_[vector].fd.get());
}

Status MsixVectors::config_written(const PciConfig& cfg, uint32_t cap, uint32_t offset, size_t len) {
  if (offset >= cap + 4 || offset + len <= cap + 2) return {};
  std::lock_guard lock(mu_);
  table_.set_control(cfg.space().get16(cap + 2));
  return sync_all();
}

void MsixVectors::bar_read(uint64_t table, uint64_t pba, uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset < pba) return table_.read_table(offset - table, data);
  refresh_pending();
  table_.read_pba(offset - pba, data);
}

// PCI 3.0 §6.8.2.10: a vector that would have fired while masked has its pending bit set. Such
// signals collect in the vector's eventfd (or the outside source raising it) while no irqfd is
// attached; poll() sees them without taking them, and the irqfd delivers them on unmask.
void MsixVectors::refresh_pending() {
  for (uint16_t v = 0; v < lines_.size(); ++v) {
    const Line& line = lines_[v];
    bool pending = false;
    if (!line.attached) {
      pollfd p{line.source >= 0 ? line.source : line.fd.get(), POLLIN, 0};
      pending = ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
    }
    table_.set_pending(v, pending);
  }
}

Status MsixVectors::bar_write(uint64_t table, uint64_t pba, uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= pba) return {};  // the PBA is read-only
  std::lock_guard lock(mu_);
  uint16_t v = table_.write_table(offset - table, data);
  return v == kMsixNoVector ? Status{} : sync(v);
}

Status MsixVectors::set_source(uint16_t vector, int fd) {
  if (vector >= lines_.size()) return Error{owner_ + ": MSI-X vector " + std::to_string(vector) + " does not exist"};
  Line& line = lines_[vector];
  if (line.attached) {
    (void)vm_.set_irqfd(line.source >= 0 ? line.source : line.fd.get(), line.gsi, false);
    line.attached = false;
  }
  line.source = fd;
  return sync(vector);
}

int MsixVectors::eventfd(uint16_t vector) const { return vector < lines_.size() ? lines_[vector].fd.get() : -1; }

}  // namespace tandem
