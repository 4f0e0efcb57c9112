// vmm/manifest/manifest.cc: parsing (toml++) and validation of `tandem up` manifests: the
// top-level keys, each [[vm]]'s own settings, the start order and the file checks (the device
// tables and `peer` references are in manifest_devices.cc).
#include "vmm/manifest/manifest.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <tuple>

#include "base/unix_socket.h"
#include "vmm/arch/machine.h"
#include "vmm/manifest/manifest_parser.h"

namespace tandem::manifest {

namespace detail {

namespace {

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

std::string what_prefix(const std::string& what) { return what == "manifest" ? "" : "vm."; }

}  // namespace

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 32 || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/' || base_dir == ".") return p;
  return base_dir + "/" + p;
}

std::string Checker::where(const toml::source_region& at) const {
  return path_ + ":" + std::to_string(at.begin.line) + ":" + std::to_string(at.begin.column);
}

void Checker::error(const toml::source_region& at, const std::string& message) {
  if (errors_.size() < kMaxErrors) errors_.push_back({at.begin.line, at.begin.column, where(at) + ": " + message});
}

Error Checker::result() const {
  std::vector<Found> sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Found& a, const Found& b) { return std::tie(a.line, a.column) < std::tie(b.line, b.column); });
  std::vector<std::string> lines;
  for (const auto& f : sorted) lines.push_back(f.text);
  return Error{join(lines, "\n")};
}

void Checker::only_keys(const toml::table& table, const std::vector<std::string>& allowed, const std::string& what) {
  for (auto&& [key, node] : table) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
    error(key.source(), what + ": unknown key '" + std::string(key.str()) + "' (expected " + join(allowed, ", ") + ")");
  }
}

std::optional<std::string> Checker::string(const toml::table& t, const char* key, const std::string& what) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto* s = n->as_string()) {
    auto expanded = expand_env(s->get(), env_);
    if (expanded) return std::move(*expanded);
    error(n->source(), what + ": '" + key + "': " + expanded.message());
    return std::nullopt;
  }
  error(n->source(), what + ": '" + key + "' must be a string, not " + type_name(*n));
  return std::nullopt;
}

std::optional<int64_t> Checker::integer(const toml::table& t, const char* key, const std::string& what, int64_t lo,
                                        int64_t hi) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  auto* i = n->as_integer();
  if (!i) {
    error(n->source(), what + ": '" + key + "' must be an integer, not " + type_name(*n));
    return std::nullopt;
  }
  if (i->get() < lo || i->get() > hi) {
    error(n->source(), what + ": '" + key + "' is " + std::to_string(i->get()) + "; expected " +
                           std::to_string(lo) + " to " + std::to_string(hi));
    return std::nullopt;
  }
  return i->get();
}

std::optional<bool> Checker::boolean(const toml::table& t, const char* key, const std::string& what) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto* b = n->as_boolean()) return b->get();
  error(n->source(), what + ": '" + key + "' must be true or false, not " + type_name(*n));
  return std::nullopt;
}

std::optional<uint64_t> Checker::size(const toml::table& t, const char* key, const std::string& what) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto* i = n->as_integer()) {
    if (i->get() > 0) return static_cast<uint64_t>(i->get());
    error(n->source(), what + ": '" + key + "' must be a positive number of bytes or a size like \"512M\"");
    return std::nullopt;
  }
  auto* s = n->as_string();
  if (!s) {
    error(n->source(), what + ": '" + key + "' must be a size like \"512M\", not " + type_name(*n));
    return std::nullopt;
  }
  auto v = parse_size(s->get());
  if (!v) {
    error(n->source(), what + ": '" + key + "': " + v.message());
    return std::nullopt;
  }
  return *v;
}

std::vector<const toml::table*> Checker::tables(const toml::table& t, const char* key, const std::string& what) {
  std::vector<const toml::table*> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  auto* arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    error(n->source(), what + ": '" + key + "' must be an array of tables ([[" + what_prefix(what) + key +
                           "]]), not " + type_name(*n));
    return out;
  }
  for (auto& el : *arr) out.push_back(el.as_table());
  return out;
}

// The keys outside any table; returns the [[vm]] tables (at most kMaxVms).
std::vector<const toml::table*> Parser::top_level(const toml::table& root) {
  toml::source_region top{};
  top.begin = {1, 1};
  c.only_keys(root, {"run_dir", "shutdown_timeout", "sequential_boot", "vm"}, "manifest");
  m.run_dir = resolve(base, c.string(root, "run_dir", "manifest").value_or(defaults.run_dir));
  if (m.run_dir.empty()) c.error(top, "manifest: no run directory: set 'run_dir'");
  if (auto t = c.integer(root, "shutdown_timeout", "manifest", 1, 3600)) m.shutdown_timeout_s = static_cast<uint32_t>(*t);
  if (auto b = c.boolean(root, "sequential_boot", "manifest")) m.sequential_boot = *b;

  auto vm_tables = c.tables(root, "vm", "manifest");
  if (vm_tables.empty() && !c.failed()) c.error(top, "manifest: no [[vm]] table: a manifest describes at least one VM");
  if (vm_tables.size() > kMaxVms) {
    c.error(vm_tables[kMaxVms]->source(), "manifest: more than " + std::to_string(kMaxVms) + " VMs");
    vm_tables.resize(kMaxVms);
  }
  return vm_tables;
}

// One [[vm]] table, its devices included; adds the VM to the manifest.
void Parser::vm(size_t vi, const toml::table& t) {
  VmTable v{vi, t, "vm[" + std::to_string(vi) + "]", Vm{}};
  vm_at.push_back(t.source());
  vm_name(v);
  std::vector<std::string> keys{"name", "arch", "kernel", "initrd", "cmdline", "memory", "cpus", "xsave", "serial", "api_socket", "restart", "seccomp"};
  device_kinds::Kinds::each([&](auto kind) { keys.push_back(decltype(kind)::kTable); });
  c.only_keys(t, keys, v.what);
  vm_boot_settings(v);
  vm_run_settings(v);
  device_tables(v);
  VmConfig& cfg = v.vm.config;
  if (cfg.devices.size() > kMaxDevicesPerVm) {
    c.error(t.source(), v.what + ": " + std::to_string(cfg.devices.size()) + " network devices; at most " + std::to_string(kMaxDevicesPerVm));
  }
  cfg.shutdown_timeout_s = m.shutdown_timeout_s;
  m.vms.push_back(std::move(v.vm));
}

// `name`: valid and unique; from then on, messages name the VM by it.
void Parser::vm_name(VmTable& v) {
  const toml::table& t = v.t;
  if (auto name = c.string(t, "name", v.what)) {
    if (!valid_name(*name)) {
      c.error(t.get("name")->source(), v.what + ": name " + quoted(*name) +
                                           " must be 1-32 letters, digits, '-' or '_', starting with a letter or digit");
    } else {
      v.vm.name = *name;
      std::string first = names.claim(*name, c.where(t.get("name")->source()));
      if (!first.empty()) c.error(t.get("name")->source(), v.what + ": duplicate VM name " + quoted(*name) + " (first at " + first + ")");
    }
  } else if (!t.get("name")) {
    c.error(t.source(), v.what + ": no 'name' (every VM needs one: it names its console, sockets and MACs)");
  }
  if (!v.vm.name.empty()) v.what = "vm " + quoted(v.vm.name);
}

// What the guest boots on: arch, kernel, initrd, cmdline, memory, cpus, xsave.
void Parser::vm_boot_settings(VmTable& v) {
  const toml::table& t = v.t;
  const std::string& what = v.what;
  if (auto s = c.string(t, "arch", what)) {
    const auto& at = t.get("arch")->source();
    if (*s != "x86_64" && *s != "aarch64") {
      c.error(at, what + ": arch " + quoted(*s) + " is not \"x86_64\" or \"aarch64\"");
    } else if (*s != arch::name()) {
      c.error(at, what + ": arch " + quoted(*s) + ", but this tandem is built for " + arch::name() +
                      (*s == "aarch64" ? " (tools/build-aarch64 builds an aarch64 one)" : ""));
    }
  }
  VmConfig& cfg = v.vm.config;
  cfg.kernel = path_key(t, "kernel", what, defaults.kernel);
  cfg.initrd = path_key(t, "initrd", what, defaults.initrd);
  if (cfg.kernel.empty()) c.error(t.source(), what + ": no 'kernel', and neither $TANDEM_GUEST_KERNEL nor /boot/vmlinuz-<running release> to default to (guest-images/build --env prints a kernel and an initrd)");
  if (auto s = c.string(t, "cmdline", what)) cfg.cmdline = *s;
  if (auto s = c.size(t, "memory", what)) cfg.memory = *s;
  if (auto i = c.integer(t, "cpus", what, 1, 255)) cfg.cpus = static_cast<uint32_t>(*i);
  if (auto b = c.boolean(t, "xsave", what)) cfg.xsave = *b;
}

// How `tandem up` runs it: serial, api_socket, seccomp, restart.
void Parser::vm_run_settings(VmTable& v) {
  const toml::table& t = v.t;
  const std::string& what = v.what;
  VmConfig& cfg = v.vm.config;
  if (auto s = c.string(t, "serial", what)) {
    if (*s == "console") {
      v.vm.console = true;
    } else {
      auto serial = parse_serial(*s);
      if (!serial || serial->kind == SerialSpec::Kind::kStdio) {
        c.error(t.get("serial")->source(), what + ": serial " + quoted(*s) + " is not \"console\", \"none\" or \"file:PATH\"");
      } else {
        v.vm.console = false;
        cfg.serial = *serial;
        cfg.serial.path = resolve(base, cfg.serial.path);
      }
    }
  }
  if (auto s = c.string(t, "api_socket", what)) {
    cfg.api_socket = resolve(base, *s);
    const auto& at = t.get("api_socket")->source();
    if (cfg.api_socket.size() > kUnixPathMax) {
      c.error(at, what + ": api_socket is " + std::to_string(cfg.api_socket.size()) + " bytes long; a Unix socket path has at most " + std::to_string(kUnixPathMax));
    } else if (std::string first = sockets.claim(cfg.api_socket, c.where(at)); !first.empty()) {
      c.error(at, what + ": socket " + cfg.api_socket + " is already used at " + first);
    }
  }
  if (auto s = c.string(t, "seccomp", what)) {
    if (auto mode = seccomp::parse_mode(*s)) cfg.seccomp = *mode;
    else c.error(t.get("seccomp")->source(), what + ": seccomp " + quoted(*s) + " is not \"on\", \"log\" or \"off\"");
  }
  if (auto s = c.string(t, "restart", what)) {
    if (*s == "no") v.vm.restart = Restart::kNo;
    else if (*s == "on-failure") v.vm.restart = Restart::kOnFailure;
    else c.error(t.get("restart")->source(), what + ": restart " + quoted(*s) + " is not \"no\" or \"on-failure\"");
  }
}

// A path from the manifest (relative to its directory), or `fallback` when `key` is not there.
std::string Parser::path_key(const toml::table& in, const char* key, const std::string& what, const std::string& fallback) {
  auto v = c.string(in, key, what);
  return v ? resolve(base, *v) : fallback;
}

// Start order: a VM after every VM whose vhost-pci-net it connects to (from a virtio-net or a
// symmetric vhost-pci-net); manifest order otherwise. Nothing (and the cycle reported) when the
// peers form a cycle.
std::optional<std::vector<size_t>> Parser::start_order() {
  std::vector<size_t> order;
  std::vector<bool> placed(m.vms.size(), false);
  while (order.size() < m.vms.size()) {
    bool progress = false;
    for (size_t i = 0; i < m.vms.size(); ++i) {
      if (placed[i]) continue;
      if (std::all_of(needs[i].begin(), needs[i].end(), [&](size_t j) { return placed[j]; })) {
        placed[i] = true;
        order.push_back(i);
        progress = true;
      }
    }
    if (!progress) {
      report_cycle(placed);
      return std::nullopt;
    }
  }
  return order;
}

// Walks the unplaced VMs' needs until a VM repeats: that is a cycle.
void Parser::report_cycle(const std::vector<bool>& placed) {
  size_t start = 0;
  while (placed[start]) ++start;
  std::vector<size_t> path{start};
  while (true) {
    size_t next = *std::find_if(needs[path.back()].begin(), needs[path.back()].end(), [&](size_t j) { return !placed[j]; });
    auto seen = std::find(path.begin(), path.end(), next);
    if (seen != path.end()) {
      std::vector<std::string> cyc;
      for (auto it = seen; it != path.end(); ++it) cyc.push_back(m.vms[*it].name);
      cyc.push_back(m.vms[next].name);
      bool symmetric = false;
      for (auto it = seen; it != path.end(); ++it) {
        symmetric = symmetric || symmetric_links.count({*it, it + 1 == path.end() ? next : *(it + 1)});
      }
      c.error(vm_at[*seen], "vm " + quoted(m.vms[*seen].name) + ": the peers form a cycle (" + join(cyc, " -> ") + "): each VM" +
                                (symmetric ? " connects to the next one's vhost-pci-net, which must listen first"
                                           : "'s virtio-net needs the next one's vhost-pci-net listening first") +
                                ", so no start order exists");
      return;
    }
    path.push_back(next);
  }
}

// Every VM's kernel and initrd, read and checked as `tandem vm` would.
void Parser::check_files() {
  for (size_t i = 0; i < m.vms.size(); ++i) {
    auto files = validate(m.vms[i].config);
    if (!files) c.error(vm_at[i], "vm " + quoted(m.vms[i].name) + ": " + files.message());
  }
}

}  // namespace detail

Result<Manifest> parse_manifest(std::string_view text, const std::string& path, const Defaults& defaults) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Error{path + ":" + std::to_string(e.source().begin.line) + ":" + std::to_string(e.source().begin.column) +
                 ": not valid TOML: " + std::string(e.description())};
  }
  detail::Parser p(path, defaults);
  auto vm_tables = p.top_level(root);
  for (size_t vi = 0; vi < vm_tables.size(); ++vi) p.vm(vi, *vm_tables[vi]);
  p.resolve_peers();
  if (p.c.failed()) return p.c.result();

  auto order = p.start_order();
  if (!order) return p.c.result();
  Manifest& m = p.m;
  for (size_t i = 0; i < m.vms.size(); ++i) {
    for (size_t j : p.needs[i]) m.vms[i].after.push_back(m.vms[j].name);
  }
  if (defaults.check_files) {
    p.check_files();
    if (p.c.failed()) return p.c.result();
  }
  std::vector<Vm> sorted;
  for (size_t i : *order) sorted.push_back(std::move(m.vms[i]));
  m.vms = std::move(sorted);
  return std::move(m);
}

Result<Manifest> load_manifest(const std::string& path, const Defaults& defaults) {
  auto bytes = read_file(path, "manifest", 1 << 20);
  if (!bytes) return bytes.error();
  std::string text(bytes->begin(), bytes->end());
  return parse_manifest(text, path, defaults);
}

std::vector<std::string> vm_arguments(const VmConfig& cfg) {
  std::vector<std::string> a{"--kernel", cfg.kernel};
  if (!cfg.initrd.empty()) a.insert(a.end(), {"--initrd", cfg.initrd});
  a.insert(a.end(), {"--cmdline", cfg.cmdline, "--memory", std::to_string(cfg.memory), "--cpus", std::to_string(cfg.cpus)});
  if (!cfg.xsave) a.insert(a.end(), {"--xsave", "off"});
  switch (cfg.serial.kind) {
    case SerialSpec::Kind::kStdio: a.insert(a.end(), {"--serial", "stdio"}); break;
    case SerialSpec::Kind::kNone: a.insert(a.end(), {"--serial", "none"}); break;
    case SerialSpec::Kind::kFile: a.insert(a.end(), {"--serial", "file:" + cfg.serial.path}); break;
  }
  if (!cfg.api_socket.empty()) a.insert(a.end(), {"--api-socket", cfg.api_socket});
  cfg.devices.each([&](auto kind, const auto& spec) { a.insert(a.end(), {decltype(kind)::kOption, device_text(spec)}); });
  a.insert(a.end(), {"--shutdown-timeout", std::to_string(cfg.shutdown_timeout_s)});
  if (cfg.seccomp != seccomp::Mode::kOn) a.insert(a.end(), {"--seccomp", cfg.seccomp == seccomp::Mode::kLog ? "log" : "off"});
  if (cfg.debug) a.insert(a.end(), {"--log-level", "debug"});
  return a;
}

}  // namespace tandem::manifest
