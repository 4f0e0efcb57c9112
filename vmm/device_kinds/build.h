// vmm/device_kinds/build.h: what a device kind's build() gets from the VM and gives back.
//
// The device manager owns the VM's address windows and PCI slots; a kind's build() takes its BARs
// (and, for a symmetric vhost-pci-net, its sections) from the windows it is handed, creates the
// device and says what device.list shows of it. It does not plug: the manager chooses the slot.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "devices/counters.h"
#include "devices/pci/pci_device.h"
#include "devices/requester_vm_services.h"
#include "devices/vhost_pci/link_device.h"
#include "devices/vm_services.h"
#include "memory/address_allocator.h"
#include "memory/guest_memory.h"
#include "vmm/device_kinds/options.h"

namespace tandem::device_kinds {

// Why a device could not be built, added or removed; the API maps each to its JSON-RPC code.
struct DeviceError {
  enum class Kind { kInvalid, kBackendFailed, kNoRoom, kUnavailable, kNotFound, kBusy, kInternal } kind;
  std::string message;
};
template <typename T>
using DeviceResult = std::variant<T, DeviceError>;

struct BuildContext {
  BuildContext(std::shared_ptr<VmServices> services, const GuestMemory& mem, AddressAllocator& mmio64)
      : services(std::move(services)), mem(mem), mmio64(mmio64) {}

  std::shared_ptr<VmServices> services;
  const GuestMemory& mem;
  AddressAllocator& mmio64;
  AddressAllocator* sections = nullptr;  // the shared-section window; null: the VM has none
  int vhost_user_connect_ms = 10000;      // a vhost-user back-end that is still starting
  // A link device's peer came (true) or went, with what happened; called on the device's thread.
  std::function<void(bool up, const std::string& detail)> on_peer;
};

struct BuiltDevice {
  std::string type;  // the kind's name: "virtio-net"
  std::shared_ptr<PciDevice> device;
  std::shared_ptr<RequesterVmServices> services;  // the device's view: its MSIs carry its slot
  std::shared_ptr<vhost_pci::LinkDevice> link;    // a vhost-pci-net's link: start, stop, state
  std::vector<uint64_t> bars;                     // allocations in the 64-bit window
  std::optional<uint64_t> sections;               // an allocation in the section window
  Options backend;                                // what device.list shows as "backend"
  std::string mac;                                // a NIC's, as text; empty otherwise
  std::shared_ptr<const Counters> counters;       // what vm.counters shows (none: nothing counted)
  std::function<Options()> guest;                 // what the guest set (a NIC's MAC and receive mode)
  bool on_connect = false;  // on the bus only while a peer is connected (hotplug_on_connect)
};

// A range taken from a window, given back on destruction unless kept: a build that fails half-way
// leaves the windows as they were.
class Held {
 public:
  Held(AddressAllocator& window, uint64_t addr) : window_(&window), addr_(addr) {}
  Held(Held&& o) noexcept : window_(o.window_), addr_(o.addr_), kept_(o.kept_) { o.kept_ = true; }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  Held& operator=(Held&&) = delete;
  ~Held() {
    if (!kept_) (void)window_->release(addr_);
  }
  uint64_t addr() const { return addr_; }
  uint64_t keep() {
    kept_ = true;
    return addr_;
  }

 private:
  AddressAllocator* window_;
  uint64_t addr_;
  bool kept_ = false;
};

// `size` bytes aligned to `size` (a BAR), or an error.
inline Result<Held> hold(AddressAllocator& window, uint64_t size) {
  auto addr = window.allocate(size, size);
  if (!addr) return addr.error();
  return Held(window, *addr);
}

}  // namespace tandem::device_kinds
