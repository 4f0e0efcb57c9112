// vmm/device_request.cc: device.add / device.remove parameters, checked with the command line's
// parsers.
#include "vmm/device_request.h"

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

}  // namespace tandem
