// vmm/manifest/manifest_devices.cc: a manifest's network devices: the [[vm.vhost-pci-net]] and
// [[vm.virtio-net]] tables of each VM, and the `peer` references between VMs, resolved once every
// VM is read.
#include <toml++/toml.h>

#include <algorithm>

#include "base/unix_socket.h"
#include "devices/net/mac.h"
#include "devices/net/tap.h"
#include "vmm/manifest/manifest_parser.h"

namespace tandem::manifest::detail {

namespace {

// "4M", "1G": a size as a manifest would write it (bytes when no unit divides it).
std::string size_text(uint64_t bytes) {
  for (auto [shift, unit] : {std::pair{30, 'G'}, std::pair{20, 'M'}, std::pair{10, 'K'}}) {
    if (bytes && bytes % (1ULL << shift) == 0) return std::to_string(bytes >> shift) + unit;
  }
  return std::to_string(bytes);
}

// A [[vm.vhost-pci-net]] table being read into `spec`. A key of the other mode is an error (once
// the mode is known), and not read.
struct VpciTable {
  Checker& c;
  const toml::table& d;
  std::string dev;  // `vm "a": vhost-pci-net[0]` in messages
  VhostPciSpec spec{};
  bool mode_known = false;
  bool section_given = false;  // `section` was read (else the default)

  bool symmetric() const { return spec.mode == VhostPciSpec::Mode::kSymmetric; }
  void read_mode();
  bool applies(const char* key, bool for_symmetric, const std::string& why);
  void read_keys();
};

void VpciTable::read_mode() {
  mode_known = !d.get("mode");
  if (auto v = c.string(d, "mode", dev)) {
    if (*v == "symmetric" || *v == "asymmetric") {
      mode_known = true;
      spec.mode = *v == "symmetric" ? VhostPciSpec::Mode::kSymmetric : VhostPciSpec::Mode::kAsymmetric;
    } else {
      c.error(d.get("mode")->source(), dev + ": mode " + quoted(*v) + " is not \"asymmetric\" (2.0, the default) or \"symmetric\"");
    }
  }
}

// Whether `key` is there and is for this device's mode (else an error, once the mode is known).
bool VpciTable::applies(const char* key, bool for_symmetric, const std::string& why) {
  const toml::node* n = d.get(key);
  if (!n) return false;
  if (!mode_known) return false;
  if (symmetric() == for_symmetric) return true;
  c.error(n->source(), dev + ": '" + key + "' is for mode = " + (for_symmetric ? "\"symmetric\"" : "\"asymmetric\"") +
                           "; this device is " + (symmetric() ? "symmetric" : d.get("mode") ? "asymmetric" : "asymmetric (the default)") + why);
  return false;
}

// Every key but name, mode, socket and peer.
void VpciTable::read_keys() {
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
  if (applies("section", true, "")) {
    if (auto v = c.size(d, "section", dev)) {
      if (auto ok = check_section_size(*v); !ok) c.error(d.get("section")->source(), dev + ": section=" + std::to_string(*v) + ": " + ok.message());
      else {
        spec.section_size = *v;
        section_given = true;
      }
    }
  }
}

}  // namespace

void Parser::device_tables(VmTable& v) {
  device_kinds::Kinds::each([&](auto kind) { read_tables(v, kind); });
}

void Parser::read_tables(VmTable& v, device_kinds::VirtioNet) {
  auto nets = c.tables(v.t, "virtio-net", v.what);
  for (size_t ni = 0; ni < nets.size(); ++ni) virtio_net(v, ni, *nets[ni]);
}

void Parser::read_tables(VmTable& v, device_kinds::VhostPciNet) {
  auto vpcis = c.tables(v.t, "vhost-pci-net", v.what);
  for (size_t di = 0; di < vpcis.size(); ++di) vhost_pci_net(v, di, *vpcis[di]);
}

template <typename K>
void Parser::read_tables(VmTable& v, K kind) {
  auto tables = c.tables(v.t, K::kTable, v.what);
  for (size_t i = 0; i < tables.size(); ++i) kind_table(v, i, *tables[i], kind);
}

std::optional<device_kinds::Options> Parser::kind_options(const toml::table& d, std::span<const device_kinds::Key> keys, const std::string& dev) {
  using device_kinds::ValueType;
  std::vector<std::string> names;
  for (const auto& k : keys) names.push_back(k.name);
  c.only_keys(d, names, dev);
  device_kinds::Options options;
  bool ok = true;
  for (const auto& k : keys) {
    if (!d.get(k.name)) continue;
    std::optional<device_kinds::Value> value;
    if (k.type == ValueType::kString) {
      // (checked once resolved: the manifest's directory is part of a relative path's text)
      auto s = c.string(d, k.name, dev);
      if (s && k.file) s = resolve(base, *s);
      if (auto ok = s ? device_kinds::check_string(*s) : Status{}; !ok) {
        c.error(d.get(k.name)->source(), dev + ": '" + k.name + "' " + ok.message());
      } else if (s) {
        value = *s;
      }
    } else if (k.type == ValueType::kOnOff) {
      if (auto b = c.boolean(d, k.name, dev)) value = *b;
    } else if (k.type == ValueType::kSize) {
      if (auto n = c.size(d, k.name, dev)) value = *n;
    } else if (auto n = c.integer(d, k.name, dev, 0, static_cast<int64_t>(std::min<uint64_t>(k.max, INT64_MAX)))) {
      value = static_cast<uint64_t>(*n);
    }
    if (value) options.push_back({k.name, *value});
    ok = ok && value.has_value();
  }
  if (!ok) return std::nullopt;
  return options;
}

template <typename K>
void Parser::kind_table(VmTable& v, size_t i, const toml::table& d, K) {
  const std::string dev = v.what + ": " + K::kTable + "[" + std::to_string(i) + "]";
  auto options = kind_options(d, K::keys(), dev);
  if (!options) return;
  auto spec = K::from_options(*options);
  if (!spec) {
    c.error(d.source(), dev + ": " + spec.message());
    return;
  }
  v.vm.config.devices.template of<typename K::Spec>().push_back(*spec);
}

// The kinds with readers of their own can be read as their keys alone too (manifest_test pins the
// generic reader with them).
template void Parser::kind_table(VmTable&, size_t, const toml::table&, device_kinds::VirtioNet);
template void Parser::kind_table(VmTable&, size_t, const toml::table&, device_kinds::VhostPciNet);

void Parser::vhost_pci_net(VmTable& v, size_t di, const toml::table& d) {
  VpciTable x{c, d, v.what + ": vhost-pci-net[" + std::to_string(di) + "]"};
  const std::string& dev = x.dev;
  c.only_keys(d, {"name", "mode", "socket", "bar", "hotplug_on_connect", "allow_unsealed", "peer_uid", "peer_gid", "peer_timeout", "section", "peer"}, dev);
  std::string name = vhost_pci_name(v, di, d, dev);
  x.read_mode();
  x.read_keys();
  std::optional<std::string> peer;
  if (x.applies("peer", true, ": it listens, and another VM's virtio-net connects to it with peer = \"" +
                                  (v.vm.name.empty() ? std::string("VM") : v.vm.name) + "\"")) {
    peer = c.string(d, "peer", dev);
  }
  VhostPciSpec& spec = x.spec;
  const bool connects = x.symmetric() && peer.has_value();
  if (connects) {
    spec.listen = false;  // and the socket of the device it names, once resolved
    if (const toml::node* s = d.get("socket")) {
      c.error(s->source(), dev + ": 'socket' is for a device that listens; with 'peer' it connects to its peer's socket");
    }
    peers.push_back({v.index, di, *peer, d.get("peer")->source(), true, vpci_devs.size()});
  } else {
    // A `socket` that is not a string is reported as the VM's (v.what), not the device's.
    spec.socket = path_key(d, "socket", v.what, m.run_dir + "/" + (v.vm.name.empty() ? "vm" + std::to_string(v.index) : v.vm.name) + "-" + name + ".sock");
    check_socket(spec.socket, d.get("socket") ? d.get("socket")->source() : d.source(), dev);
  }
  vpci_devs.push_back({v.index, name, spec.socket, d.source(), x.symmetric(), connects, spec.section_size, x.section_given,
                       x.section_given ? d.get("section")->source() : d.source(), ""});
  v.vm.config.devices.of<VhostPciSpec>().push_back(spec);
}

// A vhost-pci-net's `name` ("vpciN" by default), unique in its VM.
std::string Parser::vhost_pci_name(const VmTable& v, size_t di, const toml::table& d, const std::string& dev) {
  std::string name = "vpci" + std::to_string(di);
  if (auto s = c.string(d, "name", dev)) {
    if (valid_name(*s)) name = *s;
    else c.error(d.get("name")->source(), dev + ": name " + quoted(*s) + " must be 1-32 letters, digits, '-' or '_'");
  }
  for (const auto& l : vpci_devs) {
    if (l.vm == v.index && l.name == name) c.error(d.source(), dev + ": a second vhost-pci-net named " + quoted(name) + " (first at " + c.where(l.at) + ")");
  }
  return name;
}

void Parser::virtio_net(VmTable& v, size_t ni, const toml::table& d) {
  std::string dev = v.what + ": virtio-net[" + std::to_string(ni) + "]";
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
    peers.push_back({v.index, v.vm.config.devices.of<NetSpec>().size(), *peer, d.get("peer")->source()});
  } else if (vhost_user) {
    spec.kind = NetSpec::Kind::kVhostUser;
    spec.socket = resolve(base, *vhost_user);
    check_socket(spec.socket, d.get("vhost-user")->source(), dev);
  } else if (tap || bridge) {
    net_tap(v, ni, d, dev, spec, tap, bridge);
  }
  if (auto b = c.boolean(d, "vhost", dev)) {
    if (*b && spec.kind != NetSpec::Kind::kTap) c.error(d.get("vhost")->source(), dev + ": 'vhost' applies to tap and bridge backends only");
    spec.vhost = *b;
  }
  if (auto us = c.integer(d, "coalesce", dev, 0, net::kMaxTapCoalesceUs)) {
    if (spec.kind != NetSpec::Kind::kTap || spec.vhost) {
      c.error(d.get("coalesce")->source(), dev + ": 'coalesce' applies to tap and bridge backends without vhost only");
    }
    spec.coalesce_us = static_cast<uint32_t>(*us);
  }
  net_mac(v, ni, d, dev, spec);
  v.vm.config.devices.of<NetSpec>().push_back(spec);
}

// The tap and bridge backends: a tap (named, or "tdm-VM-N" for a bridge port), and its bridge.
void Parser::net_tap(VmTable& v, size_t ni, const toml::table& d, const std::string& dev, NetSpec& spec,
                     const std::optional<std::string>& tap, const std::optional<std::string>& bridge) {
  spec.kind = NetSpec::Kind::kTap;
  spec.tap = tap ? *tap : "tdm-" + v.vm.name.substr(0, 8) + "-" + std::to_string(ni);
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
    v.vm.bridges.push_back({*bridge, spec.tap});
  }
}

// A virtio-net's `mac` (derived from the VM's name and the device's place when not given): unique.
void Parser::net_mac(const VmTable& v, size_t ni, const toml::table& d, const std::string& dev, NetSpec& spec) {
  std::string mac_text;
  toml::source_region mac_at = d.source();
  if (auto s = c.string(d, "mac", dev)) {
    mac_at = d.get("mac")->source();
    auto mac = net::parse_mac(*s);
    if (!mac) c.error(mac_at, dev + ": mac: " + mac.message());
    else mac_text = net::format_mac(*mac);
  } else {
    mac_text = net::format_mac(net::derive_mac("tandem-up/" + v.vm.name + "/net" + std::to_string(ni)));
  }
  if (!mac_text.empty()) {
    spec.mac = mac_text;
    if (std::string first = macs.claim(mac_text, c.where(mac_at)); !first.empty()) {
      c.error(mac_at, dev + ": MAC " + mac_text + " is already used at " + first);
    }
  }
}

// A socket path ends up in a KEY=VALUE,... option of `tandem vm`; each is bound once.
void Parser::check_socket(const std::string& sock, const toml::source_region& at, const std::string& dev) {
  if (sock.size() > kUnixPathMax) {
    c.error(at, dev + ": socket path " + sock + " is " + std::to_string(sock.size()) +
                    " bytes long; a Unix socket path has at most " + std::to_string(kUnixPathMax) +
                    " (choose a shorter run_dir or socket)");
  } else if (sock.find(',') != std::string::npos) {
    c.error(at, dev + ": socket path " + sock + " contains a ','");
  } else if (std::string first = sockets.claim(sock, c.where(at)); !first.empty()) {
    c.error(at, dev + ": socket " + sock + " is already used at " + first);
  }
}

// What a `peer` names, while it is resolved.
struct PeerLookup {
  const PeerRef& p;
  std::string dev;       // `vm "a": virtio-net[0]` in messages
  std::string vm_name;   // VM of peer = "VM" or "VM:DEVICE"
  std::string dev_name;  // DEVICE, or ""
  size_t target = 0;     // the VM named
  std::vector<VpciDev*> all{}, cands{};  // its vhost-pci-nets; those `p` may mean

  // What `p` can connect to: an asymmetric device for a virtio-net, a listening symmetric one
  // for a symmetric device.
  bool fits(const VpciDev& l) const { return p.symmetric ? l.symmetric && !l.connects : !l.symmetric; }
  std::string peer_is() const { return dev + ": peer " + quoted(p.text) + ": "; }
};

// peer = "VM" or "VM:DEVICE": the vhost-pci-net device of another VM in this manifest. A
// virtio-net connects to an asymmetric (2.0) one; a symmetric vhost-pci-net with `peer` connects
// to a symmetric one that listens (has no `peer`), takes its socket and must share its section
// size. Without ":DEVICE", only the devices of the right kind are candidates.
void Parser::resolve_peers() {
  needs.assign(m.vms.size(), {});
  for (const auto& p : peers) resolve_peer(p);
}

void Parser::resolve_peer(const PeerRef& p) {
  PeerLookup q{p,
               "vm " + quoted(m.vms[p.vm].name) + (p.symmetric ? ": vhost-pci-net[" : ": virtio-net[") + std::to_string(p.index) + "]",
               p.text.substr(0, p.text.find(':')),
               p.text.find(':') == std::string::npos ? "" : p.text.substr(p.text.find(':') + 1)};
  if (!find_peer_vm(q)) return;
  for (auto& l : vpci_devs) {
    if (l.vm != q.target) continue;
    q.all.push_back(&l);
    if (q.dev_name.empty() ? q.fits(l) : l.name == q.dev_name) q.cands.push_back(&l);
  }
  if (!one_candidate(q)) return;
  VpciDev& l = *q.cands[0];
  const std::string its = "vm " + quoted(q.vm_name) + "'s vhost-pci-net " + quoted(l.name);
  if (may_take(q, l, its)) link_peer(q, l, its);
}

// The VM a peer names: in the manifest, and not the peer's own.
bool Parser::find_peer_vm(PeerLookup& q) {
  const PeerRef& p = q.p;
  auto target = std::find_if(m.vms.begin(), m.vms.end(), [&](const Vm& v) { return v.name == q.vm_name; });
  if (target == m.vms.end()) {
    std::vector<std::string> all;
    for (const auto& v : m.vms) {
      if (!v.name.empty() && std::find(all.begin(), all.end(), v.name) == all.end()) all.push_back(v.name);
    }
    c.error(p.at, q.dev + ": peer " + quoted(p.text) + " names no VM in this manifest (VMs: " + join(all, ", ") + ")");
    return false;
  }
  q.target = static_cast<size_t>(target - m.vms.begin());
  if (q.target == p.vm) {
    c.error(p.at, q.dev + ": peer " + quoted(p.text) + " names its own VM; a VM cannot be its own vhost-pci peer");
    return false;
  }
  return true;
}

// Exactly one device of the named VM fits the peer (else an error says why not).
bool Parser::one_candidate(const PeerLookup& q) {
  if (q.cands.empty() && (q.all.empty() || !q.dev_name.empty())) {
    c.error(q.p.at, q.peer_is() + "vm " + quoted(q.vm_name) + " has no vhost-pci-net" +
                        (q.dev_name.empty() ? " device" : " named " + quoted(q.dev_name)) + " to connect to");
    return false;
  }
  if (q.cands.empty()) {
    no_candidate_of_its_kind(q);
    return false;
  }
  if (q.cands.size() > 1) {
    ambiguous_peer(q);
    return false;
  }
  return true;
}

// The VM has vhost-pci-net devices, none of the kind the peer connects to: say what each is.
void Parser::no_candidate_of_its_kind(const PeerLookup& q) {
  std::vector<std::string> what_they_are;
  for (auto* l : q.all) {
    std::string id = quoted(q.vm_name + ":" + l->name);
    what_they_are.push_back(!l->symmetric ? id + " is asymmetric (a virtio-net's peer)"
                            : l->connects ? id + " connects to a peer itself"
                                          : id + " is symmetric (a symmetric vhost-pci-net's peer)");
  }
  c.error(q.p.at, q.peer_is() + "vm " + quoted(q.vm_name) + " has no " +
                      (q.p.symmetric ? "symmetric vhost-pci-net that listens (mode = \"symmetric\", no 'peer')"
                                     : "asymmetric vhost-pci-net") +
                      " to connect to: " + join(what_they_are, ", "));
}

void Parser::ambiguous_peer(const PeerLookup& q) {
  std::vector<std::string> n;
  for (auto* l : q.cands) n.push_back(quoted(q.vm_name + ":" + l->name));
  bool mixed = std::any_of(q.all.begin(), q.all.end(), [](const VpciDev* l) { return l->symmetric; });
  std::string kind = q.p.symmetric ? "symmetric vhost-pci-net devices that listen" : mixed ? "asymmetric vhost-pci-net devices" : "vhost-pci-net devices";
  c.error(q.p.at, q.dev + ": peer " + quoted(q.p.text) + " is ambiguous: vm " + quoted(q.vm_name) + " has " + std::to_string(q.cands.size()) + " " + kind + " (" + join(n, ", ") + ")");
}

// The one device found is of the peer's kind (when named explicitly it may not be) and free.
bool Parser::may_take(const PeerLookup& q, const VpciDev& l, const std::string& its) {
  const PeerRef& p = q.p;
  if (!q.fits(l)) {  // named explicitly, of the other kind
    if (!p.symmetric) {
      c.error(p.at, q.peer_is() + its + " is symmetric: a virtio-net cannot connect to it (a [[vm.vhost-pci-net]] with mode = \"symmetric\" and peer = " + quoted(p.text) + " can)");
    } else if (!l.symmetric) {
      c.error(p.at, q.peer_is() + its + " is asymmetric (2.0): a virtio-net with peer = " + quoted(p.text) + " connects to it, not a symmetric vhost-pci-net");
    } else {
      c.error(p.at, q.peer_is() + its + " connects to a peer itself; of the two symmetric ends, one listens (has no 'peer')");
    }
    return false;
  }
  if (!l.taken_by.empty()) {
    c.error(p.at, q.dev + ": " + its + " already has a peer (" + l.taken_by + "); it takes one");
    return false;
  }
  return true;
}

// The peer takes `l`'s socket (a symmetric one its section size too) and starts after its VM.
void Parser::link_peer(const PeerLookup& q, VpciDev& l, const std::string& its) {
  const PeerRef& p = q.p;
  if (p.symmetric) {
    VpciDev& me = vpci_devs[p.dev];
    if (me.section_given && me.section != l.section) {
      c.error(me.section_at, q.dev + ": section " + size_text(me.section) + " differs from that of " + its + " (" + size_text(l.section) +
                                 (l.section_given ? " at " + c.where(l.section_at) : ", the default") +
                                 "); both ends of a symmetric pair have one section size");
      return;
    }
    VhostPciSpec& spec = m.vms[p.vm].config.devices.of<VhostPciSpec>()[p.index];
    spec.socket = me.socket = l.socket;
    spec.section_size = me.section = l.section;
    symmetric_links.insert({p.vm, q.target});
  } else {
    m.vms[p.vm].config.devices.of<NetSpec>()[p.index].socket = l.socket;
  }
  l.taken_by = q.dev + " at " + c.where(p.at);
  needs[p.vm].insert(q.target);
}

}  // namespace tandem::manifest::detail
