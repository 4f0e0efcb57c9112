// vmm/vm_api.cc: a running VM's API methods, and device.add / device.remove parameters, checked
// with the command line's parsers.
#include "vmm/vm_api.h"

#include <unistd.h>

#include <csignal>

#include "vmm/arch/machine.h"
#include "vmm/cli.h"

namespace tandem {

namespace {

api::RpcError invalid(const std::string& m) { return api::RpcError{api::code::kInvalidParams, "invalid params: " + m, nullptr}; }

// The string value of params[key], or an error naming it.
std::variant<std::string, api::RpcError> string_param(const api::Json& p, const char* key) {
  const auto& v = p.at(key);
  if (!v.is_string()) return invalid(std::string("\"") + key + "\" must be a string");
  std::string s = v.get<std::string>();
  if (s.empty()) return invalid(std::string("\"") + key + "\" is empty");
  if (s.find(',') != std::string::npos) return invalid(std::string("\"") + key + "\" must not contain ','");
  return s;
}

}  // namespace

bool valid_device_id(const std::string& id) {
  if (id.empty() || id.size() > 32 || id[0] < 'a' || id[0] > 'z') return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

std::variant<DeviceRequest, api::RpcError> parse_device_add(const api::Json& params) {
  if (!params.is_object()) return invalid("expected an object with \"type\"");
  auto t = params.find("type");
  if (t == params.end()) return invalid("missing \"type\" (virtio-net or vhost-pci-net)");
  if (!t->is_string()) return invalid("\"type\" must be a string (virtio-net or vhost-pci-net)");
  const std::string type = t->get<std::string>();
  DeviceRequest req;
  if (auto id = params.find("id"); id != params.end()) {
    if (!id->is_string() || !valid_device_id(id->get<std::string>())) {
      return invalid("\"id\" must be 1 to 32 characters of a-z, 0-9, '_' and '-', starting with a letter");
    }
    req.id = id->get<std::string>();
  }
  std::string cli;  // the equivalent command-line value
  if (type == "virtio-net") {
    if (auto e = api::expect_keys(params, {"type", "id", "tap", "vhost-user", "vhost", "coalesce", "mac"}); std::holds_alternative<api::RpcError>(e)) {
      return std::get<api::RpcError>(e);
    }
    for (const char* key : {"tap", "vhost-user", "mac"}) {
      if (!params.contains(key)) continue;
      auto v = string_param(params, key);
      if (auto* e = std::get_if<api::RpcError>(&v)) return *e;
      cli += std::string(cli.empty() ? "" : ",") + key + "=" + std::get<std::string>(v);
    }
    if (auto v = params.find("vhost"); v != params.end()) {
      if (v->is_boolean()) {
        cli += std::string(",vhost=") + (v->get<bool>() ? "on" : "off");
      } else if (v->is_string() && (*v == "on" || *v == "off")) {
        cli += ",vhost=" + v->get<std::string>();
      } else {
        return invalid("\"vhost\" must be true, false, \"on\" or \"off\"");
      }
    }
    if (auto v = params.find("coalesce"); v != params.end()) {
      // A JSON integer (nlohmann keeps signed and unsigned apart); its text is its decimal digits.
      const bool negative = v->is_number_integer() && !v->is_number_unsigned() && v->get<int64_t>() < 0;
      if (!v->is_number_integer() || negative) return invalid("\"coalesce\" must be a whole number of microseconds");
      cli += ",coalesce=" + v->dump();
    }
    if (!params.contains("tap") && !params.contains("vhost-user")) return invalid("a virtio-net needs \"tap\" or \"vhost-user\"");
    auto spec = parse_net(cli);
    if (!spec) return invalid(spec.message());
    req.spec = *spec;
  } else if (type == "vhost-pci-net") {
    if (auto e = api::expect_keys(params, {"type", "id", "socket", "bar", "mode", "listen", "section"}); std::holds_alternative<api::RpcError>(e)) {
      return std::get<api::RpcError>(e);
    }
    if (!params.contains("socket")) return invalid("a vhost-pci-net needs \"socket\"");
    auto s = string_param(params, "socket");
    if (auto* e = std::get_if<api::RpcError>(&s)) return *e;
    cli = "socket=" + std::get<std::string>(s);
    if (params.contains("mode")) {
      auto v = string_param(params, "mode");
      if (auto* e = std::get_if<api::RpcError>(&v)) return *e;
      cli += ",mode=" + std::get<std::string>(v);
    }
    if (auto v = params.find("listen"); v != params.end()) {
      if (!v->is_boolean()) return invalid("\"listen\" must be true or false");
      cli += std::string(",listen=") + (v->get<bool>() ? "on" : "off");
    }
    for (const char* key : {"bar", "section"}) {
      auto b = params.find(key);
      if (b == params.end()) continue;
      if (b->is_string()) {
        auto v = string_param(params, key);
        if (auto* e = std::get_if<api::RpcError>(&v)) return *e;
        cli += std::string(",") + key + "=" + std::get<std::string>(v);
      } else if (b->is_number_unsigned() || (b->is_number_integer() && b->get<int64_t>() > 0)) {
        cli += std::string(",") + key + "=" + std::to_string(b->get<uint64_t>());
      } else {
        return invalid(std::string("\"") + key + "\" must be a size (\"" + (key[0] == 'b' ? "16G" : "4M") + "\") or a number of bytes");
      }
    }
    auto spec = parse_vhost_pci(cli);
    if (!spec) return invalid(spec.message());
    req.spec = *spec;
  } else {
    return invalid("unknown device type \"" + type + "\" (virtio-net or vhost-pci-net)");
  }
  return req;
}

std::variant<std::string, api::RpcError> parse_device_remove(const api::Json& params) {
  if (auto e = api::expect_keys(params, {"id"}); std::holds_alternative<api::RpcError>(e)) return std::get<api::RpcError>(e);
  auto id = params.find("id");
  if (id == params.end()) return invalid("missing \"id\" (see device.list)");
  if (!id->is_string()) return invalid("\"id\" must be a string");
  return id->get<std::string>();
}

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
