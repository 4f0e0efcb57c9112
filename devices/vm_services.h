// devices/vm_services.h: what a device may ask of the VM it lives in, as one small interface.
//
// Devices do not know KVM. A PCI device that maps a BAR, routes an MSI, or wants a guest write to
// land on an eventfd asks through VmServices; the VMM implements it with KVM ioctls and the MMIO
// bus (vmm/vm_services_kvm.h). Every call returns a Status naming what failed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "base/result.h"
#include "devices/bus.h"

namespace tandem {

struct MsiMessage {
  uint64_t address = 0;
  uint32_t data = 0;
  uint16_t requester_id = 0;  // bus << 8 | device << 3 | function of the sender (arm64's ITS needs it)
};

class VmServices {
 public:
  virtual ~VmServices() = default;

  // Interrupts: a GSI per MSI vector, its route, and the eventfd that raises it.
  virtual Result<uint32_t> allocate_gsi() = 0;
  virtual void release_gsi(uint32_t gsi) = 0;
  virtual Status set_msi_route(uint32_t gsi, const MsiMessage& msg) = 0;
  virtual Status remove_route(uint32_t gsi) = 0;
  virtual Status set_irqfd(int fd, uint32_t gsi, bool assign) = 0;

  // A guest MMIO write of any width at `addr` signals `fd` inside KVM.
  virtual Status set_ioeventfd(int fd, uint64_t addr, bool assign) = 0;

  // MMIO dispatch for a BAR: accesses in [addr, addr+len) reach `device` at offset addr - base.
  virtual Status map_mmio(std::shared_ptr<BusDevice> device, uint64_t addr, uint64_t len) = 0;
  virtual Status unmap_mmio(uint64_t addr) = 0;

  // Guest RAM-like ranges inside a BAR (vhost-pci's peer memory): [gpa, gpa+size) is backed by
  // tandem's mapping at `host`; read_only makes guest writes exit (and be dropped). Returns a slot
  // handle for remove_memslot.
  virtual Result<uint32_t> add_memslot(uint64_t gpa, uint64_t size, void* host, bool read_only) = 0;
  virtual Status remove_memslot(uint32_t slot) = 0;

  // A device whose memslots map memory another process can take away (a vhost-pci peer's file,
  // which it may truncate) registers how to repair that: when a vCPU's KVM_RUN fails with EFAULT,
  // the VMM calls every registered `repair` on that vCPU's thread, and runs the vCPU again if one
  // returns true (it put memory back). `owner` names the registration for remove_fault_repair,
  // which the device calls before it goes (not while holding a lock its repair takes).
  virtual void add_fault_repair(const void* owner, std::function<bool()> repair) = 0;
  virtual void remove_fault_repair(const void* owner) = 0;
};

}  // namespace tandem
