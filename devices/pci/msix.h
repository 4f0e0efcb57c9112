// devices/pci/msix.h: MSI-X for a PCI function: the capability, the vector table, the PBA, and
// the binding of each vector to an eventfd that raises it inside KVM.
//
// MsixTable is the guest-visible state only (message address/data and mask per vector, the enable
// and function-mask bits, pending bits): pure logic, checked against hostile widths and offsets.
// MsixVectors adds what makes interrupts flow: one eventfd and one GSI per vector, routed with
// KVM_SET_GSI_ROUTING and connected with an irqfd while the vector is deliverable. A masked vector
// has its irqfd detached; signals collect in the eventfd and KVM delivers them when the guest
// unmasks, so masking works the same whether tandem or a vhost backend writes the eventfd; the PBA
// shows such a signal as pending.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "devices/pci/pci_config.h"
#include "devices/vm_services.h"

namespace tandem {

constexpr uint16_t kMsixNoVector = 0xffff;

class MsixTable {
 public:
  static constexpr uint16_t kEnable = 1 << 15;
  static constexpr uint16_t kFunctionMask = 1 << 14;
  static constexpr uint32_t kEntrySize = 16;
  static constexpr uint16_t kMaxVectors = 2048;

  explicit MsixTable(uint16_t vectors);

  uint16_t vectors() const { return static_cast<uint16_t>(entries_.size()); }
  uint64_t table_size() const { return entries_.size() * kEntrySize; }
  uint64_t pba_size() const { return (entries_.size() + 63) / 64 * 8; }
  // The capability body after ID and next pointer: message control, table and PBA offset/BIR.
  std::array<uint8_t, 10> capability_body(uint8_t bar, uint32_t table_offset, uint32_t pba_offset) const;

  // Message control as the guest wrote it (only the enable and function-mask bits stick).
  void set_control(uint16_t control);
  bool enabled() const { return enabled_; }
  bool function_masked() const { return function_masked_; }

  // Table accesses (4 or 8 bytes, naturally aligned, inside the table; anything else is ignored
  // on write and reads all-ones). Returns the vector a write changed, or kMsixNoVector.
  void read_table(uint64_t offset, std::span<uint8_t> data) const;
  uint16_t write_table(uint64_t offset, std::span<const uint8_t> data);
  void read_pba(uint64_t offset, std::span<uint8_t> data) const;

  MsiMessage message(uint16_t vector) const;
  bool vector_masked(uint16_t vector) const;
  // Whether an interrupt on `vector` would reach the CPU now.
  bool deliverable(uint16_t vector) const;
  void set_pending(uint16_t vector, bool pending);

 private:
  struct Entry {
    uint32_t addr_lo = 0, addr_hi = 0, data = 0, control = 1;  // masked at reset
  };
  std::vector<Entry> entries_;
  std::vector<uint64_t> pba_;
  bool enabled_ = false;
  bool function_masked_ = false;
};

class MsixVectors {
 public:
  // Creates the table with one eventfd and GSI per vector.
  static Result<std::unique_ptr<MsixVectors>> create(uint16_t vectors, VmServices& vm, const std::string& owner);
  ~MsixVectors();

  MsixTable& table() { return table_; }
  std::mutex& mutex() { return mu_; }

  // A PCI function's shared MSI-X plumbing (each takes mu_ itself):
  // after a config write at [offset, offset+len): if it touched the message control of the MSI-X
  // capability at `cap`, takes the new control from `cfg` and re-applies every vector;
  Status config_written(const PciConfig& cfg, uint32_t cap, uint32_t offset, size_t len);
  // an access at `offset` of the BAR that holds the table at `table` and the PBA at `pba` (PBA
  // after the table; the caller routes only offsets at or above `table` here).
  void bar_read(uint64_t table, uint64_t pba, uint64_t offset, std::span<uint8_t> data);
  Status bar_write(uint64_t table, uint64_t pba, uint64_t offset, std::span<const uint8_t> data);

  // Re-applies routes and irqfds after the guest changed the table or the control (mu_ held).
  Status sync(uint16_t vector);
  Status sync_all();

  // Raises `vector` (any thread). Out of range or kMsixNoVector: nothing.
  void signal(uint16_t vector) const;
  // The eventfd behind `vector` (for vhost backends), or -1.
  int eventfd(uint16_t vector) const;
  // Lets another eventfd raise `vector` instead of its own (vhost-pci: the peer VM's kickfd), with
  // the same masking; -1 goes back to the vector's own eventfd. The fd must stay open until it is
  // replaced. mu_ held.
  Status set_source(uint16_t vector, int fd);

 private:
  MsixVectors(uint16_t vectors, VmServices& vm, std::string owner) : table_(vectors), vm_(vm), owner_(std::move(owner)) {}
  void refresh_pending();  // mu_ held
  struct Line {
    UniqueFd fd;
    int source = -1;  // an outside eventfd raising this vector instead of fd, or -1
    uint32_t gsi = 0;
    bool attached = false;
    bool routed = false;
    MsiMessage routed_msg{};
  };
  MsixTable table_;
  VmServices& vm_;
  std::string owner_;
  std::vector<Line> lines_;
  std::mutex mu_;
};

}  // namespace tandem
