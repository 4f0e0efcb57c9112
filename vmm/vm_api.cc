// vmm/vm_api.cc: a running VM's API methods (docs/api.md).
#include "vmm/vm_api.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "vmm/arch/machine.h"
#include "vmm/cli.h"
#include "vmm/device_request.h"

namespace tandem {

namespace {

using api::Json;
using api::Reply;

// Methods without parameters: any given are an invalid-params error naming the method.
void add_plain(api::Server& server, const std::string& method, std::function<Reply()> f) {
  server.add_method(method, [method, f = std::move(f)](const Json& p) -> Reply {
    if (!p.empty()) return api::error_reply(api::code::kInvalidParams, "invalid params: " + method + " takes no parameters");
    return f();
  });
}

std::string pci_address(uint8_t slot) {
  char pci[16];
  std::snprintf(pci, sizeof pci, "0000:00:%02x.0", slot);
  return pci;
}

Json value_json(const device_kinds::Value& v) {
  return std::visit([](const auto& x) { return Json(x); }, v);
}

// {"key": value, ...} of options (a backend's words, what the guest set).
Json options_json(const device_kinds::Options& options) {
  Json j = Json::object();
  for (const auto& o : options) j[o.key] = value_json(o.value);
  return j;
}

Json device_json(const DeviceInfo& d) {
  Json j = {{"id", d.id}, {"type", d.type}, {"pci", d.slot ? Json(pci_address(*d.slot)) : Json(nullptr)}, {"backend", options_json(d.backend)}};
  if (!d.mac.empty()) j["mac"] = d.mac;
  if (d.link) {
    static constexpr const char* kLink[] = {"down", "negotiating", "up", "stopping"};
    j["link"] = *d.link < 4 ? kLink[*d.link] : "unknown";
  }
  if (d.removing) j["removing"] = true;
  if (d.on_connect) j["hotplug_on_connect"] = true;
  if (!d.guest.empty()) j["guest"] = options_json(d.guest);
  return j;
}

Json counters_json(const std::vector<std::pair<std::string, uint64_t>>& values) {
  Json j = Json::object();
  for (const auto& [name, v] : values) j[name] = v;
  return j;
}

// vm.counters: each device's counters and each vCPU's exits to tandem by reason.
Json vm_counters(const VmParts& vm) {
  Json devices = Json::array(), vcpus = Json::array();
  for (const auto& d : vm.devices.list()) {
    devices.push_back(Json{{"id", d.id}, {"type", d.type}, {"counters", d.counters ? counters_json(d.counters->snapshot()) : Json::object()}});
  }
  auto exits = vm.vcpus.exit_counts();
  for (size_t i = 0; i < exits.size(); ++i) vcpus.push_back(Json{{"vcpu", i}, {"exits", counters_json(exits[i])}});
  return Json{{"devices", devices}, {"vcpus", vcpus}};
}

Json device_list(const DeviceManager& devices) {
  Json list = Json::array();
  for (const auto& d : devices.list()) list.push_back(device_json(d));
  return list;
}

int error_code(DeviceError::Kind kind) {
  switch (kind) {
    case DeviceError::Kind::kInvalid: return api::code::kInvalidParams;
    case DeviceError::Kind::kBackendFailed: return api::code::kBackendFailed;
    case DeviceError::Kind::kNoRoom: return api::code::kNoRoom;
    case DeviceError::Kind::kUnavailable: return api::code::kUnavailable;
    case DeviceError::Kind::kNotFound: return api::code::kNotFound;
    case DeviceError::Kind::kBusy: return api::code::kBusy;
    case DeviceError::Kind::kInternal: return api::code::kInternalError;
  }
  return api::code::kInternalError;
}

// A device manager's answer as the method's reply.
template <typename T, typename F>
Reply device_reply(const DeviceResult<T>& r, F&& to_json) {
  if (const auto* e = std::get_if<DeviceError>(&r)) return api::error_reply(error_code(e->kind), e->message);
  return to_json(std::get<T>(r));
}

std::string vm_state(const VmParts& vm) {
  if (vm.exit.requested()) return "stopping";
  if (vm.vcpus.paused()) return "paused";
  return vm.shutdown.pressed() ? "shutting-down" : "running";
}

Json vm_info(const VmParts& vm) {
  auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - vm.start).count();
  return Json{{"state", vm_state(vm)},   {"memory", vm.cfg.memory}, {"cpus", vm.cfg.cpus},
              {"kernel", vm.cfg.kernel}, {"initrd", vm.cfg.initrd}, {"cmdline", vm.cfg.cmdline},
              {"pid", ::getpid()},       {"uptime_s", up},          {"devices", device_list(vm.devices)}};
}

Reply vm_shutdown(const VmParts& vm) {
  if (vm.exit.requested()) return api::error_reply(api::code::kBusy, "vm.shutdown: the VM is stopping");
  if (!vm.shutdown.has_power_button()) {
    return api::error_reply(api::code::kUnavailable, std::string("vm.shutdown: this ") + arch::name() + " machine has no power button; use vm.kill");
  }
  if (vm.vcpus.paused()) {
    return api::error_reply(api::code::kBusy, "vm.shutdown: the VM is paused and cannot react to the power button; vm.resume it first, or vm.kill");
  }
  int64_t left = vm.shutdown.press("vm.shutdown", 128 + SIGTERM);
  return Json{{"power_button", "pressed"}, {"deadline_s", left}};
}

void add_run_methods(api::Server& server, const VmParts& vm) {
  add_plain(server, "vm.pause", [vm, &server]() -> Reply {
    if (vm.exit.requested()) return api::error_reply(api::code::kBusy, "vm.pause: the VM is stopping");
    if (vm.vcpus.paused()) return api::error_reply(api::code::kBusy, "vm.pause: the VM is already paused");
    vm.vcpus.pause();
    server.notify("vm.paused", Json::object());
    return Json{{"state", "paused"}};
  });
  add_plain(server, "vm.resume", [vm, &server]() -> Reply {
    if (vm.exit.requested()) return api::error_reply(api::code::kBusy, "vm.resume: the VM is stopping");
    if (!vm.vcpus.paused()) return api::error_reply(api::code::kBusy, "vm.resume: the VM is not paused");
    vm.vcpus.resume();
    server.notify("vm.resumed", Json::object());
    return Json{{"state", "running"}};
  });
  add_plain(server, "vm.shutdown", [vm] { return vm_shutdown(vm); });
  add_plain(server, "vm.kill", [vm]() -> Reply {
    vm.exit.request(exit_status::kKilled, "stopped through the API (vm.kill)");
    return Json{{"state", "stopping"}, {"status", exit_status::kKilled}};
  });
}

void add_device_methods(api::Server& server, const VmParts& vm) {
  add_plain(server, "device.list", [vm] { return Json{{"devices", device_list(vm.devices)}}; });
  add_plain(server, "vm.counters", [vm] { return vm_counters(vm); });
  server.add_method("device.add", [vm](const Json& p) -> Reply {
    auto req = parse_device_add(p);
    if (auto* e = std::get_if<api::RpcError>(&req)) return *e;
    if (vm.exit.requested()) return api::error_reply(api::code::kBusy, "device.add: the VM is stopping");
    const auto& r = std::get<DeviceRequest>(req);
    return device_reply(vm.devices.hot_add(r.id, r.spec), device_json);
  });
  server.add_method("device.remove", [vm](const Json& p) -> Reply {
    auto id = parse_device_remove(p);
    if (auto* e = std::get_if<api::RpcError>(&id)) return *e;
    if (vm.exit.requested()) return api::error_reply(api::code::kBusy, "device.remove: the VM is stopping");
    const std::string& which = std::get<std::string>(id);
    return device_reply(vm.devices.hot_remove(which, vm.vcpus.paused()), [&](DeviceManager::Removal state) {
      return Json{{"id", which}, {"state", state == DeviceManager::Removal::kRemoved ? "removed" : "removing"}};
    });
  });
}

}  // namespace

std::pair<std::string, Json> device_event_notification(const DeviceEvent& e) {
  using Kind = DeviceEvent::Kind;
  switch (e.kind) {
    case Kind::kPeerConnected: return {"peer.connected", Json{{"device", e.id}, {"detail", e.detail}}};
    case Kind::kPeerDisconnected: return {"peer.disconnected", Json{{"device", e.id}, {"detail", e.detail}}};
    case Kind::kAdded: return {"device.added", e.device ? device_json(*e.device) : Json{{"id", e.id}}};
    case Kind::kRemoveFailed: return {"device.remove-failed", Json{{"id", e.id}, {"reason", e.detail}}};
    case Kind::kRemoved: break;
  }
  Json j{{"id", e.id}, {"pci", e.slot ? Json(pci_address(*e.slot)) : Json(nullptr)}, {"requested", e.requested}};
  if (e.waiting) j["waiting"] = true;
  return {"device.removed", j};
}

void add_vm_methods(api::Server& server, const VmParts& vm) {
  add_plain(server, "vmm.ping", [] { return Json{{"pong", true}}; });
  add_plain(server, "vmm.version", [] { return Json{{"version", kVersion}, {"api", "1"}}; });
  add_plain(server, "vm.info", [vm] { return vm_info(vm); });
  add_run_methods(server, vm);
  add_device_methods(server, vm);
}

}  // namespace tandem
