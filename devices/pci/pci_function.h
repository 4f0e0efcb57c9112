// devices/pci/pci_function.h: the plumbing every PCI endpoint of tandem shares, in one place.
//
// A PciFunction owns a function's configuration header (PciConfig), its MSI-X vectors with the
// capability that points at them, and the memory BARs served by a BusDevice. After every config
// write it applies the MSI-X message control and, when a BAR's decoding moved (the guest moved it,
// or turned memory decoding on or off), unmaps the BAR's MMIO at the old address, maps it at the
// new one through VmServices and calls the device's one hook, `bar_moved`, so the device moves
// what hangs off the BAR (doorbell ioeventfds, memslots). The device keeps only its own logic:
// its registers and its hook. Not thread-safe by itself: the device calls it under its own lock.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "base/result.h"
#include "devices/bus.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_config.h"
#include "devices/vm_services.h"

namespace tandem {

class PciFunction {
 public:
  // `old_addr` is where the BAR decoded until now, `new_addr` where it decodes from now on; either
  // is nullopt for "nowhere". The BAR's MMIO (if it has a BusDevice) has moved already.
  using BarMoved = std::function<void(uint8_t bar, std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr)>;

  PciFunction(const PciIds& ids, VmServices& vm, std::string owner);
  PciFunction(const PciFunction&) = delete;
  PciFunction& operator=(const PciFunction&) = delete;

  // ---- Set-up, before the function is on the bus -----------------------------------------------
  // Declares a BAR at the address firmware would give it (the guest may move it).
  Status add_bar(uint8_t index, BarKind kind, uint64_t size, uint64_t address, bool prefetchable = false);
  // The MMIO handler for a memory BAR: mapped wherever the BAR decodes. Held weakly (the device
  // that owns this function is usually its own handler).
  void serve_bar(uint8_t index, std::weak_ptr<BusDevice> device);
  // MSI-X with `vectors` vectors, the table at `table` and the PBA at `pba` of BAR `bar` (PBA after
  // the table, both up to the end of the BAR's register space).
  Status add_msix(uint16_t vectors, uint8_t bar, uint32_t table, uint32_t pba);
  Result<uint32_t> add_capability(uint8_t id, std::span<const uint8_t> body);
  void on_bar_moved(BarMoved hook) { bar_moved_ = std::move(hook); }

  // ---- Running ---------------------------------------------------------------------------------
  void config_read(uint32_t offset, std::span<uint8_t> data) const { cfg_.read(offset, data); }
  void config_write(uint32_t offset, std::span<const uint8_t> data);
  // An access at `offset` of the MSI-X BAR: true when it fell in the table or PBA and was served.
  bool msix_read(uint64_t offset, std::span<uint8_t> data);
  bool msix_write(uint64_t offset, std::span<const uint8_t> data);
  // Memory decoding off for good (unplug) or until the guest turns it on again (park): every BAR
  // leaves the guest's address space and the hook hears of each.
  void disable();

  // Where BAR `index` is mapped now (nullopt: nowhere).
  std::optional<uint64_t> bar(uint8_t index) const { return index < pci::kNumBars ? mapped_[index] : std::nullopt; }
  MsixVectors& msix() { return *msix_; }
  PciConfig& config() { return cfg_; }
  const std::string& owner() const { return owner_; }

 private:
  void update_bars();
  void move_bar(uint8_t index, std::optional<uint64_t> now);
  void log(const std::string& what) const;

  VmServices& vm_;
  std::string owner_;
  PciConfig cfg_;
  std::unique_ptr<MsixVectors> msix_;
  uint32_t msix_cap_ = 0;
  uint64_t msix_table_ = 0, msix_pba_ = 0;
  std::array<std::weak_ptr<BusDevice>, pci::kNumBars> servers_{};
  std::array<std::optional<uint64_t>, pci::kNumBars> mapped_{};
  BarMoved bar_moved_;
};

}  // namespace tandem
