// devices/vhost_pci/symmetric_device.h: the vhost-pci-net 2.1 symmetric PCI function
// (docs/vhost-pci-net.md §9).
//
// Each side owns one output section, a sealed memfd; the peer's tandem gets a read-only descriptor
// of it, and the file is sealed against new writers (F_SEAL_FUTURE_WRITE), so neither the peer's
// guest nor the peer's VMM can write it (issue 26 §3). The guest sees it read-write at a fixed
// guest-physical address (`shm_base`, given in a vendor capability of kind 0x02, no BAR), and the
// peer's section right after it behind a read-only memslot: a guest write there exits here, is
// dropped and counted in RO_WRITES. The two tandems meet on a Unix socket (one listens, the other
// dials) and swap one HELLO each: section memfd and two doorbell eventfds. From then on nothing
// passes through tandem: this VM's doorbells are ioeventfds on the peer's eventfds, and the
// peer's doorbells raise this VM's vectors through irqfds on our own.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/result.h"
#include "base/unique_fd.h"
#include "devices/bus.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_config.h"
#include "devices/pci/pci_device.h"
#include "devices/pci/pci_function.h"
#include "devices/vhost_pci/link_device.h"
#include "devices/vhost_pci/link_protocol.h"
#include "devices/vhost_user/connection.h"
#include "devices/vm_services.h"
#include "memory/mapping.h"

namespace tandem::vhost_pci {

// §9.2: identity and registers beyond §3's.
constexpr uint8_t kSymmetricRevision = 0x21;
constexpr uint32_t kSymmetricVersion = 0x00020001;
constexpr uint16_t kSymmetricVectors = 3;  // 0 config, 1 space, 2 data
constexpr uint64_t kDataDoorbell = 0x1000, kSpaceDoorbell = 0x1004;
constexpr uint64_t kRegRoWrites = 0x28, kRegPeerGeneration = 0x2c;
constexpr uint64_t kSectionReadyOffset = 0x008;  // the header's `ready` (§9.3)

struct SymmetricConfig {
  std::string socket;
  bool listen = true;  // listen on `socket`; false: dial it (every `retry` until it answers)
  uint64_t section_size = link::kDefaultSectionSize;
  std::chrono::milliseconds retry{1000};
  std::chrono::milliseconds hello_timeout{10000};  // a peer that connects but says nothing
  PeerPolicy peers;  // who may be the peer (base/unix_socket.h: our uid by default), checked both ways
  // Called on the device's thread when a peer joins (true) or goes (false), with a few words on why.
  std::function<void(bool up, const std::string& detail)> on_peer;
};

class SymmetricDevice : public PciDevice, public BusDevice, public LinkDevice,
                        public std::enable_shared_from_this<SymmetricDevice> {
 public:
  // Creates the output section and installs it at shm_base (read-write), with the window for the
  // peer's section after it. A listening end binds its socket here (a live one is an error).
  static Result<std::shared_ptr<SymmetricDevice>> create(const SymmetricConfig& cfg, std::shared_ptr<VmServices> vm,
                                                         uint64_t bar0, uint64_t shm_base);
  ~SymmetricDevice() override;
  // How many guest-physical bytes the device needs from shm_base on (both sections).
  static uint64_t window_size(uint64_t section_size) { return 2 * section_size; }

  void start() override;
  void stop() override;  // says BYE to a peer, unwires it, joins the thread
  void unplug() override;
  uint32_t link_state() const override;

  // PciDevice.
  void config_read(uint32_t offset, std::span<uint8_t> data) override;
  void config_write(uint32_t offset, std::span<const uint8_t> data) override;
  // BusDevice: BAR 0.
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "vhost-pci-net (symmetric) " + cfg_.socket; }

  uint32_t ro_writes() const { return ro_writes_.load(); }
  uint32_t peer_generation() const;
  // This side's section as tandem maps it (tests).
  std::span<uint8_t> own_section() { return {own_.map.data(), cfg_.section_size}; }

 private:
  struct OutputSection {
    UniqueFd fd;       // the memfd, sealed: fixed size, no writer but `map`
    UniqueFd peer_fd;  // a read-only file description of it, for the peer's HELLO
    Mapping map;       // ours, read-write (the guest's memslot)
    static Result<OutputSection> create(uint64_t size);
  };
  class Window;  // MMIO behind both sections: what exits (writes into the peer's, reads of a missing peer)
  struct Peer {
    Mapping map;                        // the peer's section, PROT_READ
    std::optional<uint32_t> slot;       // its read-only memslot
    UniqueFd data_out, space_out;       // the peer's eventfds: our doorbells' ioeventfds
    UniqueFd data_in, space_in;         // ours for this session: irqfds of vectors 2 and 1
    bool doorbells_wired = false;
  };

  SymmetricDevice(const SymmetricConfig& cfg, std::shared_ptr<VmServices> vm, uint64_t shm_base);
  void serve();
  std::optional<vhost_user::Connection> next_connection();
  // One link: HELLO both ways, wiring, then waiting for its end. Returns why it ended.
  std::string session(vhost_user::Connection& conn);
  Result<link::Message> receive(vhost_user::Connection& conn, std::chrono::milliseconds timeout);
  Status install_peer(link::Message hello, UniqueFd data_in, UniqueFd space_in);
  void withdraw_peer();
  // With mu_ held.
  void wire_doorbells_locked();
  void unwire_doorbells_locked();
  void unwire_doorbells_at_locked(std::optional<uint64_t> bar0);
  void move_doorbells_locked(std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr);
  bool wait_wake(int fd, int timeout_ms);  // false: stopping (or timeout with fd < 0)
  void log(const std::string& what) const;

  SymmetricConfig cfg_;
  std::shared_ptr<VmServices> vm_;
  const uint64_t shm_base_;
  PciFunction fn_;  // config space, MSI-X, BAR 0's MMIO (under mu_)
  OutputSection own_;
  std::optional<uint32_t> own_slot_;
  std::shared_ptr<Window> window_;
  bool window_mapped_ = false;
  std::optional<vhost_user::Listener> listener_;

  mutable std::mutex mu_;
  std::optional<Peer> peer_;
  uint32_t link_ = kDown;
  uint32_t peer_generation_ = 0;
  bool driver_ok_ = false;
  std::atomic<uint32_t> ro_writes_{0};

  std::atomic<bool> stopping_{false};
  UniqueFd wake_;
  std::thread thread_;
};

}  // namespace tandem::vhost_pci
