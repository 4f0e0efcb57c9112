// devices/virtio/net_ctrl.h: the virtio-net control queue's commands (virtio 1.2 §5.1.6.5) and
// the receive filter they set.
//
// Offered with CTRL_VQ: CTRL_RX (promiscuous and all-multicast modes, and the MAC filter tables
// the driver sets alongside them), CTRL_MAC_ADDR (the driver changes the MAC) and GUEST_ANNOUNCE
// (the device asks the guest to announce itself, and the guest acknowledges). Every command comes
// from the guest: apply_ctrl checks its class, command, negotiated feature and exact length, and
// anything else changes nothing and gets VIRTIO_NET_ERR. No other command class is offered (VLAN,
// MQ, RX_EXTRA, offloads).
//
// RxMode::accepts is the filter a datapath applies to a received frame's destination. Until the
// driver sets the mode, and after every reset, the device is promiscuous: a driver without
// CTRL_RX sees every frame (as QEMU).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "devices/net/mac.h"

namespace tandem::virtio::net {

using tandem::net::Mac;

constexpr uint64_t kFCtrlVq = 1ULL << 17;
constexpr uint64_t kFCtrlRx = 1ULL << 18;
constexpr uint64_t kFGuestAnnounce = 1ULL << 21;
constexpr uint64_t kFCtrlMacAddr = 1ULL << 23;
constexpr uint16_t kStatusAnnounce = 2;
constexpr uint8_t kCtrlOk = 0, kCtrlErr = 1;
// Classes and commands (virtio 1.2 §5.1.6.5).
constexpr uint8_t kCtrlRx = 0, kCtrlRxPromisc = 0, kCtrlRxAllmulti = 1;
constexpr uint8_t kCtrlMac = 1, kCtrlMacTableSet = 0, kCtrlMacAddrSet = 1;
constexpr uint8_t kCtrlAnnounce = 3, kCtrlAnnounceAck = 0;
// MAC table entries kept per table (as QEMU); a longer table makes its kind of frame all pass.
constexpr size_t kMacTableEntries = 64;
// The longest command read from the ring (a MAC_TABLE_SET of about 1360 entries); longer is refused.
constexpr size_t kMaxCtrlCommand = 8192;

struct RxMode {
  bool promisc = true;
  bool allmulti = false;
  Mac mac{};
  std::vector<Mac> unicast, multicast;
  bool unicast_overflow = false, multicast_overflow = false;

  // Whether a frame to `dst` reaches the guest.
  bool accepts(std::span<const uint8_t, 6> dst) const;
  bool operator==(const RxMode&) const = default;
};

struct CtrlOutcome {
  uint8_t ack = kCtrlErr;
  std::string what;  // "promisc on", "mac 02:00:00:00:00:01", or why it was refused
  bool mac_changed = false;
  bool announce_acked = false;
  bool changed = false;  // the mode is not what it was (the driver repeats itself often)
};

// Carries out one command on `mode`: `command` is the chain's device-readable bytes (class and
// command, then their data), `features` the negotiated ones.
CtrlOutcome apply_ctrl(std::span<const uint8_t> command, uint64_t features, RxMode& mode);

// The receive mode shared between the control queue (writes) and a datapath thread (reads): the
// datapath keeps a copy and takes a new one when version() moves.
class RxFilter {
 public:
  explicit RxFilter(RxMode initial) : mode_(std::move(initial)) {}
  void set(RxMode mode) {
    std::lock_guard lock(mu_);
    mode_ = std::move(mode);
    version_.fetch_add(1, std::memory_order_release);
  }
  RxMode get() const {
    std::lock_guard lock(mu_);
    return mode_;
  }
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  RxMode mode_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace tandem::virtio::net
