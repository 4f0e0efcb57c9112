// vmm/device_kinds/options.h: a device's settings as typed key/value pairs, whatever their source.
//
// A device kind (virtio_net.h, vhost_pci_net.h) names its keys and their value types once. The
// command line's "KEY=VALUE,..." text, an API call's JSON object and a manifest's TOML table all
// become the same Options, checked against those keys, and the kind turns Options into its typed
// spec: no source is translated into another source's syntax on the way.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.h"

namespace tandem::device_kinds {

enum class ValueType {
  kString,  // non-empty, no ','
  kOnOff,   // on/off in text; true/false (or "on"/"off") in JSON and TOML
  kSize,    // "512M"-style text, or a number of bytes
  kCount,   // a whole number
};

using Value = std::variant<std::string, bool, uint64_t>;

struct Option {
  std::string key;
  Value value;
};
using Options = std::vector<Option>;

struct Key {
  const char* name;
  ValueType type;
  const char* expect;  // for a value of the wrong type: "a whole number of microseconds"
  bool api = true;     // false: the command line and the manifest only (not device.add)
  uint64_t max = UINT64_MAX;  // kCount: larger is of the wrong type too
  bool file = false;   // kString naming a file: a manifest reads it relative to its own directory
};

// "on", "4194304", "tp0": how a value reads in "KEY=VALUE" text.
std::string value_text(const Value& v);
// "k1=v1,k2=v2": the command line's form of `options`.
std::string options_text(const Options& options);
// The key named `name`, or nullptr.
const Key* find_key(std::span<const Key> keys, const std::string& name);
// The names of `keys`, joined by ", " (for "expected ..." in messages).
std::string key_names(std::span<const Key> keys);

// A kString value from JSON or TOML: "is empty" or "must not contain ','" (a value is written into
// the command line's KEY=VALUE,... text when tandem up starts a VM, and read back from it).
Status check_string(const std::string& s);
// A kCount value as `key` takes it (at most key.max), else "expected ...".
Result<Value> count_value(const Key& key, uint64_t n);

// "k1=v1,k2=v2" into Options: every item KEY=VALUE, every key one of `keys`, every value of its
// key's type. Errors name the bad part.
Result<Options> options_from_text(const std::string& text, std::span<const Key> keys);
// Kind K's spec from its command-line text: its keys, then K::from_options.
template <typename K>
auto spec_from_text(const std::string& text) -> decltype(K::from_options(std::declval<const Options&>())) {
  auto options = options_from_text(text, K::keys());
  if (!options) return options.error();
  return K::from_options(*options);
}
// A value as `key` wants it from text ("on" for kOnOff, "4M" for kSize...): an error says what
// was expected.
Result<Value> value_from_text(const Key& key, const std::string& text);

// Reads Options in a kind's from_options(): by name, the last of a repeated key.
class OptionReader {
 public:
  explicit OptionReader(const Options& options) : options_(options) {}
  const Value* get(const char* key) const;
  bool has(const char* key) const { return get(key) != nullptr; }
  std::optional<std::string> string(const char* key) const;
  std::optional<bool> on_off(const char* key) const;
  std::optional<uint64_t> number(const char* key) const;  // kSize and kCount
  // How often `key` was given (text may repeat a key; the last one counts).
  size_t count(const char* key) const;

 private:
  const Options& options_;
};

}  // namespace tandem::device_kinds
