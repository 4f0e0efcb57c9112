// devices/vhost_pci/link_device.h: BAR 0's layout, shared by both modes, and what the VMM asks of either vhost-pci-net device (2.0's
// NetDevice, 2.1's SymmetricDevice) besides its PCI and MMIO faces: serve its socket, stop, and
// say how its link is.
#pragma once

#include <cstdint>

namespace tandem::vhost_pci {

// BAR 0, the same in both modes (§2, §3): registers, doorbells, MSI-X table and PBA.
constexpr uint32_t kMagic = 0x4e505654;  // "TVPN"
constexpr uint64_t kBar0Size = 0x4000;
constexpr uint64_t kDoorbellOffset = 0x1000;
constexpr uint64_t kMsixTableOffset = 0x2000;
constexpr uint64_t kMsixPbaOffset = 0x3000;
constexpr uint64_t kRegMagic = 0x00, kRegVersion = 0x04, kRegMaxQueues = 0x08, kRegNumVectors = 0x0c,
                   kRegDriverStatus = 0x10, kRegLinkState = 0x14, kRegStopLo = 0x18, kRegStopHi = 0x1c,
                   kRegStopAck = 0x20, kRegStopTimeout = 0x24;

// Link states as the LINK_STATE register reads them (docs/vhost-pci-net.md §5, §9.6).
enum LinkState : uint32_t { kDown = 0, kNegotiating = 1, kUp = 2, kStopping = 3 };

class LinkDevice {
 public:
  virtual ~LinkDevice() = default;
  // Starts serving (or, for a connecting symmetric end, dialling) the socket on its own thread.
  virtual void start() = 0;
  // Ends the link and joins that thread. Idempotent.
  virtual void stop() = 0;
  // Off the bus but still serving (2.0's hotplug_on_connect); others never park.
  virtual void park() {}
  virtual uint32_t link_state() const = 0;
};

}  // namespace tandem::vhost_pci
