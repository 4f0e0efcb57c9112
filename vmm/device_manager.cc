// vmm/device_manager.cc: building, plugging and unplugging the VM's PCI devices.
#include "vmm/device_manager.h"

#include <cstdio>

#include "devices/net/mac.h"
#include "devices/virtio/net.h"
#include "devices/virtio/pci_transport.h"

namespace tandem {

namespace {

std::string pci_address(uint8_t slot) {
  char pci[16];
  std::snprintf(pci, sizeof pci, "0000:00:%02x.0", slot);
  return pci;
}

}  // namespace

DeviceManager::DeviceManager(asio::io_context& io, std::shared_ptr<PciRoot> pci, std::shared_ptr<VmServices> services,
                             const GuestMemory& mem, AddressAllocator mmio64, Notify notify, Options options)
    : io_(io), pci_(std::move(pci)), services_(std::move(services)), mem_(mem), mmio64_(std::move(mmio64)),
      notify_(std::move(notify)), options_(options) {}

DeviceManager::~DeviceManager() { stop(); }

DeviceManager::Built DeviceManager::build(const std::string& id, const NetSpec& spec, int connect_ms) {
  Built b;
  auto mac = spec.mac.empty() ? net::derive_mac(default_mac_seed(spec)) : net::parse_mac(spec.mac);
  if (!mac) return Built{{}, mac.message(), api::code::kInvalidParams};
  Result<std::unique_ptr<virtio::NetBackend>> backend = Error{""};
  if (spec.kind == NetSpec::Kind::kVhostUser) {
    backend = virtio::make_vhost_user_backend(spec.socket, connect_ms);
  } else if (spec.vhost) {
    backend = virtio::make_vhost_net_backend(spec.tap);
  } else {
    backend = virtio::make_tap_backend(spec.tap, spec.coalesce_us);
  }
  if (!backend) return Built{{}, backend.message(), api::code::kBackendFailed};
  auto bar = mmio64_.allocate(virtio::kBar0Size, virtio::kBar0Size);
  if (!bar) return Built{{}, "no room for BAR 0 in the 64-bit window: " + bar.message(), api::code::kNoRoom};
  auto net = std::make_shared<virtio::Net>(*mac, std::move(backend).value());
  auto view = std::make_shared<RequesterVmServices>(services_);
  auto dev = virtio::PciTransport::create(net, view, mem_, *bar);
  if (!dev) {
    (void)mmio64_.release(*bar);
    return Built{{}, dev.message(), api::code::kInternalError};
  }
  b.record.id = id;
  b.record.type = "virtio-net";
  if (spec.kind == NetSpec::Kind::kTap) {
    b.record.backend = api::Json{{"tap", spec.tap}, {"vhost", spec.vhost}};
    if (!spec.vhost) b.record.backend["coalesce"] = spec.coalesce_us;
  } else {
    b.record.backend = api::Json{{"vhost-user", spec.socket}};
  }
  b.record.mac = net::format_mac(*mac);
  b.record.device = *dev;
  b.record.services = view;
  b.record.bars = {*bar};
  return b;
}

DeviceManager::Built DeviceManager::build(const std::string& id, const VhostPciSpec& spec) {
  if (spec.mode == VhostPciSpec::Mode::kSymmetric) return build_symmetric(id, spec);
  auto bar0 = mmio64_.allocate(vhost_pci::kBar0Size, vhost_pci::kBar0Size);
  if (!bar0) return Built{{}, "no room for its BARs in the 64-bit window", api::code::kNoRoom};
  auto bar2 = mmio64_.allocate(spec.bar_size, spec.bar_size);
  if (!bar2) {
    (void)mmio64_.release(*bar0);
    return Built{{}, "no room for its BARs in the 64-bit window", api::code::kNoRoom};
  }
  vhost_pci::Config vc;
  vc.socket = spec.socket;
  vc.peer_bar_size = spec.bar_size;
  vc.allow_unsealed = spec.allow_unsealed;
  vc.peers = PeerPolicy{spec.peer_uid, spec.peer_gid};
  vc.silent_peer_timeout = std::chrono::seconds(spec.peer_timeout_s);
  vc.on_peer = [this, id](bool connected, const std::string& detail) {  // the device's thread
    notify_(connected ? "peer.connected" : "peer.disconnected", api::Json{{"device", id}, {"detail", detail}});
    asio::post(io_, [this, id, connected] { peer_changed(id, connected); });
  };
  auto view = std::make_shared<RequesterVmServices>(services_);
  auto dev = vhost_pci::NetDevice::create(vc, view, *bar0, *bar2);
  if (!dev) {
    (void)mmio64_.release(*bar0);
    (void)mmio64_.release(*bar2);
    return Built{{}, dev.message(), api::code::kBackendFailed};
  }
  Built b;
  b.record.id = id;
  b.record.type = "vhost-pci-net";
  b.record.backend = api::Json{{"socket", spec.socket}, {"bar", spec.bar_size}};
  b.record.device = *dev;
  b.record.services = view;
  b.record.vhost_pci = *dev;
  b.record.bars = {*bar0, *bar2};
  return b;
}

DeviceManager::Built DeviceManager::build_symmetric(const std::string& id, const VhostPciSpec& spec) {
  if (!sections_) return Built{{}, "this VM has no window for shared sections", api::code::kUnavailable};
  const uint64_t window = vhost_pci::SymmetricDevice::window_size(spec.section_size);
  auto shm = sections_->allocate(window, window);
  if (!shm) return Built{{}, "no room for its sections in the section window", api::code::kNoRoom};
  auto bar0 = mmio64_.allocate(vhost_pci::kBar0Size, vhost_pci::kBar0Size);
  if (!bar0) {
    (void)sections_->release(*shm);
    return Built{{}, "no room for its BAR in the 64-bit window", api::code::kNoRoom};
  }
  vhost_pci::SymmetricConfig sc;
  sc.socket = spec.socket;
  sc.listen = spec.listen;
  sc.section_size = spec.section_size;
  sc.peers = PeerPolicy{spec.peer_uid, spec.peer_gid};
  sc.hello_timeout = std::chrono::seconds(spec.peer_timeout_s);
  sc.on_peer = [this, id](bool up, const std::string& detail) {  // the device's thread
    notify_(up ? "peer.connected" : "peer.disconnected", api::Json{{"device", id}, {"detail", detail}});
  };
  auto view = std::make_shared<RequesterVmServices>(services_);
  auto dev = vhost_pci::SymmetricDevice::create(sc, view, *bar0, *shm);
  if (!dev) {
    (void)sections_->release(*shm);
    (void)mmio64_.release(*bar0);
    return Built{{}, dev.message(), api::code::kBackendFailed};
  }
  Built b;
  b.record.id = id;
  b.record.type = "vhost-pci-net";
  b.record.backend = api::Json{{"socket", spec.socket}, {"mode", "symmetric"}, {"listen", spec.listen}, {"section", spec.section_size}, {"shm_base", *shm}};
  b.record.device = *dev;
  b.record.services = view;
  b.record.vhost_pci = *dev;
  b.record.bars = {*bar0};
  b.record.sections = *shm;
  return b;
}

Result<uint8_t> DeviceManager::plug(Record& r) {
  auto slot = pci_->free_slot();
  if (!slot) return slot.error();
  r.services->set_requester_id(static_cast<uint16_t>(*slot << 3));  // bus 0, function 0
  TANDEM_TRY(pci_->add(*slot, r.device));
  r.slot = *slot;
  r.plugged = true;
  std::fprintf(stderr, "tandem: 00:%02x.0 %s\n", *slot, r.device->name().c_str());
  return *slot;
}

void DeviceManager::release(Record& r) {
  if (r.eject_timer) r.eject_timer->cancel();
  r.device->unplug();
  for (uint64_t bar : r.bars) (void)mmio64_.release(bar);
  r.bars.clear();
  if (r.sections && sections_) (void)sections_->release(*r.sections);
  r.sections.reset();
}

Status DeviceManager::keep(Record r, const std::string& option, bool on_bus) {
  if (on_bus) {
    if (auto slot = plug(r); !slot) {
      release(r);
      return Error{option + ": " + slot.message()};
    }
  }
  records_.push_back(std::move(r));
  return {};
}

Status DeviceManager::add_cold(const NetSpec& spec) {
  Built b = build("net" + std::to_string(cold_nets_), spec, options_.vhost_user_connect_ms);
  if (!b.record.device) return Error{"--net " + net_spec_text(spec) + ": " + b.error};
  TANDEM_TRY(keep(std::move(b.record), "--net", true));
  ++cold_nets_;
  return {};
}

Status DeviceManager::add_cold(const VhostPciSpec& spec) {
  Built b = build("vpci" + std::to_string(cold_vpcis_), spec);
  if (!b.record.device) return Error{"--vhost-pci socket=" + spec.socket + ": " + b.error};
  b.record.on_connect = spec.hotplug_on_connect;
  if (spec.hotplug_on_connect) {
    std::fprintf(stderr, "tandem: %s: off the bus until a peer connects (hotplug_on_connect)\n", b.record.device->name().c_str());
  }
  TANDEM_TRY(keep(std::move(b.record), "--vhost-pci", !spec.hotplug_on_connect));
  ++cold_vpcis_;
  return {};
}

void DeviceManager::start() {
  for (auto& r : records_) {
    if (r.vhost_pci) r.vhost_pci->start();
  }
}

void DeviceManager::stop() {
  for (auto& r : records_) {
    if (r.eject_timer) r.eject_timer->cancel();
    if (r.vhost_pci) r.vhost_pci->stop();
  }
}

std::string DeviceManager::free_id(const std::string& prefix) const {
  for (size_t n = 0;; ++n) {
    std::string id = prefix + std::to_string(n);
    bool taken = false;
    for (const auto& r : records_) taken = taken || r.id == id;
    if (!taken) return id;
  }
}

DeviceManager::Record* DeviceManager::find(const std::string& id) {
  for (auto& r : records_) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

api::Reply DeviceManager::hot_add(const DeviceRequest& req) {
  if (!hotplug_) return api::error_reply(api::code::kUnavailable, "device.add: this VM has no hotplug controller");
  const bool net = std::holds_alternative<NetSpec>(req.spec);
  std::string id = req.id.empty() ? free_id(net ? "net" : "vpci") : req.id;
  if (find(id)) return api::error_reply(api::code::kInvalidParams, "invalid params: device.add: the id \"" + id + "\" is taken");
  if (auto slot = pci_->free_slot(); !slot) {
    return api::error_reply(api::code::kNoRoom, "device.add: no free PCI slot (" + slot.message() + ")");
  }
  Built b = net ? build(id, std::get<NetSpec>(req.spec), options_.hot_vhost_user_connect_ms) : build(id, std::get<VhostPciSpec>(req.spec));
  if (!b.record.device) return api::error_reply(b.code, "device.add " + id + ": " + b.error);
  records_.push_back(std::move(b.record));
  Record& r = records_.back();
  if (auto s = plug_hot(r); !s) {
    release(r);
    records_.pop_back();
    return api::error_reply(api::code::kNoRoom, "device.add " + id + ": " + s.message());
  }
  if (r.vhost_pci) r.vhost_pci->start();
  return device_json(r);
}

Status DeviceManager::plug_hot(Record& r) {
  if (!hotplug_) return Error{"no hotplug controller"};
  TANDEM_TRY(plug(r));
  hotplug_->request_scan(r.slot);
  notify_("device.added", device_json(r));
  return {};
}

void DeviceManager::request_removal(Record& r, bool park) {
  r.removing = true;
  r.park = park;
  r.eject_timer = std::make_shared<asio::steady_timer>(io_, options_.eject_timeout);
  r.eject_timer->async_wait([this, device = r.device](const asio::error_code& ec) {
    if (ec) return;
    for (auto& rec : records_) {
      if (rec.device != device || !rec.removing) continue;
      rec.removing = false;
      std::fprintf(stderr, "tandem: device.remove %s: the guest did not eject slot %u within %lld ms; the device stays\n", rec.id.c_str(),
                   rec.slot, static_cast<long long>(options_.eject_timeout.count()));
      notify_("device.remove-failed", api::Json{{"id", rec.id}, {"reason", "the guest did not eject the device"}});
    }
  });
  hotplug_->request_eject(r.slot);
}

void DeviceManager::peer_changed(const std::string& id, bool connected) {
  Record* r = find(id);
  if (!r || !r->on_connect) return;
  r->peer_up = connected;
  if (connected && !r->plugged) {
    if (auto s = plug_hot(*r); !s) std::fprintf(stderr, "tandem: %s: a peer connected but the device cannot be added: %s\n", id.c_str(), s.message().c_str());
  } else if (!connected && r->plugged && !r->removing && hotplug_) {
    request_removal(*r, true);
  }
}

api::Reply DeviceManager::hot_remove(const std::string& id, bool paused) {
  Record* r = find(id);
  if (!r) return api::error_reply(api::code::kNotFound, "device.remove: no device \"" + id + "\" (see device.list)");
  if (r->removing && !r->park) {
    return api::error_reply(api::code::kBusy, "device.remove: " + id + " is already being removed (waiting for the guest to eject it)");
  }
  if (!r->plugged) {  // an on-connect device waiting for a peer: nothing in the guest to ask
    release(*r);
    notify_("device.removed", api::Json{{"id", id}, {"pci", nullptr}, {"requested", true}});
    records_.erase(records_.begin() + (r - records_.data()));
    return api::Json{{"id", id}, {"state", "removed"}};
  }
  if (paused) return api::error_reply(api::code::kBusy, "device.remove: the VM is paused and cannot eject the device; vm.resume it first");
  if (!hotplug_) return api::error_reply(api::code::kUnavailable, "device.remove: this VM has no hotplug controller");
  if (r->removing) {  // a peer's going already asked the guest: release instead of parking
    r->park = false;
    return api::Json{{"id", id}, {"state", "removing"}};
  }
  request_removal(*r, false);
  return api::Json{{"id", id}, {"state", "removing"}};
}

void DeviceManager::ejected(uint8_t slot) {
  // Off the bus at once, so the guest's next config read of the slot sees it empty; the rest on the
  // event loop (a backend's threads are joined there, not on a vCPU thread).
  auto device = pci_->remove(slot);
  if (!device) return;
  asio::post(io_, [this, device = std::move(device)] { finish_eject(device); });
}

void DeviceManager::finish_eject(std::shared_ptr<PciDevice> device) {
  for (auto it = records_.begin(); it != records_.end(); ++it) {
    if (it->device != device) continue;
    if (it->park) {  // hotplug_on_connect: wait off the bus for the next peer
      if (it->eject_timer) it->eject_timer->cancel();
      it->vhost_pci->park();
      it->plugged = it->removing = it->park = false;
      std::fprintf(stderr, "tandem: 00:%02x.0 %s: ejected by the guest; off the bus until a peer connects\n", it->slot, device->name().c_str());
      notify_("device.removed", api::Json{{"id", it->id}, {"pci", pci_address(it->slot)}, {"requested", true}, {"waiting", true}});
      if (it->peer_up) {
        if (auto s = plug_hot(*it); !s) std::fprintf(stderr, "tandem: %s: cannot add it back for its peer: %s\n", it->id.c_str(), s.message().c_str());
      }
      return;
    }
    release(*it);
    std::fprintf(stderr, "tandem: 00:%02x.0 %s: ejected by the guest and released\n", it->slot, device->name().c_str());
    notify_("device.removed", api::Json{{"id", it->id}, {"pci", pci_address(it->slot)}, {"requested", it->removing}});
    records_.erase(it);
    return;
  }
}

api::Json DeviceManager::device_json(const Record& d) {
  api::Json j = {{"id", d.id}, {"type", d.type}, {"pci", d.plugged ? api::Json(pci_address(d.slot)) : api::Json(nullptr)}, {"backend", d.backend}};
  if (!d.mac.empty()) j["mac"] = d.mac;
  if (d.vhost_pci) {
    static constexpr const char* kLink[] = {"down", "negotiating", "up", "stopping"};
    uint32_t l = d.vhost_pci->link_state();
    j["link"] = l < 4 ? kLink[l] : "unknown";
  }
  if (d.removing) j["removing"] = true;
  if (d.on_connect) j["hotplug_on_connect"] = true;
  return j;
}

api::Json DeviceManager::list() const {
  api::Json list = api::Json::array();
  for (const auto& d : records_) list.push_back(device_json(d));
  return list;
}

}  // namespace tandem
