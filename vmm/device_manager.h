// vmm/device_manager.h: the VM's PCI devices: those of the command line, and those added and
// removed while the guest runs (ACPI PCI hotplug, docs/hotplug.md).
//
// Cold-plugged devices go onto bus 0 before the vCPUs start. A hot-add builds the device, puts it in
// a free slot and asks the guest to scan that slot (PCIU); the guest's acpiphp finds it, assigns its
// BARs and the stock driver binds. A hot-remove only asks (PCID): the guest unbinds the driver and
// ejects the slot (B0EJ), and only then does tandem take the device off the bus and release its
// BARs, doorbells, interrupts, backend fds and threads. Everything but ejected() runs on the event
// loop's thread; ejected() runs on the vCPU thread that wrote B0EJ and hands the rest to the loop.
// A vhost-pci-net with hotplug_on_connect waits off the bus, serving its socket: a peer's connection
// hot-adds it, the peer's going hot-removes it, and after the eject it waits again.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "devices/pci/hotplug.h"
#include "devices/pci/pci_root.h"
#include "devices/vm_services.h"
#include "memory/address_allocator.h"
#include "memory/guest_memory.h"
#include "vmm/device_kinds/kinds.h"

namespace tandem {

using device_kinds::DeviceError;
using device_kinds::DeviceResult;

// What device.list shows of one device.
struct DeviceInfo {
  std::string id;
  std::string type;              // the kind's name
  std::optional<uint8_t> slot;   // bus 0's slot while it is on the bus
  device_kinds::Options backend;
  std::string mac;
  std::optional<uint32_t> link;  // a vhost-pci-net's LINK_STATE
  bool removing = false;         // the guest was asked to eject it
  bool on_connect = false;       // hotplug_on_connect
  device_kinds::Options guest;   // what the guest set: a NIC's MAC and receive mode
  std::shared_ptr<const Counters> counters;  // vm.counters (none: the device counts nothing)
};

// Something the API's clients are told of (docs/api.md, notifications).
struct DeviceEvent {
  enum class Kind { kPeerConnected, kPeerDisconnected, kAdded, kRemoved, kRemoveFailed } kind = Kind::kAdded;
  std::string id;
  std::string detail;                // peer events: what happened; kRemoveFailed: why
  std::optional<DeviceInfo> device;  // kAdded
  std::optional<uint8_t> slot;       // kRemoved: the slot it left (none: it was never on the bus)
  bool requested = false;            // kRemoved: device.remove (or a peer's going) asked for it
  bool waiting = false;              // kRemoved: off the bus, waiting for its next peer

  static DeviceEvent of(Kind kind, std::string id, std::string detail = "") {
    DeviceEvent e;
    e.kind = kind;
    e.id = std::move(id);
    e.detail = std::move(detail);
    return e;
  }
  static DeviceEvent removed(std::string id, std::optional<uint8_t> slot, bool requested, bool waiting = false) {
    DeviceEvent e = of(Kind::kRemoved, std::move(id));
    e.slot = slot;
    e.requested = requested;
    e.waiting = waiting;
    return e;
  }
};

class DeviceManager {
 public:
  // notify(event): from any thread.
  using Notify = std::function<void(DeviceEvent)>;
  struct Options {
    std::chrono::milliseconds eject_timeout{15000};  // a device.remove the guest ignores this long fails
    int vhost_user_connect_ms = 10000;               // cold-plugged: a backend that is still starting
    int hot_vhost_user_connect_ms = 1000;            // hot-added: the event loop waits this long at most
  };
  enum class Removal { kRemoving, kRemoved };

  DeviceManager(asio::io_context& io, std::shared_ptr<PciRoot> pci, std::shared_ptr<VmServices> services, const GuestMemory& mem,
                AddressAllocator mmio64, Notify notify, Options options);
  DeviceManager(asio::io_context& io, std::shared_ptr<PciRoot> pci, std::shared_ptr<VmServices> services, const GuestMemory& mem,
                AddressAllocator mmio64, Notify notify)
      : DeviceManager(io, std::move(pci), std::move(services), mem, std::move(mmio64), std::move(notify), Options{}) {}
  ~DeviceManager();

  // Where symmetric vhost-pci-net devices place their sections (fixed guest-physical addresses
  // outside the PCI windows); without it they are refused.
  void set_section_window(uint64_t base, uint64_t size) { sections_.emplace(base, size); }
  // The register block the DSDT's hotplug AML talks to; set before the vCPUs start.
  void set_hotplug(std::shared_ptr<PciHotplug> hotplug) { hotplug_ = std::move(hotplug); }

  // Command-line devices, before the vCPUs start. Errors name the option ("--net tap=x: ...").
  Status add_cold(const DeviceSpecs& specs);
  // Starts the vhost-pci devices' socket threads / stops every device's work (at VM exit).
  void start();
  void stop();

  // device.add / device.remove (docs/api.md). `id` empty: one is chosen. `paused`: the guest
  // cannot answer an eject request.
  DeviceResult<DeviceInfo> hot_add(const std::string& id, const DeviceSpec& spec);
  DeviceResult<Removal> hot_remove(const std::string& id, bool paused);
  // B0EJ: the guest let go of `slot`. Called on a vCPU thread.
  void ejected(uint8_t slot);

  std::vector<DeviceInfo> list() const;

 private:
  struct Record {
    std::string id;
    uint8_t slot = 0;
    device_kinds::BuiltDevice built;
    bool plugged = false;
    bool removing = false;
    bool peer_up = false;
    bool park = false;        // the pending eject parks the device instead of releasing it
    std::shared_ptr<asio::steady_timer> eject_timer;
  };

  static DeviceInfo info(const Record& d);
  DeviceResult<Record> build(const std::string& id, const DeviceSpec& spec, int connect_ms);
  template <typename S>
  Status add_one_cold(const S& spec);
  Result<uint8_t> plug(Record& r);
  // Plugs an on-connect or API device in and asks the guest to scan its slot.
  Status plug_hot(Record& r);
  void request_removal(Record& r, bool park);
  // A hotplug_on_connect device's peer came or went (on the event loop).
  void peer_changed(const std::string& id, bool connected);
  void release(Record& r);
  void finish_eject(std::shared_ptr<PciDevice> device);
  std::string free_id(const std::string& prefix) const;
  Record* find(const std::string& id);

  asio::io_context& io_;
  std::shared_ptr<PciRoot> pci_;
  std::shared_ptr<VmServices> services_;
  const GuestMemory& mem_;
  AddressAllocator mmio64_;
  std::optional<AddressAllocator> sections_;
  Notify notify_;
  Options options_;
  std::shared_ptr<PciHotplug> hotplug_;
  std::vector<Record> records_;
  std::map<std::string, size_t> cold_ids_;  // per id prefix: the command line's devices so far
};

}  // namespace tandem
