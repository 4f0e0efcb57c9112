// vmm/manifest/manifest_parser.h: the inside of parse_manifest(), shared by manifest.cc (the
// top-level keys, each [[vm]]'s settings, the start order, the file checks) and
// manifest_devices.cc (the [[vm.vhost-pci-net]] and [[vm.virtio-net]] tables and `peer`
// references). Not part of the manifest's interface (manifest.h).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "vmm/manifest/manifest.h"

namespace tandem::manifest::detail {

std::string quoted(std::string_view s);
std::string join(const std::vector<std::string>& items, const std::string& sep);
// A VM or device name: 1-32 letters, digits, '-' or '_', starting with a letter or digit.
bool valid_name(const std::string& s);
// The directory of `path` ("." when it has none).
std::string dir_of(const std::string& path);
// `p` relative to `base_dir` (the manifest's directory), unless it is absolute.
std::string resolve(const std::string& base_dir, const std::string& p);

// Collects every error with its location.
class Checker {
 public:
  Checker(std::string path, EnvLookup env) : path_(std::move(path)), env_(std::move(env)) {}

  std::string where(const toml::source_region& at) const;
  void error(const toml::source_region& at, const std::string& message);
  bool failed() const { return !errors_.empty(); }
  // Every error, in the order of their places in the file.
  Error result() const;

  // Every key of `table` must be one of `allowed`.
  void only_keys(const toml::table& table, const std::vector<std::string>& allowed, const std::string& what);
  // The value of `key` when it is there and of the right type (else an error, or nothing); a
  // string's `${NAME}` are expanded (expand.h).
  std::optional<std::string> string(const toml::table& t, const char* key, const std::string& what);
  std::optional<int64_t> integer(const toml::table& t, const char* key, const std::string& what, int64_t lo, int64_t hi);
  std::optional<bool> boolean(const toml::table& t, const char* key, const std::string& what);
  // A size: "512M"-style text or a number of bytes.
  std::optional<uint64_t> size(const toml::table& t, const char* key, const std::string& what);
  // The tables of an array of tables (`[[vm.virtio-net]]`); errors for anything else.
  std::vector<const toml::table*> tables(const toml::table& t, const char* key, const std::string& what);

 private:
  struct Found {
    uint32_t line, column;
    std::string text;
  };
  static constexpr size_t kMaxErrors = 50;
  std::string path_;
  EnvLookup env_;
  std::vector<Found> errors_;
};

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

// A bound path or name that must be unique across the manifest.
struct Unique {
  std::map<std::string, std::string> seen;  // value -> "file:l:c"
  // Returns where it was seen first, or "" (and records it).
  std::string claim(const std::string& value, const std::string& where) {
    auto [it, fresh] = seen.emplace(value, where);
    return fresh ? "" : it->second;
  }
};

// The [[vm]] table being read.
struct VmTable {
  size_t index;
  const toml::table& t;
  std::string what;  // "vm[0]" in messages, `vm "name"` once it has a valid name
  Vm vm;
};

// What a `peer` names, while it is resolved.
struct PeerLookup;

// One parse: the manifest being built, and what its later steps check and resolve.
struct Parser {
  Parser(const std::string& path, const Defaults& defaults) : c(path, defaults.env), defaults(defaults), base(dir_of(path)) {
    m.path = path;
  }

  Checker c;
  const Defaults& defaults;
  const std::string base;  // the manifest's directory: relative paths start there
  Manifest m;
  Unique names, macs, sockets, taps;
  std::vector<VpciDev> vpci_devs;
  std::vector<PeerRef> peers;
  std::vector<toml::source_region> vm_at;
  std::vector<std::set<size_t>> needs;                  // per VM: the VMs it starts after
  std::set<std::pair<size_t, size_t>> symmetric_links;  // (connecting VM, listening VM)

  // manifest.cc
  std::vector<const toml::table*> top_level(const toml::table& root);
  void vm(size_t vi, const toml::table& t);
  void vm_name(VmTable& v);
  void vm_boot_settings(VmTable& v);
  void vm_run_settings(VmTable& v);
  std::string path_key(const toml::table& in, const char* key, const std::string& what, const std::string& fallback);
  std::optional<std::vector<size_t>> start_order();
  void report_cycle(const std::vector<bool>& placed);
  void check_files();

  // manifest_devices.cc
  // Every [[vm.KIND]] table of a VM, kind by kind: virtio-net and vhost-pci-net have readers of
  // their own (their `peer`, `name` and `bridge` keys reach across VMs); any other kind's table is
  // its keys alone, read by kind_table.
  void device_tables(VmTable& v);
  void read_tables(VmTable& v, device_kinds::VirtioNet);
  void read_tables(VmTable& v, device_kinds::VhostPciNet);
  template <typename K>
  void read_tables(VmTable& v, K kind);
  // One [[vm.KIND]] table as the kind's keys: each value of its key's type (the error at the
  // value otherwise), then the kind's own checks (the error at the table).
  template <typename K>
  void kind_table(VmTable& v, size_t i, const toml::table& d, K);
  std::optional<device_kinds::Options> kind_options(const toml::table& d, std::span<const device_kinds::Key> keys, const std::string& dev);
  void vhost_pci_net(VmTable& v, size_t di, const toml::table& d);
  std::string vhost_pci_name(const VmTable& v, size_t di, const toml::table& d, const std::string& dev);
  void virtio_net(VmTable& v, size_t ni, const toml::table& d);
  void net_tap(VmTable& v, size_t ni, const toml::table& d, const std::string& dev, NetSpec& spec,
               const std::optional<std::string>& tap, const std::optional<std::string>& bridge);
  void net_mac(const VmTable& v, size_t ni, const toml::table& d, const std::string& dev, NetSpec& spec);
  void check_socket(const std::string& sock, const toml::source_region& at, const std::string& dev);
  void resolve_peers();
  void resolve_peer(const PeerRef& p);
  bool find_peer_vm(PeerLookup& q);
  bool one_candidate(const PeerLookup& q);
  void no_candidate_of_its_kind(const PeerLookup& q);
  void ambiguous_peer(const PeerLookup& q);
  bool may_take(const PeerLookup& q, const VpciDev& l, const std::string& its);
  void link_peer(const PeerLookup& q, VpciDev& l, const std::string& its);
};

}  // namespace tandem::manifest::detail
