// vmm/vm_api.cc: a running VM's API methods (docs/api.md).
#include "vmm/vm_api.h"

#include <unistd.h>

#include <csignal>

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

std::string vm_state(const VmParts& vm) {
  if (vm.exit.requested()) return "stopping";
  if (vm.vcpus.paused()) return "paused";
  return vm.shutdown.pressed() ? "shutting-down" : "running";
}

Json vm_info(const VmParts& vm) {
  auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - vm.start).count();
  return Json{{"state", vm_state(vm)},   {"memory", vm.cfg.memory}, {"cpus", vm.cfg.cpus},
              {"kernel", vm.cfg.kernel}, {"initrd", vm.cfg.initrd}, {"cmdline", vm.cfg.cmdline},
              {"pid", ::getpid()},       {"uptime_s", up},          {"devices", vm.devices.list()}};
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
  add_plain(server, "device.list", [vm] { return Json{{"devices", vm.devices.list()}}; });
  server.add_method("device.add", [vm](const Json& p) -> Reply {
    auto req = parse_device_add(p);
    if (auto* e = std::get_if<api::RpcError>(&req)) return *e;
    if (vm.exit.requested()) return api::error_reply(api::code::kBusy, "device.add: the VM is stopping");
    return vm.devices.hot_add(std::get<DeviceRequest>(req));
  });
  server.add_method("device.remove", [vm](const Json& p) -> Reply {
    auto id = parse_device_remove(p);
    if (auto* e = std::get_if<api::RpcError>(&id)) return *e;
    if (vm.exit.requested()) return api::error_reply(api::code::kBusy, "device.remove: the VM is stopping");
    return vm.devices.hot_remove(std::get<std::string>(id), vm.vcpus.paused());
  });
}

}  // namespace

void add_vm_methods(api::Server& server, const VmParts& vm) {
  add_plain(server, "vmm.ping", [] { return Json{{"pong", true}}; });
  add_plain(server, "vmm.version", [] { return Json{{"version", kVersion}, {"api", "1"}}; });
  add_plain(server, "vm.info", [vm] { return vm_info(vm); });
  add_run_methods(server, vm);
  add_device_methods(server, vm);
}

}  // namespace tandem
