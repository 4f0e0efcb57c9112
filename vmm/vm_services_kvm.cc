// vmm/vm_services_kvm.cc: GSI routing, irqfds, ioeventfds and BAR mappings through KVM.
#include "vmm/vm_services_kvm.h"

#include "base/hex.h"

namespace tandem {

namespace {
constexpr uint32_t kMaxGsi = 1024;  // well inside KVM_MAX_IRQ_ROUTES
constexpr uint32_t kFirstDeviceSlot = 64;
constexpr uint32_t kMaxSlot = 500;  // KVM_USER_MEM_SLOTS is 509 on x86
}

KvmVmServices::KvmVmServices(const kvm::Vm& vm, Bus& mmio, std::vector<kvm_irq_routing_entry> base_routes, bool msi_requester_id)
    : vm_(vm), mmio_(mmio), base_(std::move(base_routes)), msi_requester_id_(msi_requester_id) {
  for (const auto& e : base_) next_gsi_ = std::max(next_gsi_, e.gsi + 1);
}

Status KvmVmServices::init() {
  std::lock_guard lock(mu_);
  return commit_locked();
}

Result<uint32_t> KvmVmServices::allocate_gsi() {
  std::lock_guard lock(mu_);
  if (!free_.empty()) {
    uint32_t g = *free_.begin();
    free_.erase(free_.begin());
    return g;
  }
  if (next_gsi_ >= kMaxGsi) return Error{"no free GSI for an MSI vector (" + std::to_string(kMaxGsi) + " in use)"};
  return next_gsi_++;
}

void KvmVmServices::release_gsi(uint32_t gsi) {
  std::lock_guard lock(mu_);
  if (gsi < next_gsi_ && !msi_.count(gsi)) free_.insert(gsi);
}

Status KvmVmServices::commit_locked() {
  std::vector<kvm_irq_routing_entry> all = base_;
  for (const auto& [gsi, msg] : msi_) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.u.msi.address_lo = static_cast<uint32_t>(msg.address);
    e.u.msi.address_hi = static_cast<uint32_t>(msg.address >> 32);
    e.u.msi.data = msg.data;
    if (msi_requester_id_) {
      e.flags = KVM_MSI_VALID_DEVID;
      e.u.msi.devid = msg.requester_id;
    }
    all.push_back(e);
  }
  return vm_.set_gsi_routing(all);
}

Status KvmVmServices::set_msi_route(uint32_t gsi, const MsiMessage& msg) {
  std::lock_guard lock(mu_);
  msi_[gsi] = msg;
  return commit_locked();
}

Status KvmVmServices::remove_route(uint32_t gsi) {
  std::lock_guard lock(mu_);
  if (!msi_.erase(gsi)) return {};
  return commit_locked();
}

Status KvmVmServices::set_irqfd(int fd, uint32_t gsi, bool assign) { return vm_.irqfd(fd, gsi, !assign); }

Status KvmVmServices::set_ioeventfd(int fd, uint64_t addr, bool assign) {
  return with_context(vm_.ioeventfd(fd, addr, 0, false, !assign), "doorbell at " + hex(addr));
}

void KvmVmServices::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

Status KvmVmServices::map_mmio(std::shared_ptr<BusDevice> device, uint64_t addr, uint64_t len) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return {};
  }
  return mmio_.insert(std::move(device), addr, len);
}

Status KvmVmServices::unmap_mmio(uint64_t addr) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return {};
  }
  return mmio_.remove(addr);
}

}  // namespace tandem

namespace tandem {

Result<uint32_t> KvmVmServices::add_memslot(uint64_t gpa, uint64_t size, void* host, bool read_only) {
  std::lock_guard lock(mu_);
  uint32_t slot = kFirstDeviceSlot;
  while (slots_.count(slot)) ++slot;
  if (slot >= kMaxSlot) return Error{"no free KVM memory slot for " + hex(gpa) + "+" + hex(size)};
  TANDEM_TRY(memslots_.run([&] { return vm_.set_user_memory_region(slot, gpa, size, host, read_only ? KVM_MEM_READONLY : 0); }));
  slots_.insert(slot);
  return slot;
}

Status KvmVmServices::remove_memslot(uint32_t slot) {
  std::lock_guard lock(mu_);
  if (!slots_.erase(slot)) return Error{"memory slot " + std::to_string(slot) + " is not in use"};
  return memslots_.run([&] { return vm_.set_user_memory_region(slot, 0, 0, nullptr, 0); });
}

void KvmVmServices::add_fault_repair(const void* owner, std::function<bool()> repair) {
  std::lock_guard lock(repair_mu_);
  repairs_[owner] = std::move(repair);
}

void KvmVmServices::remove_fault_repair(const void* owner) {
  std::lock_guard lock(repair_mu_);
  repairs_.erase(owner);
}

// Every repair runs (two devices may have lost memory at once); under repair_mu_, so that a device
// that removes its repair waits for a repair in progress before it goes.
bool KvmVmServices::repair_memory_fault() {
  std::lock_guard lock(repair_mu_);
  bool any = false;
  for (auto& [owner, repair] : repairs_) any = repair() || any;
  return any;
}

}  // namespace tandem
