// vmm/device_kinds/options.cc: device settings from "KEY=VALUE,..." text, and read back by name.
#include "vmm/device_kinds/options.h"

#include "base/size_text.h"

namespace tandem::device_kinds {

std::string value_text(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "on" : "off";
  return std::to_string(std::get<uint64_t>(v));
}

std::string options_text(const Options& options) {
  std::string out;
  for (const auto& o : options) out += (out.empty() ? "" : ",") + o.key + "=" + value_text(o.value);
  return out;
}

const Key* find_key(std::span<const Key> keys, const std::string& name) {
  for (const Key& k : keys) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

std::string key_names(std::span<const Key> keys) {
  std::string out;
  for (const Key& k : keys) out += std::string(out.empty() ? "" : ", ") + k.name;
  return out;
}

Status check_string(const std::string& s) {
  if (s.empty()) return Error{"is empty"};
  if (s.find(',') != std::string::npos) return Error{"must not contain ','"};
  return {};
}

Result<Value> count_value(const Key& key, uint64_t n) {
  if (n > key.max) return Error{std::string("expected ") + key.expect};
  return Value{n};
}

Result<Value> value_from_text(const Key& key, const std::string& text) {
  switch (key.type) {
    case ValueType::kString:
      return Value{text};
    case ValueType::kOnOff:
      if (text != "on" && text != "off") return Error{"expected on or off"};
      return Value{text == "on"};
    case ValueType::kSize: {
      auto size = parse_size(text);
      if (!size) return size.error();
      return Value{*size};
    }
    case ValueType::kCount: {
      uint64_t n = 0;
      bool ok = !text.empty() && text.size() <= 19;  // 19 digits always fit in 64 bits
      for (char c : text) {
        ok = ok && c >= '0' && c <= '9';
        if (ok) n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      if (!ok) return Error{std::string("expected ") + key.expect};
      return count_value(key, n);
    }
  }
  return Error{"unknown value type"};
}

Result<Options> options_from_text(const std::string& text, std::span<const Key> keys) {
  Options out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? text.size() + 1 : comma + 1;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      return Error{"'" + item + "' in '" + text + "' is not KEY=VALUE"};
    }
    std::string name = item.substr(0, eq), value = item.substr(eq + 1);
    const Key* key = find_key(keys, name);
    if (!key) return Error{"unknown key '" + name + "' in '" + text + "' (expected " + key_names(keys) + ")"};
    if (OptionReader(out).has(key->name)) return Error{"'" + text + "' gives " + name + "= twice"};
    auto v = value_from_text(*key, value);
    if (!v) return Error{item + ": " + v.message()};
    out.push_back({name, std::move(v).value()});
  }
  return out;
}

const Value* OptionReader::get(const char* key) const {
  const Value* found = nullptr;
  for (const auto& o : options_) {
    if (o.key == key) found = &o.value;
  }
  return found;
}

size_t OptionReader::count(const char* key) const {
  size_t n = 0;
  for (const auto& o : options_) n += o.key == key;
  return n;
}

std::optional<std::string> OptionReader::string(const char* key) const {
  const Value* v = get(key);
  if (const auto* s = v ? std::get_if<std::string>(v) : nullptr) return *s;
  return std::nullopt;
}

std::optional<bool> OptionReader::on_off(const char* key) const {
  const Value* v = get(key);
  if (const auto* b = v ? std::get_if<bool>(v) : nullptr) return *b;
  return std::nullopt;
}

std::optional<uint64_t> OptionReader::number(const char* key) const {
  const Value* v = get(key);
  if (const auto* n = v ? std::get_if<uint64_t>(v) : nullptr) return *n;
  return std::nullopt;
}

}  // namespace tandem::device_kinds
