// vmm/manifest/expand.cc: `${NAME}` expansion of manifest strings (expand.h).
#include "vmm/manifest/expand.h"

#include <cstdlib>
#include <iterator>

namespace tandem::manifest {
namespace {

constexpr size_t kMaxName = 64;
constexpr size_t kMaxResult = 64 * 1024;

// The variables a manifest may read, by exact name: where things are (HOME, USER, XDG base
// directories) and tandem's own file names. Not the rest, nor a prefix of names: a manifest from
// someone else must not carry the user's secrets ($AWS_SECRET_ACCESS_KEY, $XDG_SESSION_COOKIE...)
// into a guest's command line or tandem's argv (which every local user can read).
constexpr std::string_view kReadable[] = {
    "HOME",           "USER",         "XDG_RUNTIME_DIR",     "XDG_CACHE_HOME",      "XDG_DATA_HOME",
    "XDG_CONFIG_HOME", "TANDEM_CACHE", "TANDEM_GUEST_KERNEL", "TANDEM_GUEST_INITRD", "TANDEM_DEBIAN_DISK",
    "TANDEM_DEBIAN_KERNEL", "TANDEM_DEBIAN_INITRD"};

bool readable(std::string_view name) {
  for (auto n : kReadable) {
    if (name == n) return true;
  }
  return false;
}

// "HOME, USER, ... and TANDEM_DEBIAN_INITRD", for the error message.
std::string readable_names() {
  std::string out;
  for (size_t i = 0; i < std::size(kReadable); ++i) {
    out += i == 0 ? "" : (i + 1 == std::size(kReadable) ? " and " : ", ");
    out += kReadable[i];
  }
  return out;
}

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

// The NAME of "${NAME}" starting at text[at] ("${"); sets `end` past the '}'.
Result<std::string> variable_at(std::string_view text, size_t at, size_t& end) {
  size_t close = text.find('}', at + 2);
  if (close == std::string_view::npos) return Error{"'${' without its '}' (write $${ for a literal ${)"};
  std::string_view name = text.substr(at + 2, close - at - 2);
  bool ok = !name.empty() && name.size() <= kMaxName && name_start(name[0]);
  for (char c : name) ok = ok && name_char(c);
  if (!ok) {
    return Error{"'${" + std::string(name.substr(0, kMaxName)) +
                 "}' is not a variable name (letters, digits and '_', not starting with a digit, at most 64)"};
  }
  end = close + 1;
  return std::string(name);
}

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

Result<std::string> expand_env(std::string_view text, const EnvLookup& lookup) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
    } else if (text.compare(i, 2, "${") == 0) {
      size_t end = 0;
      auto name = variable_at(text, i, end);
      if (!name) return name.error();
      if (!readable(*name)) {
        return Error{"${" + *name + "}: a manifest reads only " + readable_names() + " from the environment"};
      }
      auto value = lookup(*name);
      if (!value) return Error{"${" + *name + "} is not set in the environment"};
      out += *value;
      i = end;
    } else {
      out += text[i++];
    }
    if (out.size() > kMaxResult) return Error{"longer than 64 KiB once its ${...} are expanded"};
  }
  return out;
}

}  // namespace tandem::manifest
