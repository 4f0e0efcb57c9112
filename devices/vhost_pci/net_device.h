// devices/vhost_pci/net_device.h: the vhost-pci-net 2.0 PCI function (docs/vhost-pci-net.md).
//
// tandem is a vhost-user back-end server on a Unix socket. A peer VMM (VM2's, with a plain
// virtio-net) connects as front-end; its memory is mapped into BAR 2 of this device as KVM
// memslots behind a read-only metadata page, and its rings' eventfds are wired inside KVM: the
// peer's kickfds raise this device's MSI-X vectors (irqfd), this device's doorbell registers raise
// the peer's callfds (ioeventfd). The guest driver (guest-images/vhost-pci-net) then works directly
// on the peer's virtqueues. Nothing of the data path passes through tandem's threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "devices/bus.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_config.h"
#include "devices/pci/pci_device.h"
#include "devices/pci/pci_function.h"
#include "devices/vhost_pci/link_device.h"
#include "devices/vhost_pci/peer_bar.h"
#ifdef TANDEM_TEST_SPIN_RELAY
#include "devices/vhost_pci/spin_relay.h"
#endif
#include "devices/vhost_user/backend.h"
#include "devices/vm_services.h"
#include "memory/mapping.h"

namespace tandem::vhost_pci {

// Register and layout constants of the spec (§2–§4).
constexpr uint32_t kMetaMagic = 0x4d505654;      // "TVPM"
constexpr uint32_t kVersion = 0x00020000;
constexpr uint64_t kMetaSize = 0x1000;
constexpr uint64_t kFirstRegionOffset = 0x200000;
constexpr uint64_t kRegionAlign = 0x200000;
constexpr uint32_t kMaxQueues = 64;

struct Config {
  std::string socket;                      // where tandem listens for the peer's front-end
  uint64_t peer_bar_size = kDefaultPeerBarSize;  // BAR 2: room for the peer's memory (power of two)
  uint32_t queue_pairs = 1;
  // Offered to the peer (what guest-images/vhost-pci-net implements): VERSION_1, MRG_RXBUF,
  // RING_EVENT_IDX, RING_INDIRECT_DESC.
  uint64_t features = (1ULL << 32) | (1ULL << 15) | (1ULL << 29) | (1ULL << 28);
  std::chrono::milliseconds stop_timeout{500};
  // Take peer memory files without F_SEAL_SHRINK (refused by default: a peer could truncate them
  // under this VM).
  bool allow_unsealed = false;
  // Who may connect (base/unix_socket.h: the same uid by default), and how long a front-end that
  // connects may stay silent before its first message (it holds the only session slot meanwhile).
  PeerPolicy peers;
  std::chrono::milliseconds silent_peer_timeout{10000};
  // Called on the device's thread when a peer's front-end connects (true) or goes (false), with a
  // few words on why; for the API's notifications. Optional.
  std::function<void(bool connected, const std::string& detail)> on_peer;
};

class NetDevice : public PciDevice, public BusDevice, public LinkDevice, public vhost_user::BackendObserver,
                  public std::enable_shared_from_this<NetDevice> {
 public:
  // Binds the socket, owner-only (a live socket or a file that is not a socket there is an error).
  static Result<std::shared_ptr<NetDevice>> create(const Config& cfg, std::shared_ptr<VmServices> vm, uint64_t bar0,
                                                   uint64_t bar2);
  ~NetDevice() override;
  // Starts serving the socket (one front-end at a time).
  void start() override;
  // Closes the session (unwinding everything it wired) and stops serving. Also done on destruction.
  void stop() override;
  // stop(), then unmaps both BARs: the device holds nothing of the VM's any more. Idempotent; also
  // done on destruction.
  void unplug() override;
  // Unmaps both BARs (the device left the bus) but keeps serving the socket: a hotplug_on_connect
  // device between peers. The guest's next config writes map them again.
  void park() override;

  // PciDevice.
  void config_read(uint32_t offset, std::span<uint8_t> data) override;
  void config_write(uint32_t offset, std::span<const uint8_t> data) override;
  // BusDevice: BAR 0.
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "vhost-pci-net " + cfg_.socket; }

  // BackendObserver (the session thread).
  Status on_mem_table(std::span<const vhost_user::MappedRegion> regions) override;
  void on_features(uint64_t features) override;
  Status on_vring_ready(const vhost_user::VringConfig& ring) override;
  uint16_t on_vring_stop(uint32_t index) override;
  void on_disconnect() override;

  uint32_t link_state() const override;

 private:
  struct Placed {
    vhost_user::MappedRegion region;  // where it lives here, its file, and the session's mapping of it
    uint64_t bar_offset;
    std::optional<uint32_t> slot;
    bool zeroed = false;  // its file shrank: zero pages stand in for it
  };
  struct Ring {
    bool live = false;
    vhost_user::VringConfig cfg;
    UniqueFd kick, call;  // our dups of the session's fds
    int doorbell = -1;    // the fd KVM's ioeventfd signals (call, or the test relay's own)
    bool doorbell_wired = false;
  };
  NetDevice(const Config& cfg, std::shared_ptr<VmServices> vm);
  void serve();
  enum class Wait { kReady, kStopping, kTimeout, kDropPeer };
  Wait wait_readable(int fd, int timeout_ms);
  void run_session(vhost_user::BackendSession& session);
  uint32_t max_queues() const { return 2 * cfg_.queue_pairs; }
  // All with mu_ held.
  void publish_locked();  // metadata page (seqlock) + config interrupt
  void update_link_locked();
  Status install_memory_locked();
  void withdraw_memory_locked();
  Status wire_locked(uint32_t index);
  void unwire_locked(uint32_t index);
  void move_doorbells_locked(std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr);
  void move_peer_memory_locked(std::optional<uint64_t> new_addr);
  uint16_t used_index_locked(uint32_t index);
  bool repair_lost_memory();
  bool repair_lost_memory_locked();
  void watch_sizes_locked();
  void log(const std::string& what) const;

  Config cfg_;
  std::shared_ptr<VmServices> vm_;
  PciFunction fn_;  // config space, MSI-X, both BARs' MMIO (under mu_)
  std::optional<vhost_user::Listener> listener_;
  Mapping meta_;  // the metadata page, a read-only memslot at BAR 2 offset 0
  std::shared_ptr<BusDevice> bar2_hole_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<uint32_t> meta_slot_;
  std::vector<Placed> regions_;
  // Peer memory whose memslot KVM would not remove stays mapped for the life of the process (the
  // guest may still reach it), and the device takes no peer memory again.
  bool stranded_ = false;
  void strand(std::shared_ptr<const void> mapping);
  bool memory_installed_ = false;
  std::vector<Ring> rings_;
  uint32_t link_ = kDown;
  uint32_t session_ = 0;
  uint32_t generation_ = 0;
  uint64_t peer_features_ = 0;
  uint64_t stop_request_ = 0;
  std::optional<uint32_t> stop_ack_;  // the last STOP_ACK value written
  bool driver_ok_ = false;
  bool repaired_any_ = false;  // zero pages replaced a peer's lost memory at least once

#ifdef TANDEM_TEST_SPIN_RELAY
  std::unique_ptr<SpinRelay> relay_;  // test-only: spin_relay.h
#endif
  std::atomic<bool> stopping_{false};
  UniqueFd wake_;  // eventfd: stop() wakes the serve thread, which otherwise sleeps until the socket stirs
  UniqueFd drop_;  // eventfd: the peer's memory shrank (repair_lost_memory_locked); the serve thread drops it
  // inotify (allow_unsealed only): the peer's memory files, watched for a change of size, so that
  // the serve thread repairs a truncation before the guest meets it (KVM may retry a fault on the
  // lost pages as an async page fault for ever instead of failing KVM_RUN with EFAULT).
  UniqueFd shrink_watch_;
  std::vector<int> watches_;  // under mu_
  std::thread thread_;
};

}  // namespace tandem::vhost_pci
