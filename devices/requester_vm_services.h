// devices/requester_vm_services.h: one PCI function's view of VmServices, which stamps the
// function's requester ID (bus/device/function) into every MSI route it sets.
//
// On arm64 the ITS translates an MSI by the ID of the device that sent it (KVM's
// KVM_MSI_VALID_DEVID); the device models do not know their slot, so the device manager hands each
// one this view and sets the ID when it plugs the device into a slot. Everything else passes
// through unchanged.
#pragma once

#include <atomic>
#include <memory>

#include "devices/vm_services.h"

namespace tandem {

class RequesterVmServices : public VmServices {
 public:
  explicit RequesterVmServices(std::shared_ptr<VmServices> vm) : vm_(std::move(vm)) {}

  void set_requester_id(uint16_t rid) { rid_.store(rid); }
  uint16_t requester_id() const { return rid_.load(); }

  Result<uint32_t> allocate_gsi() override { return vm_->allocate_gsi(); }
  void release_gsi(uint32_t gsi) override { vm_->release_gsi(gsi); }
  Status set_msi_route(uint32_t gsi, const MsiMessage& msg) override {
    MsiMessage m = msg;
    m.requester_id = rid_.load();
    return vm_->set_msi_route(gsi, m);
  }
  Status remove_route(uint32_t gsi) override { return vm_->remove_route(gsi); }
  Status set_irqfd(int fd, uint32_t gsi, bool assign) override { return vm_->set_irqfd(fd, gsi, assign); }
  Status set_ioeventfd(int fd, uint64_t addr, bool assign) override { return vm_->set_ioeventfd(fd, addr, assign); }
  Status map_mmio(std::shared_ptr<BusDevice> device, uint64_t addr, uint64_t len) override {
    return vm_->map_mmio(std::move(device), addr, len);
  }
  Status unmap_mmio(uint64_t addr) override { return vm_->unmap_mmio(addr); }
  Result<uint32_t> add_memslot(uint64_t gpa, uint64_t size, void* host, bool read_only) override {
    return vm_->add_memslot(gpa, size, host, read_only);
  }
  Status remove_memslot(uint32_t slot) override { return vm_->remove_memslot(slot); }
  void add_fault_repair(const void* owner, std::function<bool()> repair) override {
    vm_->add_fault_repair(owner, std::move(repair));
  }
  void remove_fault_repair(const void* owner) override { vm_->remove_fault_repair(owner); }

 private:
  std::shared_ptr<VmServices> vm_;
  std::atomic<uint16_t> rid_{0};
};

}  // namespace tandem
