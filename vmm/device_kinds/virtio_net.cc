// vmm/device_kinds/virtio_net.cc: virtio-net's keys, checks and build.
#include "vmm/device_kinds/virtio_net.h"

#include "devices/net/mac.h"
#include "devices/virtio/net.h"
#include "devices/virtio/pci_transport.h"

namespace tandem {

namespace device_kinds {

namespace {

constexpr Key kKeys[] = {
    {"tap", ValueType::kString, "an interface name"},
    {"vhost-user", ValueType::kString, "a socket path"},
    {"vhost", ValueType::kOnOff, "on or off"},
    {"coalesce", ValueType::kCount, "a whole number of microseconds", true, 999999},
    {"mac", ValueType::kString, "a MAC address"},
};

// The backend keys: exactly one of tap= and vhost-user=.
Status read_backend(const OptionReader& r, const Options& options, NetSpec& spec) {
  if (r.count("tap") + r.count("vhost-user") > 1) {
    return Error{"'" + options_text(options) + "' names more than one backend (tap= or vhost-user=)"};
  }
  if (auto tap = r.string("tap")) {
    if (auto s = net::validate_ifname(*tap); !s) return Error{"tap=" + *tap + ": " + s.message()};
    spec.kind = NetSpec::Kind::kTap;
    spec.tap = *tap;
  } else if (auto sock = r.string("vhost-user")) {
    spec.kind = NetSpec::Kind::kVhostUser;
    spec.socket = *sock;
  } else {
    return Error{(options.empty() ? "no backend" : "'" + options_text(options) + "' names no backend") + ": give tap=NAME or vhost-user=SOCKET"};
  }
  return {};
}

}  // namespace

std::span<const Key> VirtioNet::keys() { return kKeys; }

Result<NetSpec> VirtioNet::from_options(const Options& options) {
  OptionReader r(options);
  NetSpec spec;
  TANDEM_TRY(read_backend(r, options, spec));
  if (auto v = r.on_off("vhost")) spec.vhost = *v;
  if (auto mac = r.string("mac")) {
    if (auto m = net::parse_mac(*mac); !m) return m.error();
    spec.mac = *mac;
  }
  if (auto us = r.number("coalesce")) {
    if (*us > net::kMaxTapCoalesceUs) {
      return Error{"coalesce=" + std::to_string(*us) + ": at most " + std::to_string(net::kMaxTapCoalesceUs) + " microseconds"};
    }
    spec.coalesce_us = static_cast<uint32_t>(*us);
  }
  if (spec.vhost && spec.kind != NetSpec::Kind::kTap) return Error{"vhost=on only goes with tap=NAME"};
  if (r.has("coalesce") && (spec.kind != NetSpec::Kind::kTap || spec.vhost)) {
    return Error{"coalesce= only goes with tap=NAME without vhost=on (the batching of tandem's own datapath)"};
  }
  return spec;
}

Options VirtioNet::to_options(const NetSpec& spec) {
  Options o;
  if (spec.kind == NetSpec::Kind::kTap) {
    o.push_back({"tap", spec.tap});
    if (spec.vhost) o.push_back({"vhost", true});
    if (!spec.vhost && spec.coalesce_us != net::kDefaultTapCoalesceUs) o.push_back({"coalesce", uint64_t{spec.coalesce_us}});
  } else {
    o.push_back({"vhost-user", spec.socket});
  }
  if (!spec.mac.empty()) o.push_back({"mac", spec.mac});
  return o;
}

DeviceResult<BuiltDevice> VirtioNet::build(const NetSpec& spec, BuildContext& ctx) {
  auto mac = spec.mac.empty() ? net::derive_mac(default_mac_seed(spec)) : net::parse_mac(spec.mac);
  if (!mac) return DeviceError{DeviceError::Kind::kInvalid, mac.message()};
  Result<std::unique_ptr<virtio::NetBackend>> backend = Error{""};
  if (spec.kind == NetSpec::Kind::kVhostUser) {
    backend = virtio::make_vhost_user_backend(spec.socket, ctx.vhost_user_connect_ms);
  } else if (spec.vhost) {
    backend = virtio::make_vhost_net_backend(spec.tap);
  } else {
    backend = virtio::make_tap_backend(spec.tap, spec.coalesce_us);
  }
  if (!backend) return DeviceError{DeviceError::Kind::kBackendFailed, backend.message()};
  auto bar = hold(ctx.mmio64, virtio::kBar0Size);
  if (!bar) return DeviceError{DeviceError::Kind::kNoRoom, "no room for BAR 0 in the 64-bit window: " + bar.message()};
  auto net = std::make_shared<virtio::Net>(*mac, std::move(backend).value());
  auto view = std::make_shared<RequesterVmServices>(ctx.services);
  auto dev = virtio::PciTransport::create(net, view, ctx.mem, bar->addr());
  if (!dev) return DeviceError{DeviceError::Kind::kInternal, dev.message()};
  BuiltDevice b;
  b.type = kName;
  b.device = *dev;
  b.services = view;
  if (spec.kind == NetSpec::Kind::kTap) {
    b.backend = {{"tap", spec.tap}, {"vhost", spec.vhost}};
    if (!spec.vhost) b.backend.push_back({"coalesce", uint64_t{spec.coalesce_us}});
  } else {
    b.backend = {{"vhost-user", spec.socket}};
  }
  b.mac = net::format_mac(*mac);
  b.counters = net->counters();
  b.guest = [filter = net->rx_filter()]() -> Options {  // not the device: device.list never ends its life
    auto m = filter->get();
    return {{"mac", net::format_mac(m.mac)}, {"promisc", m.promisc}, {"allmulti", m.allmulti}};
  };
  b.bars = {bar->keep()};
  return b;
}

}  // namespace device_kinds

Result<NetSpec> parse_net(const std::string& text) { return device_kinds::spec_from_text<device_kinds::VirtioNet>(text); }

std::string default_mac_seed(const NetSpec& spec) {
  return spec.kind == NetSpec::Kind::kTap ? "tap:" + spec.tap : "vhost-user:" + spec.socket;
}

}  // namespace tandem
