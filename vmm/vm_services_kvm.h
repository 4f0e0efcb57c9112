// vmm/vm_services_kvm.h: VmServices on KVM: GSI routing (the platform's wired routes plus one MSI route
// per device vector), irqfds, ioeventfds, the MMIO bus, and memory slots (changed on the memslot
// thread, vmm/memslot_thread.h, whichever thread asks).
#pragma once

#include <linux/kvm.h>

#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "devices/bus.h"
#include "devices/vm_services.h"
#include "vmm/kvm/kvm.h"
#include "vmm/memslot_thread.h"

namespace tandem {

class KvmVmServices : public VmServices {
 public:
  // `base_routes` (the platform's wired interrupt routes) stay in every routing table; MSI GSIs
  // start above them. `msi_requester_id`: MSI routes carry the sender's requester ID
  // (KVM_MSI_VALID_DEVID, for arm64's ITS).
  KvmVmServices(const kvm::Vm& vm, Bus& mmio, std::vector<kvm_irq_routing_entry> base_routes, bool msi_requester_id = false);
  // Installs the base routes.
  Status init();
  // The VM is going away: later MMIO (un)mappings are no-ops, so devices dropped while the buses
  // themselves are destroyed never touch them.
  void close();

  Result<uint32_t> allocate_gsi() override;
  void release_gsi(uint32_t gsi) override;
  Status set_msi_route(uint32_t gsi, const MsiMessage& msg) override;
  Status remove_route(uint32_t gsi) override;
  Status set_irqfd(int fd, uint32_t gsi, bool assign) override;
  Status set_ioeventfd(int fd, uint64_t addr, bool assign) override;
  Status map_mmio(std::shared_ptr<BusDevice> device, uint64_t addr, uint64_t len) override;
  Status unmap_mmio(uint64_t addr) override;
  Result<uint32_t> add_memslot(uint64_t gpa, uint64_t size, void* host, bool read_only) override;
  Status remove_memslot(uint32_t slot) override;
  void add_fault_repair(const void* owner, std::function<bool()> repair) override;
  void remove_fault_repair(const void* owner) override;
  // A vCPU's KVM_RUN failed with EFAULT: runs every registered repair; true when one put memory back.
  bool repair_memory_fault();

 private:
  Status commit_locked();

  const kvm::Vm& vm_;
  Bus& mmio_;
  std::vector<kvm_irq_routing_entry> base_;
  bool msi_requester_id_;
  std::mutex mu_;
  std::map<uint32_t, MsiMessage> msi_;
  std::set<uint32_t> free_;
  uint32_t next_gsi_ = 24;
  std::set<uint32_t> slots_;
  bool closed_ = false;  // device memslots in use (guest RAM uses slots below kFirstDeviceSlot)
  std::mutex repair_mu_;  // not mu_: a repair takes its device's lock, which holds mu_ to add memslots
  std::map<const void*, std::function<bool()>> repairs_;
  MemslotThread memslots_;  // last: started once the rest is in place
};

}  // namespace tandem
