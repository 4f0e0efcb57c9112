// devices/virtio/net.h: the virtio-net device (virtio spec 5.1) and the backends that move its
// packets.
//
// Net is one receive and one transmit queue, a MAC, a link status and the offloads its backend
// can honour. The backend does the work:
//   - make_tap_backend: tandem's own thread moves packets between the rings and a tap
//     (devices/virtio/net_tap.cc);
//   - make_vhost_net_backend: the kernel's vhost-net moves them; tandem only hands over memory
//     table, rings and eventfds (devices/virtio/net_vhost.cc);
//   - make_vhost_user_backend: a vhost-user backend process (dpdk-testpmd, OVS, a vhost-pci-net
//     VM's tandem) moves them; the link follows the connection and tandem reconnects.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "devices/counters.h"
#include "devices/net/mac.h"
#include "devices/net/tap.h"
#include "devices/virtio/device.h"
#include "devices/virtio/net_ctrl.h"

namespace tandem::virtio {

// Feature bits (virtio spec 5.1.3).
namespace net {
constexpr uint64_t kFCsum = 1ULL << 0;
constexpr uint64_t kFGuestCsum = 1ULL << 1;
constexpr uint64_t kFMac = 1ULL << 5;
constexpr uint64_t kFGuestTso4 = 1ULL << 7;
constexpr uint64_t kFGuestTso6 = 1ULL << 8;
constexpr uint64_t kFGuestEcn = 1ULL << 9;
constexpr uint64_t kFGuestUfo = 1ULL << 10;
constexpr uint64_t kFHostTso4 = 1ULL << 11;
constexpr uint64_t kFHostTso6 = 1ULL << 12;
constexpr uint64_t kFHostEcn = 1ULL << 13;
constexpr uint64_t kFHostUfo = 1ULL << 14;
constexpr uint64_t kFMrgRxbuf = 1ULL << 15;
constexpr uint64_t kFStatus = 1ULL << 16;
constexpr uint16_t kStatusLinkUp = 1;
constexpr uint32_t kHdrSize = 12;  // virtio_net_hdr_v1 (modern devices always carry num_buffers)
constexpr uint16_t kRxQueue = 0, kTxQueue = 1, kCtrlQueue = 2;
constexpr uint16_t kQueueSize = 256;
// Handled by the device itself, never handed to a backend (vhost-net and vhost-user do not know them).
constexpr uint64_t kCtrlFeatures = kFCtrlVq | kFCtrlRx | kFCtrlMacAddr | kFGuestAnnounce;

// What vm.counters shows of a NIC, in this order. The first seven only when the backend's packets
// pass through tandem (counts_packets()).
enum Counter : size_t {
  kRxPackets, kRxBytes, kRxDropped, kRxFiltered, kTxPackets, kTxBytes, kTxDropped, kBadChains,
  kRingErrors, kCtrlCommands, kCtrlRefused, kAnnounces, kCounterCount
};
}  // namespace net

using tandem::net::Mac;

class NetBackend {
 public:
  virtual ~NetBackend() = default;
  virtual std::string describe() const = 0;  // "tap tp0", "tap tp0 + vhost-net", "vhost-user /x.sock"
  // Device features this backend can honour (ring features and offloads).
  virtual uint64_t features() const = 0;
  // Start moving packets. `link_changed` is called from any thread when link_up() changes.
  virtual Status start(const GuestMemory& mem, uint64_t features, const std::vector<ActiveQueue>& queues,
                       const TransportHooks& hooks) = 0;
  // Synchronous: afterwards the backend touches no guest memory.
  virtual void stop() = 0;
  virtual bool link_up() const { return true; }
  virtual void set_link_callback(std::function<void()> /*changed*/) {}
  // The link can go and come back (a backend that reconnects): the guest is then asked to
  // announce itself (GUEST_ANNOUNCE) when it is back, so that switches learn where it is.
  virtual bool link_can_return() const { return false; }
  // Packets pass through tandem's own thread: it counts them and applies the receive filter.
  virtual bool counts_packets() const { return false; }
  virtual void attach(std::shared_ptr<const net::RxFilter> /*filter*/, std::shared_ptr<Counters> /*counters*/) {}
};

// Queues 0 and 1 go to the backend; the control queue (2) is served here, by a thread of its own
// (net.cc), since commands are rare and no backend knows them.
class Net : public VirtioDevice {
 public:
  Net(Mac mac, std::unique_ptr<NetBackend> backend);
  ~Net() override;

  uint32_t device_id() const override { return 1; }
  std::string name() const override;
  uint64_t features() const override;
  uint16_t num_queues() const override { return 3; }
  uint16_t max_queue_size() const override { return net::kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void write_config(uint64_t, std::span<const uint8_t>) override {}  // the MAC changes through CTRL_MAC_ADDR only
  void set_hooks(TransportHooks hooks) override;
  Status activate(const GuestMemory& mem, uint64_t features, std::vector<ActiveQueue> queues) override;
  void reset() override;

  const Mac& mac() const { return mac_; }  // the configured one
  net::RxMode rx_mode() const { return filter_->get(); }  // the guest's: its MAC, promisc...
  std::shared_ptr<const net::RxFilter> rx_filter() const { return filter_; }
  std::shared_ptr<const Counters> counters() const { return counters_; }
  NetBackend& backend() { return *backend_; }

 private:
  class CtrlWorker;
  void link_changed();
  void stop_locked();
  // A control command (from the control worker's thread), under the negotiated `features`.
  net::CtrlOutcome control(std::span<const uint8_t> command, uint64_t features);

  Mac mac_;
  std::unique_ptr<NetBackend> backend_;
  NetBackend* const link_;  // backend_, for link_changed() while ~Net destroys it (its thread calls back)
  std::shared_ptr<net::RxFilter> filter_;
  std::shared_ptr<Counters> counters_;
  std::mutex mu_;
  TransportHooks hooks_;
  bool active_ = false;
  uint64_t features_ = 0;  // negotiated, while active
  bool link_was_up_ = true;
  std::atomic<bool> announce_{false};
  std::atomic<unsigned> ctrl_logged_{0};  // control queue lines logged in the device's life
  std::unique_ptr<CtrlWorker> ctrl_;
};

// The backends. Each checks its resource up front and returns a clear error (missing tap
// permissions, no /dev/vhost-net, no socket).
// `coalesce_us` (at most tandem::net::kMaxTapCoalesceUs): 0 handles every kick and every readable
// tap at once; N > 0 batches (net_tap.cc); the first packet after a quiet spell still goes at once.
// `rx_kick_wait_ms` (1 to kMaxRxKickWaitMs): with batching, a receive ring that ran dry waits this
// long for the guest's deferred kick before the datapath looks by itself (net_tap.cc, process_rx).
constexpr uint32_t kDefaultRxKickWaitMs = 10, kMaxRxKickWaitMs = 10000;
Result<std::unique_ptr<NetBackend>> make_tap_backend(const std::string& tap_name,
                                                     uint32_t coalesce_us = tandem::net::kDefaultTapCoalesceUs,
                                                     uint32_t rx_kick_wait_ms = kDefaultRxKickWaitMs);
Result<std::unique_ptr<NetBackend>> make_vhost_net_backend(const std::string& tap_name);
// Connects to `socket`, retrying for up to `connect_timeout_ms` (the backend may still be starting).
Result<std::unique_ptr<NetBackend>> make_vhost_user_backend(const std::string& socket, int connect_timeout_ms);

}  // namespace tandem::virtio
