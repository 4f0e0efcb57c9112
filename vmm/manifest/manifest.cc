// vmm/manifest/manifest.cc: parsing (toml++) and validation of `tandem up` manifests.
#include "vmm/manifest/manifest.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "base/unix_socket.h"
#include "vmm/arch/machine.h"
#include "devices/net/mac.h"
#include "devices/net/tap.h"

namespace tandem::manifest {

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

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

// Collects every error with its location.
class Checker {
 public:
  explicit Checker(std::string path) : path_(std::move(path)) {}

  std::string where(const toml::source_region& at) const {
    return path_ + ":" + std::to_string(at.begin.line) + ":" + std::to_string(at.begin.column);
  }
  void error(const toml::source_region& at, const std::string& message) {
    if (errors_.size() < kMaxErrors) errors_.push_back({at.begin.line, at.begin.column, where(at) + ": " + message});
  }
  bool failed() const { return !errors_.empty(); }
  // Every error, in the order of their places in the file.
  Error result() const {
    std::vector<Found> sorted = errors_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Found& a, const Found& b) { return std::tie(a.line, a.column) < std::tie(b.line, b.column); });
    std::vector<std::string> lines;
    for (const auto& f : sorted) lines.push_back(f.text);
    return Error{join(lines, "\n")};
  }

  // Every key of `table` must be one of `allowed`.
  void only_keys(const toml::table& table, const std::vector<std::string>& allowed, const std::string& what) {
    for (auto&& [key, node] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
      error(key.source(), what + ": unknown key '" + std::string(key.str()) + "' (expected " + join(allowed, ", ") + ")");
    }
  }

  std::optional<std::string> string(const toml::table& t, const char* key, const std::string& what) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto* s = n->as_string()) return s->get();
    error(n->source(), what + ": '" + key + "' must be a string, not " + type_name(*n));
    return std::nullopt;
  }

  std::optional<int64_t> integer(const toml::table& t, const char* key, const std::string& what, int64_t lo,
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

  std::optional<bool> boolean(const toml::table& t, const char* key, const std::string& what) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto* b = n->as_boolean()) return b->get();
    error(n->source(), what + ": '" + key + "' must be true or false, not " + type_name(*n));
    return std::nullopt;
  }

  // A size: "512M"-style text or a number of bytes.
  std::optional<uint64_t> size(const toml::table& t, const char* key, const std::string& what) {
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

  // The tables of an array of tables (`[[vm.virtio-net]]`); errors for anything else.
  std::vector<const toml::table*> tables(const toml::table& t, const char* key, const std::string& what) {
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

 private:
  static std::string what_prefix(const std::string& what) { return what == "manifest" ? "" : "vm."; }
  struct Found {
    uint32_t line, column;
    std::string text;
  };
  static constexpr size_t kMaxErrors = 50;
  std::string path_;
  std::vector<Found> errors_;
};

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

// A vhost-pci-net device while references are resolved. It listens (an asymmetric device, or a
// symmetric one without `peer`) or, symmetric with `peer`, connects to another VM's listener.
struct VpciDev {
  size_t vm;
  std::string name;
  std::string socket;
  toml::source_region at;
  bool symmetric = false;
  bool connects = false;       // symmetric with `peer`: uses its peer's socket
  uint64_t section = 0;        // symmetric: the section size
  bool section_given = false;  // `section` was in the manifest (else the 4M default)
  toml::source_region section_at{};
  std::string taken_by;  // "vm "x": virtio-net[0] at file:l:c" once a peer names it
};

// A `peer` still to be resolved: a virtio-net's (to an asymmetric vhost-pci-net) or a connecting
// symmetric vhost-pci-net's (to a symmetric one that listens).
struct PeerRef {
  size_t vm;
  size_t index;  // in the VM's nets, or in its vhost_pcis when `symmetric`
  std::string text;
  toml::source_region at;
  bool symmetric = false;
  size_t dev = 0;  // symmetric: the connecting device in the list of VpciDevs
};

// "4M", "1G": a size as a manifest would write it (bytes when no unit divides it).
std::string size_text(uint64_t bytes) {
  for (auto [shift, unit] : {std::pair{30, 'G'}, std::pair{20, 'M'}, std::pair{10, 'K'}}) {
    if (bytes && bytes % (1ULL << shift) == 0) return std::to_string(bytes >> shift) + unit;
  }
  return std::to_string(bytes);
}

// A bound path or name that must be unique across the manifest.
struct Unique {
  std::map<std::string, std::string> seen;  // value -> "file:l:c"
  // Returns where it was seen first, or "" (and records it).
  std::string claim(const std::string& value, const std::string& where) {
    auto [it, fresh] = seen.emplace(value, where);
    return fresh ? "" : it->second;
  }
};

}  // namespace

Result<Manifest> parse_manifest(std::string_view text, const std::string& path, const Defaults& defaults) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Error{path + ":" + std::to_string(e.source().begin.line) + ":" + std::to_string(e.source().begin.column) +
                 ": not valid TOML: " + std::string(e.description())};
  }
  Checker c(path);
  const std::string base = dir_of(path);
  toml::source_region top{};
  top.begin = {1, 1};
  c.only_keys(root, {"run_dir", "shutdown_timeout", "sequential_boot", "vm"}, "manifest");

  Manifest m;
  m.path = path;
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

  Unique names, macs, sockets, taps;
  std::vector<VpciDev> vpci_devs;
  std::vector<PeerRef> peers;
  std::vector<toml::source_region> vm_at;
  for (size_t vi = 0; vi < vm_tables.size(); ++vi) {
    const toml::table& t = *vm_tables[vi];
    Vm vm;
    vm_at.push_back(t.source());
    std::string what = "vm[" + std::to_string(vi) + "]";
    if (auto name = c.string(t, "name", what)) {
      if (!valid_name(*name)) {
        c.error(t.get("name")->source(), what + ": name " + quoted(*name) +
                                             " must be 1-32 letters, digits, '-' or '_', starting with a letter or digit");
      } else {
        vm.name = *name;
        std::string first = names.claim(*name, c.where(t.get("name")->source()));
        if (!first.empty()) c.error(t.get("name")->source(), what + ": duplicate VM name " + quoted(*name) + " (first at " + first + ")");
      }
    } else if (!t.get("name")) {
      c.error(t.source(), what + ": no 'name' (every VM needs one: it names its console, sockets and MACs)");
    }
    if (!vm.name.empty()) what = "vm " + quoted(vm.name);
    c.only_keys(t, {"name", "arch", "kernel", "initrd", "cmdline", "memory", "cpus", "xsave", "serial", "api_socket", "restart",
                    "seccomp", "virtio-net", "vhost-pci-net"},
                what);
    if (auto v = c.string(t, "arch", what)) {
      const auto& at = t.get("arch")->source();
      if (*v != "x86_64" && *v != "aarch64") {
        c.error(at, what + ": arch " + quoted(*v) + " is not \"x86_64\" or \"aarch64\"");
      } else if (*v != arch::name()) {
        c.error(at, what + ": arch " + quoted(*v) + ", but this tandem is built for " + arch::name() +
                        (*v == "aarch64" ? " (tools/build-aarch64 builds an aarch64 one)" : ""));
      }
    }
    VmConfig& cfg = vm.config;
    auto path_key = [&](const toml::table& in, const char* key, const std::string& fallback) {
      auto v = c.string(in, key, what);
      return v ? resolve(base, *v) : fallback;
    };
    cfg.kernel = path_key(t, "kernel", defaults.kernel);
    cfg.initrd = path_key(t, "initrd", defaults.initrd);
    if (cfg.kernel.empty()) c.error(t.source(), what + ": no 'kernel', and neither $TANDEM_GUEST_KERNEL nor /boot/vmlinuz-<running release> to default to (guest-images/build --env prints a kernel and an initrd)");
    if (auto v = c.string(t, "cmdline", what)) cfg.cmdline = *v;
    if (auto v = c.size(t, "memory", what)) cfg.memory = *v;
    if (auto v = c.integer(t, "cpus", what, 1, 255)) cfg.cpus = static_cast<uint32_t>(*v);
    if (auto v = c.boolean(t, "xsave", what)) cfg.xsave = *v;
    if (auto v = c.string(t, "serial", what)) {
      if (*v == "console") {
        vm.console = true;
      } else {
        auto s = parse_serial(*v);
        if (!s || s->kind == SerialSpec::Kind::kStdio) {
          c.error(t.get("serial")->source(), what + ": serial " + quoted(*v) + " is not \"console\", \"none\" or \"file:PATH\"");
        } else {
          vm.console = false;
          cfg.serial = *s;
          cfg.serial.path = resolve(base, cfg.serial.path);
        }
      }
    }
    if (auto v = c.string(t, "api_socket", what)) {
      cfg.api_socket = resolve(base, *v);
      const auto& at = t.get("api_socket")->source();
      if (cfg.api_socket.size() > kUnixPathMax) {
        c.error(at, what + ": api_socket is " + std::to_string(cfg.api_socket.size()) + " bytes long; a Unix socket path has at most " + std::to_string(kUnixPathMax));
      } else if (std::string first = sockets.claim(cfg.api_socket, c.where(at)); !first.empty()) {
        c.error(at, what + ": socket " + cfg.api_socket + " is already used at " + first);
      }
    }
    if (auto v = c.string(t, "seccomp", what)) {
      if (auto m = seccomp::parse_mode(*v)) cfg.seccomp = *m;
      else c.error(t.get("seccomp")->source(), what + ": seccomp " + quoted(*v) + " is not \"on\", \"log\" or \"off\"");
    }
    if (auto v = c.string(t, "restart", what)) {
      if (*v == "no") vm.restart = Restart::kNo;
      else if (*v == "on-failure") vm.restart = Restart::kOnFailure;
      else c.error(t.get("restart")->source(), what + ": restart " + quoted(*v) + " is not \"no\" or \"on-failure\"");
    }

    // A socket or tap path ends up in a KEY=VALUE,... option of `tandem vm`.
    auto check_socket = [&](const std::string& sock, const toml::source_region& at, const std::string& dev) {
      if (sock.size() > kUnixPathMax) {
        c.error(at, dev + ": socket path " + sock + " is " + std::to_string(sock.size()) +
                        " bytes long; a Unix socket path has at most " + std::to_string(kUnixPathMax) +
                        " (choose a shorter run_dir or socket)");
      } else if (sock.find(',') != std::string::npos) {
        c.error(at, dev + ": socket path " + sock + " contains a ','");
      } else if (std::string first = sockets.claim(sock, c.where(at)); !first.empty()) {
        c.error(at, dev + ": socket " + sock + " is already used at " + first);
      }
    };

    auto vpcis = c.tables(t, "vhost-pci-net", what);
    for (size_t di = 0; di < vpcis.size(); ++di) {
      const toml::table& d = *vpcis[di];
      std::string dev = what + ": vhost-pci-net[" + std::to_string(di) + "]";
      c.only_keys(d, {"name", "mode", "socket", "bar", "hotplug_on_connect", "allow_unsealed", "peer_uid", "peer_gid", "peer_timeout", "section", "peer"}, dev);
      VhostPciSpec spec;
      std::string name = "vpci" + std::to_string(di);
      if (auto v = c.string(d, "name", dev)) {
        if (valid_name(*v)) name = *v;
        else c.error(d.get("name")->source(), dev + ": name " + quoted(*v) + " must be 1-32 letters, digits, '-' or '_'");
      }
      for (const auto& l : vpci_devs) {
        if (l.vm == vi && l.name == name) c.error(d.source(), dev + ": a second vhost-pci-net named " + quoted(name) + " (first at " + c.where(l.at) + ")");
      }
      bool mode_known = !d.get("mode");
      if (auto v = c.string(d, "mode", dev)) {
        if (*v == "symmetric" || *v == "asymmetric") {
          mode_known = true;
          spec.mode = *v == "symmetric" ? VhostPciSpec::Mode::kSymmetric : VhostPciSpec::Mode::kAsymmetric;
        } else {
          c.error(d.get("mode")->source(), dev + ": mode " + quoted(*v) + " is not \"asymmetric\" (2.0, the default) or \"symmetric\"");
        }
      }
      const bool symmetric = spec.mode == VhostPciSpec::Mode::kSymmetric;
      // A key of the other mode: an error (once the mode is known), and not read.
      auto applies = [&](const char* key, bool for_symmetric, const std::string& why) {
        const toml::node* n = d.get(key);
        if (!n) return false;
        if (!mode_known) return false;
        if (symmetric == for_symmetric) return true;
        c.error(n->source(), dev + ": '" + key + "' is for mode = " + (for_symmetric ? "\"symmetric\"" : "\"asymmetric\"") +
                                 "; this device is " + (symmetric ? "symmetric" : d.get("mode") ? "asymmetric" : "asymmetric (the default)") + why);
        return false;
      };
      if (applies("bar", false, ": it has no peer-memory BAR (its shared memory is 'section')")) {
        if (auto v = c.size(d, "bar", dev)) {
          if (auto ok = check_peer_bar_size(*v); !ok) c.error(d.get("bar")->source(), dev + ": bar=" + std::to_string(*v) + ": " + ok.message());
          else spec.bar_size = *v;
        }
      }
      if (applies("hotplug_on_connect", false, "")) {
        if (auto b = c.boolean(d, "hotplug_on_connect", dev)) spec.hotplug_on_connect = *b;
      }
      if (applies("allow_unsealed", false, ": a symmetric peer's section is always sealed")) {
        if (auto b = c.boolean(d, "allow_unsealed", dev)) spec.allow_unsealed = *b;
      }
      if (auto v = c.integer(d, "peer_uid", dev, 0, 0xfffffffe)) spec.peer_uid = static_cast<uint32_t>(*v);
      if (auto v = c.integer(d, "peer_gid", dev, 0, 0xfffffffe)) spec.peer_gid = static_cast<uint32_t>(*v);
      if (auto v = c.integer(d, "peer_timeout", dev, 1, 3600)) spec.peer_timeout_s = static_cast<uint32_t>(*v);
      bool section_given = false;
      if (applies("section", true, "")) {
        if (auto v = c.size(d, "section", dev)) {
          if (auto ok = check_section_size(*v); !ok) c.error(d.get("section")->source(), dev + ": section=" + std::to_string(*v) + ": " + ok.message());
          else {
            spec.section_size = *v;
            section_given = true;
          }
        }
      }
      std::optional<std::string> peer;
      if (applies("peer", true, ": it listens, and another VM's virtio-net connects to it with peer = \"" +
                                    (vm.name.empty() ? std::string("VM") : vm.name) + "\"")) {
        peer = c.string(d, "peer", dev);
      }
      const bool connects = symmetric && peer.has_value();
      if (connects) {
        spec.listen = false;  // and the socket of the device it names, once resolved
        if (const toml::node* s = d.get("socket")) {
          c.error(s->source(), dev + ": 'socket' is for a device that listens; with 'peer' it connects to its peer's socket");
        }
        peers.push_back({vi, di, *peer, d.get("peer")->source(), true, vpci_devs.size()});
      } else {
        spec.socket = path_key(d, "socket", m.run_dir + "/" + (vm.name.empty() ? "vm" + std::to_string(vi) : vm.name) + "-" + name + ".sock");
        check_socket(spec.socket, d.get("socket") ? d.get("socket")->source() : d.source(), dev);
      }
      vpci_devs.push_back({vi, name, spec.socket, d.source(), symmetric, connects, spec.section_size, section_given,
                           section_given ? d.get("section")->source() : d.source(), ""});
      cfg.vhost_pcis.push_back(spec);
    }

    auto nets = c.tables(t, "virtio-net", what);
    for (size_t ni = 0; ni < nets.size(); ++ni) {
      const toml::table& d = *nets[ni];
      std::string dev = what + ": virtio-net[" + std::to_string(ni) + "]";
      c.only_keys(d, {"tap", "bridge", "vhost-user", "peer", "vhost", "coalesce", "mac"}, dev);
      NetSpec spec;
      auto tap = c.string(d, "tap", dev);
      auto bridge = c.string(d, "bridge", dev);
      auto vhost_user = c.string(d, "vhost-user", dev);
      auto peer = c.string(d, "peer", dev);
      bool has_bridge = d.get("bridge");
      int backends = (d.get("tap") && !has_bridge) + has_bridge + !!d.get("vhost-user") + !!d.get("peer");
      if (backends != 1) {
        c.error(d.source(), dev + ": needs exactly one backend: tap = \"NAME\", bridge = \"NAME\", vhost-user = \"SOCKET\" or peer = \"VM\"" +
                                (backends > 1 ? " (found " + std::to_string(backends) + ")" : std::string()));
      } else if (peer) {
        spec.kind = NetSpec::Kind::kVhostUser;
        peers.push_back({vi, cfg.nets.size(), *peer, d.get("peer")->source()});
      } else if (vhost_user) {
        spec.kind = NetSpec::Kind::kVhostUser;
        spec.socket = resolve(base, *vhost_user);
        check_socket(spec.socket, d.get("vhost-user")->source(), dev);
      } else if (tap || bridge) {
        spec.kind = NetSpec::Kind::kTap;
        spec.tap = tap ? *tap : "tdm-" + vm.name.substr(0, 8) + "-" + std::to_string(ni);
        const auto& at = d.get(tap ? "tap" : "bridge")->source();
        if (auto ok = net::validate_ifname(spec.tap); !ok) {
          c.error(at, dev + ": tap " + quoted(spec.tap) + ": " + ok.message());
        } else if (std::string first = taps.claim(spec.tap, c.where(at)); !first.empty()) {
          c.error(at, dev + ": tap " + quoted(spec.tap) + " is already used at " + first + (tap ? "" : " (name the bridge port with tap = \"...\")"));
        }
        if (bridge) {
          if (auto ok = net::validate_ifname(*bridge); !ok) {
            c.error(d.get("bridge")->source(), dev + ": bridge " + quoted(*bridge) + ": " + ok.message());
          } else if (taps.seen.count(*bridge)) {
            c.error(d.get("bridge")->source(), dev + ": bridge " + quoted(*bridge) + " is also the name of a tap");
          }
          vm.bridges.push_back({*bridge, spec.tap});
        }
      }
      if (auto v = c.boolean(d, "vhost", dev)) {
        if (*v && spec.kind != NetSpec::Kind::kTap) c.error(d.get("vhost")->source(), dev + ": 'vhost' applies to tap and bridge backends only");
        spec.vhost = *v;
      }
      if (auto us = c.integer(d, "coalesce", dev, 0, net::kMaxTapCoalesceUs)) {
        if (spec.kind != NetSpec::Kind::kTap || spec.vhost) {
          c.error(d.get("coalesce")->source(), dev + ": 'coalesce' applies to tap and bridge backends without vhost only");
        }
        spec.coalesce_us = static_cast<uint32_t>(*us);
      }
      std::string mac_text;
      toml::source_region mac_at = d.source();
      if (auto v = c.string(d, "mac", dev)) {
        mac_at = d.get("mac")->source();
        auto mac = net::parse_mac(*v);
        if (!mac) c.error(mac_at, dev + ": mac: " + mac.message());
        else mac_text = net::format_mac(*mac);
      } else {
        mac_text = net::format_mac(net::derive_mac("tandem-up/" + vm.name + "/net" + std::to_string(ni)));
      }
      if (!mac_text.empty()) {
        spec.mac = mac_text;
        if (std::string first = macs.claim(mac_text, c.where(mac_at)); !first.empty()) {
          c.error(mac_at, dev + ": MAC " + mac_text + " is already used at " + first);
        }
      }
      cfg.nets.push_back(spec);
    }
    if (cfg.nets.size() + cfg.vhost_pcis.size() > kMaxDevicesPerVm) {
      c.error(t.source(), what + ": " + std::to_string(cfg.nets.size() + cfg.vhost_pcis.size()) + " network devices; at most " + std::to_string(kMaxDevicesPerVm));
    }
    cfg.shutdown_timeout_s = m.shutdown_timeout_s;
    m.vms.push_back(std::move(vm));
  }

  // peer = "VM" or "VM:DEVICE": the vhost-pci-net device of another VM in this manifest. A
  // virtio-net connects to an asymmetric (2.0) one; a symmetric vhost-pci-net with `peer` connects
  // to a symmetric one that listens (has no `peer`), takes its socket and must share its section
  // size. Without ":DEVICE", only the devices of the right kind are candidates.
  std::vector<std::set<size_t>> needs(m.vms.size());
  std::set<std::pair<size_t, size_t>> symmetric_links;  // (connecting VM, listening VM)
  for (const auto& p : peers) {
    std::string dev = "vm " + quoted(m.vms[p.vm].name) + (p.symmetric ? ": vhost-pci-net[" : ": virtio-net[") +
                      std::to_string(p.index) + "]";
    std::string vm_name = p.text.substr(0, p.text.find(':'));
    std::string dev_name = p.text.find(':') == std::string::npos ? "" : p.text.substr(p.text.find(':') + 1);
    auto target = std::find_if(m.vms.begin(), m.vms.end(), [&](const Vm& v) { return v.name == vm_name; });
    if (target == m.vms.end()) {
      std::vector<std::string> all;
      for (const auto& v : m.vms) {
        if (!v.name.empty() && std::find(all.begin(), all.end(), v.name) == all.end()) all.push_back(v.name);
      }
      c.error(p.at, dev + ": peer " + quoted(p.text) + " names no VM in this manifest (VMs: " + join(all, ", ") + ")");
      continue;
    }
    size_t ti = static_cast<size_t>(target - m.vms.begin());
    if (ti == p.vm) {
      c.error(p.at, dev + ": peer " + quoted(p.text) + " names its own VM; a VM cannot be its own vhost-pci peer");
      continue;
    }
    // What `p` can connect to: an asymmetric device for a virtio-net, a listening symmetric one
    // for a symmetric device.
    auto fits = [&](const VpciDev& l) { return p.symmetric ? l.symmetric && !l.connects : !l.symmetric; };
    std::vector<VpciDev*> all, cands;
    for (auto& l : vpci_devs) {
      if (l.vm != ti) continue;
      all.push_back(&l);
      if (dev_name.empty() ? fits(l) : l.name == dev_name) cands.push_back(&l);
    }
    const std::string peer_is = dev + ": peer " + quoted(p.text) + ": ";
    if (cands.empty() && (all.empty() || !dev_name.empty())) {
      c.error(p.at, peer_is + "vm " + quoted(vm_name) + " has no vhost-pci-net" +
                        (dev_name.empty() ? " device" : " named " + quoted(dev_name)) + " to connect to");
      continue;
    }
    if (cands.empty()) {
      // The VM has vhost-pci-net devices, none of the kind `p` connects to: say what each is.
      std::vector<std::string> what_they_are;
      for (auto* l : all) {
        std::string id = quoted(vm_name + ":" + l->name);
        what_they_are.push_back(!l->symmetric ? id + " is asymmetric (a virtio-net's peer)"
                                : l->connects ? id + " connects to a peer itself"
                                              : id + " is symmetric (a symmetric vhost-pci-net's peer)");
      }
      c.error(p.at, peer_is + "vm " + quoted(vm_name) + " has no " +
                        (p.symmetric ? "symmetric vhost-pci-net that listens (mode = \"symmetric\", no 'peer')"
                                     : "asymmetric vhost-pci-net") +
                        " to connect to: " + join(what_they_are, ", "));
      continue;
    }
    if (cands.size() > 1) {
      std::vector<std::string> n;
      for (auto* l : cands) n.push_back(quoted(vm_name + ":" + l->name));
      bool mixed = std::any_of(all.begin(), all.end(), [](const VpciDev* l) { return l->symmetric; });
      std::string kind = p.symmetric ? "symmetric vhost-pci-net devices that listen" : mixed ? "asymmetric vhost-pci-net devices" : "vhost-pci-net devices";
      c.error(p.at, dev + ": peer " + quoted(p.text) + " is ambiguous: vm " + quoted(vm_name) + " has " + std::to_string(cands.size()) + " " + kind + " (" + join(n, ", ") + ")");
      continue;
    }
    VpciDev& l = *cands[0];
    const std::string its = "vm " + quoted(vm_name) + "'s vhost-pci-net " + quoted(l.name);
    if (!fits(l)) {  // named explicitly, of the other kind
      if (!p.symmetric) {
        c.error(p.at, peer_is + its + " is symmetric: a virtio-net cannot connect to it (a [[vm.vhost-pci-net]] with mode = \"symmetric\" and peer = " + quoted(p.text) + " can)");
      } else if (!l.symmetric) {
        c.error(p.at, peer_is + its + " is asymmetric (2.0): a virtio-net with peer = " + quoted(p.text) + " connects to it, not a symmetric vhost-pci-net");
      } else {
        c.error(p.at, peer_is + its + " connects to a peer itself; of the two symmetric ends, one listens (has no 'peer')");
      }
      continue;
    }
    if (!l.taken_by.empty()) {
      c.error(p.at, dev + ": " + its + " already has a peer (" + l.taken_by + "); it takes one");
      continue;
    }
    if (p.symmetric) {
      VpciDev& me = vpci_devs[p.dev];
      if (me.section_given && me.section != l.section) {
        c.error(me.section_at, dev + ": section " + size_text(me.section) + " differs from that of " + its + " (" + size_text(l.section) +
                                   (l.section_given ? " at " + c.where(l.section_at) : ", the default") +
                                   "); both ends of a symmetric pair have one section size");
        continue;
      }
      VhostPciSpec& spec = m.vms[p.vm].config.vhost_pcis[p.index];
      spec.socket = me.socket = l.socket;
      spec.section_size = me.section = l.section;
      symmetric_links.insert({p.vm, ti});
    } else {
      m.vms[p.vm].config.nets[p.index].socket = l.socket;
    }
    l.taken_by = dev + " at " + c.where(p.at);
    needs[p.vm].insert(ti);
  }

  if (c.failed()) return c.result();

  // Start order: a VM after every VM whose vhost-pci-net it connects to (from a virtio-net or a
  // symmetric vhost-pci-net); manifest order otherwise.
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
      // Walk the unplaced VMs' needs until a VM repeats: that is a cycle.
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
          return c.result();
        }
        path.push_back(next);
      }
    }
  }
  for (size_t i = 0; i < m.vms.size(); ++i) {
    for (size_t j : needs[i]) m.vms[i].after.push_back(m.vms[j].name);
  }

  if (defaults.check_files) {
    for (size_t i = 0; i < m.vms.size(); ++i) {
      auto files = validate(m.vms[i].config);
      if (!files) c.error(vm_at[i], "vm " + quoted(m.vms[i].name) + ": " + files.message());
    }
    if (c.failed()) return c.result();
  }
  std::vector<Vm> sorted;
  for (size_t i : order) sorted.push_back(std::move(m.vms[i]));
  m.vms = std::move(sorted);
  return m;
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
  for (const auto& n : cfg.nets) a.insert(a.end(), {"--net", net_spec_text(n)});
  for (const auto& v : cfg.vhost_pcis) {
    a.insert(a.end(), {"--vhost-pci", vhost_pci_spec_text(v)});
  }
  a.insert(a.end(), {"--shutdown-timeout", std::to_string(cfg.shutdown_timeout_s)});
  if (cfg.seccomp != seccomp::Mode::kOn) a.insert(a.end(), {"--seccomp", cfg.seccomp == seccomp::Mode::kLog ? "log" : "off"});
  if (cfg.debug) a.insert(a.end(), {"--log-level", "debug"});
  return a;
}

}  // namespace tandem::manifest
