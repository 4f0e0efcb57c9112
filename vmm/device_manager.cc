// vmm/device_manager.cc: building, plugging and unplugging the VM's PCI devices. The kinds build
// them (vmm/device_kinds); this file only places them and follows their lives.
#include "vmm/device_manager.h"

#include <cstdio>

namespace tandem {

DeviceManager::DeviceManager(asio::io_context& io, std::shared_ptr<PciRoot> pci, std::shared_ptr<VmServices> services,
                             const GuestMemory& mem, AddressAllocator mmio64, Notify notify, Options options)
    : io_(io), pci_(std::move(pci)), services_(std::move(services)), mem_(mem), mmio64_(std::move(mmio64)),
      notify_(std::move(notify)), options_(options) {}

DeviceManager::~DeviceManager() { stop(); }

DeviceResult<DeviceManager::Record> DeviceManager::build(const std::string& id, const DeviceSpec& spec, int connect_ms) {
  device_kinds::BuildContext ctx{services_, mem_, mmio64_};
  ctx.sections = sections_ ? &*sections_ : nullptr;
  ctx.vhost_user_connect_ms = connect_ms;
  ctx.on_peer = [this, id](bool up, const std::string& detail) {  // the device's thread
    notify_(DeviceEvent::of(up ? DeviceEvent::Kind::kPeerConnected : DeviceEvent::Kind::kPeerDisconnected, id, detail));
    asio::post(io_, [this, id, up] { peer_changed(id, up); });
  };
  auto built = std::visit([&](const auto& s) { return std::decay_t<decltype(s)>::Of::build(s, ctx); }, spec);
  if (auto* e = std::get_if<DeviceError>(&built)) return *e;
  Record r;
  r.id = id;
  r.built = std::move(std::get<device_kinds::BuiltDevice>(built));
  return r;
}

Result<uint8_t> DeviceManager::plug(Record& r) {
  auto slot = pci_->free_slot();
  if (!slot) return slot.error();
  r.built.services->set_requester_id(static_cast<uint16_t>(*slot << 3));  // bus 0, function 0
  TANDEM_TRY(pci_->add(*slot, r.built.device));
  r.slot = *slot;
  r.plugged = true;
  std::fprintf(stderr, "tandem: 00:%02x.0 %s\n", *slot, r.built.device->name().c_str());
  return *slot;
}

void DeviceManager::release(Record& r) {
  if (r.eject_timer) r.eject_timer->cancel();
  r.built.device->unplug();
  for (uint64_t bar : r.built.bars) (void)mmio64_.release(bar);
  r.built.bars.clear();
  if (r.built.sections && sections_) (void)sections_->release(*r.built.sections);
  r.built.sections.reset();
}

template <typename S>
Status DeviceManager::add_one_cold(const S& spec) {
  using K = typename S::Of;
  size_t& n = cold_ids_[K::kIdPrefix];
  auto built = build(K::kIdPrefix + std::to_string(n), spec, options_.vhost_user_connect_ms);
  if (auto* e = std::get_if<DeviceError>(&built)) return Error{device_option_text(spec) + ": " + e->message};
  Record& r = std::get<Record>(built);
  if (r.built.on_connect) {
    std::fprintf(stderr, "tandem: %s: off the bus until a peer connects (hotplug_on_connect)\n", r.built.device->name().c_str());
  } else if (auto slot = plug(r); !slot) {
    release(r);
    return Error{std::string(K::kOption) + ": " + slot.message()};
  }
  records_.push_back(std::move(r));
  ++n;
  return {};
}

Status DeviceManager::add_cold(const DeviceSpecs& specs) {
  Status result;
  specs.each([&](auto, const auto& spec) {
    if (result) result = add_one_cold(spec);
  });
  return result;
}

void DeviceManager::start() {
  for (auto& r : records_) {
    if (r.built.link) r.built.link->start();
  }
}

void DeviceManager::stop() {
  for (auto& r : records_) {
    if (r.eject_timer) r.eject_timer->cancel();
    if (r.built.link) r.built.link->stop();
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

DeviceResult<DeviceInfo> DeviceManager::hot_add(const std::string& wanted, const DeviceSpec& spec) {
  using Kind = DeviceError::Kind;
  if (!hotplug_) return DeviceError{Kind::kUnavailable, "device.add: this VM has no hotplug controller"};
  std::string id = wanted.empty() ? free_id(std::visit([](const auto& s) { return std::string(std::decay_t<decltype(s)>::Of::kIdPrefix); }, spec)) : wanted;
  if (find(id)) return DeviceError{Kind::kInvalid, "invalid params: device.add: the id \"" + id + "\" is taken"};
  if (auto slot = pci_->free_slot(); !slot) return DeviceError{Kind::kNoRoom, "device.add: no free PCI slot (" + slot.message() + ")"};
  auto built = build(id, spec, options_.hot_vhost_user_connect_ms);
  if (auto* e = std::get_if<DeviceError>(&built)) return DeviceError{e->kind, "device.add " + id + ": " + e->message};
  records_.push_back(std::move(std::get<Record>(built)));
  Record& r = records_.back();
  r.built.on_connect = false;  // an API device is on the bus from the start
  if (auto s = plug_hot(r); !s) {
    release(r);
    records_.pop_back();
    return DeviceError{Kind::kNoRoom, "device.add " + id + ": " + s.message()};
  }
  if (r.built.link) r.built.link->start();
  return info(r);
}

Status DeviceManager::plug_hot(Record& r) {
  if (!hotplug_) return Error{"no hotplug controller"};
  TANDEM_TRY(plug(r));
  hotplug_->request_scan(r.slot);
  DeviceEvent added = DeviceEvent::of(DeviceEvent::Kind::kAdded, r.id);
  added.device = info(r);
  notify_(std::move(added));
  return {};
}

void DeviceManager::request_removal(Record& r, bool park) {
  r.removing = true;
  r.park = park;
  r.eject_timer = std::make_shared<asio::steady_timer>(io_, options_.eject_timeout);
  // The handler holds no reference to the device: one cancelled at VM exit stays queued until the
  // event loop is destroyed, after the VM's memory and KVM.
  r.eject_timer->async_wait([this, weak = std::weak_ptr<PciDevice>(r.built.device)](const asio::error_code& ec) {
    auto device = weak.lock();
    if (ec || !device) return;
    for (auto& rec : records_) {
      if (rec.built.device != device || !rec.removing) continue;
      rec.removing = false;
      std::fprintf(stderr, "tandem: device.remove %s: the guest did not eject slot %u within %lld ms; the device stays\n", rec.id.c_str(),
                   rec.slot, static_cast<long long>(options_.eject_timeout.count()));
      notify_(DeviceEvent::of(DeviceEvent::Kind::kRemoveFailed, rec.id, "the guest did not eject the device"));
    }
  });
  hotplug_->request_eject(r.slot);
}

void DeviceManager::peer_changed(const std::string& id, bool connected) {
  Record* r = find(id);
  if (!r || !r->built.on_connect) return;
  r->peer_up = connected;
  if (connected && !r->plugged) {
    if (auto s = plug_hot(*r); !s) std::fprintf(stderr, "tandem: %s: a peer connected but the device cannot be added: %s\n", id.c_str(), s.message().c_str());
  } else if (!connected && r->plugged && !r->removing && hotplug_) {
    request_removal(*r, true);
  }
}

DeviceResult<DeviceManager::Removal> DeviceManager::hot_remove(const std::string& id, bool paused) {
  using Kind = DeviceError::Kind;
  Record* r = find(id);
  if (!r) return DeviceError{Kind::kNotFound, "device.remove: no device \"" + id + "\" (see device.list)"};
  if (r->removing && !r->park) {
    return DeviceError{Kind::kBusy, "device.remove: " + id + " is already being removed (waiting for the guest to eject it)"};
  }
  if (!r->plugged) {  // an on-connect device waiting for a peer: nothing in the guest to ask
    release(*r);
    notify_(DeviceEvent::removed(id, std::nullopt, true));
    records_.erase(records_.begin() + (r - records_.data()));
    return Removal::kRemoved;
  }
  if (paused) return DeviceError{Kind::kBusy, "device.remove: the VM is paused and cannot eject the device; vm.resume it first"};
  if (!hotplug_) return DeviceError{Kind::kUnavailable, "device.remove: this VM has no hotplug controller"};
  if (r->removing) {  // a peer's going already asked the guest: release instead of parking
    r->park = false;
    return Removal::kRemoving;
  }
  request_removal(*r, false);
  return Removal::kRemoving;
}

void DeviceManager::ejected(uint8_t slot) {
  // Off the bus at once, so the guest's next config read of the slot sees it empty; the rest on the
  // event loop (a backend's threads are joined there, not on a vCPU thread).
  // The posted handler holds no reference either (the record does): not run by VM exit, it must not
  // keep the device past the device manager.
  auto device = pci_->remove(slot);
  if (!device) return;
  asio::post(io_, [this, weak = std::weak_ptr<PciDevice>(device)] {
    if (auto d = weak.lock()) finish_eject(d);
  });
}

void DeviceManager::finish_eject(std::shared_ptr<PciDevice> device) {
  for (auto it = records_.begin(); it != records_.end(); ++it) {
    if (it->built.device != device) continue;
    if (it->park) {  // hotplug_on_connect: wait off the bus for the next peer
      if (it->eject_timer) it->eject_timer->cancel();
      it->built.link->park();
      it->plugged = it->removing = it->park = false;
      std::fprintf(stderr, "tandem: 00:%02x.0 %s: ejected by the guest; off the bus until a peer connects\n", it->slot, device->name().c_str());
      notify_(DeviceEvent::removed(it->id, it->slot, true, true));
      if (it->peer_up) {
        if (auto s = plug_hot(*it); !s) std::fprintf(stderr, "tandem: %s: cannot add it back for its peer: %s\n", it->id.c_str(), s.message().c_str());
      }
      return;
    }
    release(*it);
    std::fprintf(stderr, "tandem: 00:%02x.0 %s: ejected by the guest and released\n", it->slot, device->name().c_str());
    notify_(DeviceEvent::removed(it->id, it->slot, it->removing));
    records_.erase(it);
    return;
  }
}

DeviceInfo DeviceManager::info(const Record& d) {
  DeviceInfo i;
  i.id = d.id;
  i.type = d.built.type;
  if (d.plugged) i.slot = d.slot;
  i.backend = d.built.backend;
  i.mac = d.built.mac;
  if (d.built.link) i.link = d.built.link->link_state();
  i.removing = d.removing;
  i.on_connect = d.built.on_connect;
  if (d.built.guest) i.guest = d.built.guest();
  i.counters = d.built.counters;
  return i;
}

std::vector<DeviceInfo> DeviceManager::list() const {
  std::vector<DeviceInfo> out;
  for (const auto& d : records_) out.push_back(info(d));
  return out;
}

}  // namespace tandem
