// vmm/device_kinds/virtio_net.h: the virtio-net device kind, in one place: its settings (--net,
// device.add's "virtio-net", a manifest's [[vm.virtio-net]]), their checks, and its build.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "devices/net/tap.h"
#include "vmm/device_kinds/build.h"
#include "vmm/device_kinds/options.h"

namespace tandem {

namespace device_kinds {
struct VirtioNet;
}

// One virtio-net: a tap (optionally with vhost-net) or a vhost-user backend socket.
struct NetSpec {
  using Of = device_kinds::VirtioNet;  // its kind
  enum class Kind { kTap, kVhostUser } kind = Kind::kTap;
  std::string tap;     // interface name, for kTap
  bool vhost = false;  // kTap: the kernel's vhost-net moves the packets
  // kTap without vhost: tandem's datapath batching window in microseconds, 0 = off.
  uint32_t coalesce_us = net::kDefaultTapCoalesceUs;
  std::string socket;  // for kVhostUser
  std::string mac;     // empty: derived from the backend, stable across restarts
};

namespace device_kinds {

struct VirtioNet {
  using Spec = NetSpec;
  static constexpr const char* kName = "virtio-net";  // device.add's "type"
  static constexpr const char* kTable = kName;        // the manifest's [[vm.virtio-net]]
  static constexpr const char* kOption = "--net";     // the command line's option
  static constexpr const char* kIdPrefix = "net";     // net0, net1...
  static constexpr const char* kHelp =
      "virtio-net device, repeatable: tap=NAME[,vhost=on][,coalesce=US][,mac=MAC] or vhost-user=SOCKET[,mac=MAC]";

  // tap, vhost-user, vhost, coalesce, mac.
  static std::span<const Key> keys();
  // Every check of the settings, whichever source they came from. Errors name the bad part.
  static Result<NetSpec> from_options(const Options& options);
  // The options that give back `spec` ("tap=tp0,vhost=on,mac=...").
  static Options to_options(const NetSpec& spec);
  // The socket it connects to (a vhost-user back-end), or "".
  static std::string connects_to(const NetSpec& spec) { return spec.kind == NetSpec::Kind::kVhostUser ? spec.socket : ""; }
  static std::string listens_on(const NetSpec&) { return ""; }
  static bool needs_hotplug(const NetSpec&) { return false; }
  static DeviceResult<BuiltDevice> build(const NetSpec& spec, BuildContext& ctx);
};

}  // namespace device_kinds

// "tap=NAME[,vhost=on|off][,coalesce=US][,mac=MAC]" or "vhost-user=SOCKET[,mac=MAC]".
Result<NetSpec> parse_net(const std::string& text);
// The MAC a virtio-net gets when none is given: derived from what identifies the device on this
// host (the tap name or the socket path), so two VMs never clash and a restarted VM keeps its MAC.
std::string default_mac_seed(const NetSpec& spec);

}  // namespace tandem
