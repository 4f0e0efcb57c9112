// vmm/device_kinds/vhost_pci_net.h: the vhost-pci-net device kind, both modes, in one place: its
// settings (--vhost-pci, device.add's "vhost-pci-net", a manifest's [[vm.vhost-pci-net]]), their
// checks, and its build.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "devices/vhost_pci/link_protocol.h"
#include "devices/vhost_pci/peer_bar.h"
#include "vmm/device_kinds/build.h"
#include "vmm/device_kinds/options.h"

namespace tandem {

namespace device_kinds {
struct VhostPciNet;
}

// One vhost-pci-net. Asymmetric (2.0, the default): tandem listens on `socket` for a peer's
// vhost-user front-end and maps the peer's memory into a BAR. Symmetric (2.1,
// docs/vhost-pci-net.md §9): both VMs have this device; the two tandems meet on `socket` (one
// listens, the other connects) and share only two output sections of `section_size` bytes.
struct VhostPciSpec {
  using Of = device_kinds::VhostPciNet;  // its kind
  enum class Mode { kAsymmetric, kSymmetric } mode = Mode::kAsymmetric;
  std::string socket;
  uint64_t bar_size = vhost_pci::kDefaultPeerBarSize;  // asymmetric: the peer-memory BAR, the largest peer it can take
  // Asymmetric: the device is on the PCI bus only while a peer is connected: hot-added when a
  // peer's front-end connects, hot-removed when it goes (the 2017 design's "device created on
  // connect").
  bool hotplug_on_connect = false;
  // Asymmetric: take a peer's memory files that are not sealed against shrinking (hugetlbfs or
  // tmpfs files, which cannot be sealed). Such a peer can truncate its memory under this VM: only
  // for a trusted peer (docs/security.md).
  bool allow_unsealed = false;
  // Who may connect to a listening device (the same uid as tandem's by default), and how long a
  // peer that connects may say nothing (2.0: its first message; 2.1: its HELLO).
  std::optional<uint32_t> peer_uid, peer_gid;
  uint32_t peer_timeout_s = 10;
  bool listen = true;                   // symmetric: listen on `socket` (off: connect to it)
  uint64_t section_size = vhost_pci::link::kDefaultSectionSize;  // symmetric: bytes per output section, a power of two 1M-64M
};

namespace device_kinds {

struct VhostPciNet {
  using Spec = VhostPciSpec;
  static constexpr const char* kName = "vhost-pci-net";
  static constexpr const char* kTable = kName;  // the manifest's [[vm.vhost-pci-net]]
  static constexpr const char* kOption = "--vhost-pci";
  static constexpr const char* kIdPrefix = "vpci";
  static constexpr const char* kHelp =
      "vhost-pci-net device, repeatable: socket=PATH[,bar=SIZE][,hotplug_on_connect=on][,allow_unsealed=on]; a peer's vhost-user "
      "front-end connects there (with hotplug_on_connect=on the device is hot-added then, and removed when it goes). "
      "Or socket=PATH,mode=symmetric[,listen=on|off][,section=SIZE]: 2.1, both VMs have one; their tandems meet "
      "on the socket (one listens) and share only two output sections of SIZE (default 4M). Either mode: "
      "peer_uid=N and peer_gid=N let that user or group connect (only tandem's own uid may by default), "
      "peer_timeout=SECONDS drops a peer that connects and stays silent (default 10)";

  // socket, mode, bar, hotplug_on_connect, allow_unsealed, peer_uid, peer_gid, peer_timeout,
  // listen, section.
  static std::span<const Key> keys();
  static Result<VhostPciSpec> from_options(const Options& options);
  static Options to_options(const VhostPciSpec& spec);
  // The socket it listens on (asymmetric, or a symmetric end that listens), or "".
  static std::string listens_on(const VhostPciSpec& spec) {
    return spec.mode == VhostPciSpec::Mode::kAsymmetric || spec.listen ? spec.socket : "";
  }
  static std::string connects_to(const VhostPciSpec& spec) {
    return spec.mode == VhostPciSpec::Mode::kSymmetric && !spec.listen ? spec.socket : "";
  }
  static bool needs_hotplug(const VhostPciSpec& spec) { return spec.hotplug_on_connect; }
  static DeviceResult<BuiltDevice> build(const VhostPciSpec& spec, BuildContext& ctx);
};

}  // namespace device_kinds

// "socket=PATH[,bar=SIZE][,hotplug_on_connect=on][,allow_unsealed=on]" or (either mode)
// ",peer_uid=N,peer_gid=N,peer_timeout=SECONDS", or
// "socket=PATH,mode=symmetric[,listen=on|off][,section=SIZE]". Errors name the bad part.
Result<VhostPciSpec> parse_vhost_pci(const std::string& text);
// The peer-memory BAR size rule: a power of two from 4G to 32G.
Status check_peer_bar_size(uint64_t size);
// The symmetric output-section size rule: a power of two from 1M to 64M.
Status check_section_size(uint64_t size);

}  // namespace tandem
