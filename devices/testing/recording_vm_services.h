// devices/testing/recording_vm_services.h: VmServices for unit tests, which have no KVM: it records
// the MMIO ranges, doorbells, MSI routes, irqfds and memslots devices ask for, so tests can check
// what a BAR move, an MSI-X mask or a peer connection wired up. The real KVM path runs in the e2e
// tests.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "devices/vm_services.h"

namespace tandem::testing {

struct RecordingVmServices : VmServices {
  struct Slot {
    uint64_t gpa, size;
    void* host;
    bool read_only;
  };
  std::mutex mu;
  uint32_t next_gsi = 24;
  uint32_t next_slot = 64;
  std::map<uint64_t, uint64_t> mmio;  // base -> len
  std::map<uint64_t, std::shared_ptr<BusDevice>> mmio_devices;  // base -> what serves it
  std::set<std::pair<int, uint64_t>> doorbells;
  std::map<uint32_t, MsiMessage> routes;
  std::set<std::pair<int, uint32_t>> irqfds;
  std::map<uint32_t, Slot> slots;
  std::map<const void*, std::function<bool()>> repairs;  // what a vCPU's EFAULT would call

  Result<uint32_t> allocate_gsi() override {
    std::lock_guard l(mu);
    return next_gsi++;
  }
  void release_gsi(uint32_t) override {}
  Status set_msi_route(uint32_t gsi, const MsiMessage& m) override {
    std::lock_guard l(mu);
    routes[gsi] = m;
    return {};
  }
  Status remove_route(uint32_t gsi) override {
    std::lock_guard l(mu);
    routes.erase(gsi);
    return {};
  }
  Status set_irqfd(int fd, uint32_t gsi, bool assign) override {
    std::lock_guard l(mu);
    if (assign) irqfds.insert({fd, gsi}); else irqfds.erase({fd, gsi});
    return {};
  }
  Status set_ioeventfd(int fd, uint64_t addr, bool assign) override {
    std::lock_guard l(mu);
    if (assign) doorbells.insert({fd, addr}); else doorbells.erase({fd, addr});
    return {};
  }
  Status map_mmio(std::shared_ptr<BusDevice> device, uint64_t addr, uint64_t len) override {
    std::lock_guard l(mu);
    mmio[addr] = len;
    mmio_devices[addr] = std::move(device);
    return {};
  }
  Status unmap_mmio(uint64_t addr) override {
    std::lock_guard l(mu);
    mmio.erase(addr);
    mmio_devices.erase(addr);
    return {};
  }
  Result<uint32_t> add_memslot(uint64_t gpa, uint64_t size, void* host, bool read_only) override {
    std::lock_guard l(mu);
    slots[next_slot] = Slot{gpa, size, host, read_only};
    return next_slot++;
  }
  Status remove_memslot(uint32_t slot) override {
    std::lock_guard l(mu);
    if (!slots.erase(slot)) return Error{"no memslot " + std::to_string(slot)};
    return {};
  }
  void add_fault_repair(const void* owner, std::function<bool()> repair) override {
    std::lock_guard l(mu);
    repairs[owner] = std::move(repair);
  }
  void remove_fault_repair(const void* owner) override {
    std::lock_guard l(mu);
    repairs.erase(owner);
  }
  // What the VMM does when a vCPU's KVM_RUN fails with EFAULT (not under mu: a repair adds no slot).
  bool repair_memory_fault() {
    std::map<const void*, std::function<bool()>> now;
    {
      std::lock_guard l(mu);
      now = repairs;
    }
    bool any = false;
    for (auto& [owner, repair] : now) any = repair() || any;
    return any;
  }
};

}  // namespace tandem::testing
