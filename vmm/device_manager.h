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
#include <optional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "devices/pci/hotplug.h"
#include "devices/pci/pci_root.h"
#include "devices/requester_vm_services.h"
#include "devices/vhost_pci/net_device.h"
#include "devices/vhost_pci/symmetric_device.h"
#include "devices/vm_services.h"
#include "memory/address_allocator.h"
#include "memory/guest_memory.h"
#include "vmm/api/jsonrpc.h"
#include "vmm/device_request.h"
#include "vmm/vm_config.h"

namespace tandem {


class DeviceManager {
 public:
  // notify(event, params): an API notification, from any thread.
  using Notify = std::function<void(std::string, api::Json)>;
  struct Options {
    std::chrono::milliseconds eject_timeout{15000};  // a device.remove the guest ignores this long fails
    int vhost_user_connect_ms = 10000;               // cold-plugged: a backend that is still starting
    int hot_vhost_user_connect_ms = 1000;            // hot-added: the event loop waits this long at most
  };

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
  Status add_cold(const NetSpec& spec);
  Status add_cold(const VhostPciSpec& spec);
  // Starts the vhost-pci devices' socket threads / stops every device's work (at VM exit).
  void start();
  void stop();

  // device.add / device.remove (docs/api.md). `paused`: the guest cannot answer an eject request.
  api::Reply hot_add(const DeviceRequest& req);
  api::Reply hot_remove(const std::string& id, bool paused);
  // B0EJ: the guest let go of `slot`. Called on a vCPU thread.
  void ejected(uint8_t slot);

  api::Json list() const;

 private:
  struct Record {
    std::string id;
    std::string type;
    uint8_t slot = 0;
    api::Json backend;
    std::string mac;
    std::shared_ptr<PciDevice> device;
    std::shared_ptr<RequesterVmServices> services;     // the device's view: its MSIs carry its slot
    std::shared_ptr<vhost_pci::LinkDevice> vhost_pci;  // for link state, start and stop
    std::vector<uint64_t> bars;                        // allocations in the 64-bit window
    std::optional<uint64_t> sections;                  // a symmetric device's, in the section window
    bool plugged = false;
    bool removing = false;
    bool on_connect = false;  // hotplug_on_connect: on the bus only while a peer is connected
    bool peer_up = false;
    bool park = false;        // the pending eject parks the device instead of releasing it
    std::shared_ptr<asio::steady_timer> eject_timer;
  };
  struct Built {
    Record record;
    std::string error;  // when record.device is null
    int code = 0;       // the JSON-RPC code for the error
  };

  static api::Json device_json(const Record& d);
  Built build(const std::string& id, const NetSpec& spec, int connect_ms);
  Built build(const std::string& id, const VhostPciSpec& spec);
  Built build_symmetric(const std::string& id, const VhostPciSpec& spec);
  Result<uint8_t> plug(Record& r);
  // Keeps a command-line device, on the bus or (hotplug_on_connect) off it; errors name `option`.
  Status keep(Record r, const std::string& option, bool on_bus);
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
  size_t cold_nets_ = 0, cold_vpcis_ = 0;
};

}  // namespace tandem
