// vmm/device_kinds/vhost_pci_net.cc: vhost-pci-net's keys, checks and build (2.0 and 2.1).
#include "vmm/device_kinds/vhost_pci_net.h"

#include <chrono>

#include "devices/vhost_pci/net_device.h"
#include "devices/vhost_pci/symmetric_device.h"

namespace tandem {

namespace device_kinds {

namespace {

constexpr Key kKeys[] = {
    {"socket", ValueType::kString, "a socket path"},
    {"mode", ValueType::kString, "asymmetric or symmetric"},
    {"bar", ValueType::kSize, "a size (\"16G\") or a number of bytes"},
    {"hotplug_on_connect", ValueType::kOnOff, "on or off", false},
    {"allow_unsealed", ValueType::kOnOff, "on or off"},
    {"peer_uid", ValueType::kCount, "a numeric id", true, 0xfffffffe},
    {"peer_gid", ValueType::kCount, "a numeric id", true, 0xfffffffe},
    {"peer_timeout", ValueType::kCount, "seconds from 1 to 3600", true, 3600},
    {"listen", ValueType::kOnOff, "on or off"},
    {"section", ValueType::kSize, "a size (\"4M\") or a number of bytes"},
};

// peer_uid, peer_gid, peer_timeout: either mode.
Status read_peer_keys(const OptionReader& r, VhostPciSpec& spec) {
  // The keys' maxima (kKeys) bound the numbers.
  if (auto uid = r.number("peer_uid")) spec.peer_uid = static_cast<uint32_t>(*uid);
  if (auto gid = r.number("peer_gid")) spec.peer_gid = static_cast<uint32_t>(*gid);
  if (auto s = r.number("peer_timeout")) {
    if (*s == 0) return Error{"peer_timeout=" + std::to_string(*s) + ": expected seconds from 1 to 3600"};
    spec.peer_timeout_s = static_cast<uint32_t>(*s);
  }
  return {};
}

// The keys of one mode given to a device of the other.
Status check_mode_keys(const OptionReader& r, bool symmetric) {
  if (symmetric && r.has("bar")) return Error{"bar= is for mode=asymmetric: a symmetric device has no peer-memory BAR (see section=)"};
  if (symmetric && r.has("hotplug_on_connect")) return Error{"hotplug_on_connect= is for mode=asymmetric"};
  if (symmetric && r.has("allow_unsealed")) return Error{"allow_unsealed= is for mode=asymmetric (a symmetric peer's section must be sealed)"};
  if (!symmetric && r.has("listen")) return Error{"listen= is for mode=symmetric (an asymmetric device always listens)"};
  if (!symmetric && r.has("section")) return Error{"section= is for mode=symmetric"};
  return {};
}

}  // namespace

std::span<const Key> VhostPciNet::keys() { return kKeys; }

Result<VhostPciSpec> VhostPciNet::from_options(const Options& options) {
  OptionReader r(options);
  VhostPciSpec spec;
  if (auto mode = r.string("mode")) {
    if (*mode != "symmetric" && *mode != "asymmetric") return Error{"mode=" + *mode + ": expected asymmetric or symmetric"};
    if (*mode == "symmetric") spec.mode = VhostPciSpec::Mode::kSymmetric;
  }
  if (auto bar = r.number("bar")) {
    if (auto ok = check_peer_bar_size(*bar); !ok) return Error{"bar=" + value_text(*r.get("bar")) + ": " + ok.message()};
    spec.bar_size = *bar;
  }
  if (auto section = r.number("section")) {
    if (auto ok = check_section_size(*section); !ok) return Error{"section=" + value_text(*r.get("section")) + ": " + ok.message()};
    spec.section_size = *section;
  }
  spec.hotplug_on_connect = r.on_off("hotplug_on_connect").value_or(false);
  spec.allow_unsealed = r.on_off("allow_unsealed").value_or(false);
  spec.listen = r.on_off("listen").value_or(true);
  TANDEM_TRY(read_peer_keys(r, spec));
  spec.socket = r.string("socket").value_or("");
  if (spec.socket.empty()) return Error{(options.empty() ? "no socket" : "'" + options_text(options) + "' names no socket") + ": give socket=PATH"};
  if (spec.socket.size() >= 108) return Error{"socket path " + spec.socket + " is longer than a Unix socket allows (107)"};
  TANDEM_TRY(check_mode_keys(r, spec.mode == VhostPciSpec::Mode::kSymmetric));
  return spec;
}

Options VhostPciNet::to_options(const VhostPciSpec& spec) {
  Options o{{"socket", spec.socket}};
  if (spec.mode == VhostPciSpec::Mode::kSymmetric) {
    o.insert(o.end(), {{"mode", std::string("symmetric")}, {"listen", spec.listen}, {"section", spec.section_size}});
  } else {
    o.push_back({"bar", spec.bar_size});
    if (spec.hotplug_on_connect) o.push_back({"hotplug_on_connect", true});
    if (spec.allow_unsealed) o.push_back({"allow_unsealed", true});
  }
  if (spec.peer_uid) o.push_back({"peer_uid", uint64_t{*spec.peer_uid}});
  if (spec.peer_gid) o.push_back({"peer_gid", uint64_t{*spec.peer_gid}});
  if (spec.peer_timeout_s != 10) o.push_back({"peer_timeout", uint64_t{spec.peer_timeout_s}});
  return o;
}

namespace {

// Either mode's device, created with what both configs share: the socket, who may be the peer, and
// where the peer's comings and goings are told.
template <typename Device, typename Config, typename... Addrs>
DeviceResult<BuiltDevice> create_link(Config cfg, const VhostPciSpec& spec, BuildContext& ctx, Addrs... addrs) {
  cfg.socket = spec.socket;
  cfg.peers = PeerPolicy{spec.peer_uid, spec.peer_gid};
  cfg.on_peer = ctx.on_peer;
  auto view = std::make_shared<RequesterVmServices>(ctx.services);
  auto dev = Device::create(cfg, view, addrs...);
  if (!dev) return DeviceError{DeviceError::Kind::kBackendFailed, dev.message()};
  BuiltDevice b;
  b.type = VhostPciNet::kName;
  b.device = *dev;
  b.link = *dev;
  b.services = view;
  return b;
}

DeviceResult<BuiltDevice> build_asymmetric(const VhostPciSpec& spec, BuildContext& ctx) {
  auto bar0 = hold(ctx.mmio64, vhost_pci::kBar0Size);
  if (!bar0) return DeviceError{DeviceError::Kind::kNoRoom, "no room for its BARs in the 64-bit window"};
  auto bar2 = hold(ctx.mmio64, spec.bar_size);
  if (!bar2) return DeviceError{DeviceError::Kind::kNoRoom, "no room for its BARs in the 64-bit window"};
  vhost_pci::Config vc;
  vc.peer_bar_size = spec.bar_size;
  vc.allow_unsealed = spec.allow_unsealed;
  vc.silent_peer_timeout = std::chrono::seconds(spec.peer_timeout_s);
  auto built = create_link<vhost_pci::NetDevice>(vc, spec, ctx, bar0->addr(), bar2->addr());
  if (auto* b = std::get_if<BuiltDevice>(&built)) {
    b->backend = {{"socket", spec.socket}, {"bar", spec.bar_size}};
    b->bars = {bar0->keep(), bar2->keep()};
    b->on_connect = spec.hotplug_on_connect;
  }
  return built;
}

DeviceResult<BuiltDevice> build_symmetric(const VhostPciSpec& spec, BuildContext& ctx) {
  if (!ctx.sections) return DeviceError{DeviceError::Kind::kUnavailable, "this VM has no window for shared sections"};
  auto shm = hold(*ctx.sections, vhost_pci::SymmetricDevice::window_size(spec.section_size));
  if (!shm) return DeviceError{DeviceError::Kind::kNoRoom, "no room for its sections in the section window"};
  auto bar0 = hold(ctx.mmio64, vhost_pci::kBar0Size);
  if (!bar0) return DeviceError{DeviceError::Kind::kNoRoom, "no room for its BAR in the 64-bit window"};
  vhost_pci::SymmetricConfig sc;
  sc.listen = spec.listen;
  sc.section_size = spec.section_size;
  sc.hello_timeout = std::chrono::seconds(spec.peer_timeout_s);
  auto built = create_link<vhost_pci::SymmetricDevice>(sc, spec, ctx, bar0->addr(), shm->addr());
  if (auto* b = std::get_if<BuiltDevice>(&built)) {
    b->backend = {{"socket", spec.socket}, {"mode", std::string("symmetric")}, {"listen", spec.listen},
                  {"section", spec.section_size}, {"shm_base", shm->addr()}};
    b->bars = {bar0->keep()};
    b->sections = shm->keep();
  }
  return built;
}

}  // namespace

DeviceResult<BuiltDevice> VhostPciNet::build(const VhostPciSpec& spec, BuildContext& ctx) {
  return spec.mode == VhostPciSpec::Mode::kSymmetric ? build_symmetric(spec, ctx) : build_asymmetric(spec, ctx);
}

}  // namespace device_kinds

Result<VhostPciSpec> parse_vhost_pci(const std::string& text) { return device_kinds::spec_from_text<device_kinds::VhostPciNet>(text); }

Status check_peer_bar_size(uint64_t size) {
  if (!vhost_pci::valid_peer_bar_size(size)) return Error{"the peer BAR must be a power of two from 4G to 32G"};
  return {};
}

Status check_section_size(uint64_t size) {
  // The rule is the link's (both tandems of a pair check it there too); the words are the CLI's.
  if (!vhost_pci::link::check_section_size(size)) return Error{"a section must be a power of two from 1M to 64M"};
  return {};
}

}  // namespace tandem
