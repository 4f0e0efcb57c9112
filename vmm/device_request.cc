// vmm/device_request.cc: device.add / device.remove parameters, read as the device kind's typed
// options and checked by the kind.
#include "vmm/device_request.h"

namespace tandem {

namespace {

using device_kinds::Key;
using device_kinds::Value;
using device_kinds::ValueType;

api::RpcError invalid(const std::string& m) { return api::RpcError{api::code::kInvalidParams, "invalid params: " + m, nullptr}; }

// params[key.name] as the value `key` takes, or an error naming it.
std::variant<Value, api::RpcError> json_value(const Key& key, const api::Json& v) {
  const std::string name = std::string("\"") + key.name + "\"";
  const std::string wrong = name + " must be " + key.expect;
  switch (key.type) {
    case ValueType::kString: {
      if (!v.is_string()) return invalid(name + " must be a string");
      std::string s = v.get<std::string>();
      if (auto ok = device_kinds::check_string(s); !ok) return invalid(name + " " + ok.message());
      return Value{s};
    }
    case ValueType::kOnOff:
      if (v.is_boolean()) return Value{v.get<bool>()};
      if (v.is_string() && (v == "on" || v == "off")) return Value{v == "on"};
      return invalid(name + " must be true, false, \"on\" or \"off\"");
    case ValueType::kSize:
      if (v.is_string()) {
        auto size = device_kinds::value_from_text(key, v.get<std::string>());
        if (!size) return invalid(std::string(key.name) + "=" + v.get<std::string>() + ": " + size.message());
        return *size;
      }
      if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() > 0)) return Value{v.get<uint64_t>()};
      return invalid(wrong);
    case ValueType::kCount: {
      // A JSON integer (nlohmann keeps signed and unsigned apart).
      const bool negative = v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0;
      if (!v.is_number_integer() || negative) return invalid(wrong);
      auto n = device_kinds::count_value(key, v.get<uint64_t>());
      if (!n) return invalid(wrong);
      return *n;
    }
  }
  return invalid(wrong);
}

// The params of one kind's device.add: its API keys, in the order of its key table.
template <typename K>
std::variant<DeviceSpec, api::RpcError> kind_params(K, const api::Json& params) {
  std::vector<std::string> allowed{"type", "id"};
  for (const Key& k : K::keys()) {
    if (k.api) allowed.push_back(k.name);
  }
  if (auto e = api::expect_keys(params, allowed); std::holds_alternative<api::RpcError>(e)) return std::get<api::RpcError>(e);
  device_kinds::Options options;
  for (const Key& k : K::keys()) {
    auto v = params.find(k.name);
    if (v == params.end()) continue;
    auto value = json_value(k, *v);
    if (auto* e = std::get_if<api::RpcError>(&value)) return *e;
    options.push_back({k.name, std::get<Value>(value)});
  }
  auto spec = K::from_options(options);
  if (!spec) return invalid(spec.message());
  return DeviceSpec{*spec};
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
  const std::string kinds = " (" + device_kinds::kind_names() + ")";
  if (!params.is_object()) return invalid("expected an object with \"type\"");
  auto t = params.find("type");
  if (t == params.end()) return invalid("missing \"type\"" + kinds);
  if (!t->is_string()) return invalid("\"type\" must be a string" + kinds);
  DeviceRequest req;
  if (auto id = params.find("id"); id != params.end()) {
    if (!id->is_string() || !valid_device_id(id->get<std::string>())) {
      return invalid("\"id\" must be 1 to 32 characters of a-z, 0-9, '_' and '-', starting with a letter");
    }
    req.id = id->get<std::string>();
  }
  std::variant<DeviceSpec, api::RpcError> spec = invalid("unknown device type \"" + t->get<std::string>() + "\"" + kinds);
  device_kinds::Kinds::with_name(t->get<std::string>(), [&](auto kind) { spec = kind_params(kind, params); });
  if (auto* e = std::get_if<api::RpcError>(&spec)) return *e;
  req.spec = std::get<DeviceSpec>(spec);
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
