// devices/virtio/net_vhost_user.cc: virtio-net whose packets a vhost-user backend process moves
// (dpdk-testpmd, OVS-DPDK, the tandem of a vhost-pci-net VM).
//
// tandem is the vhost-user front-end. The link is up while the connection is: a watcher thread
// sees the backend go away (the socket hangs up), takes the link down with a config interrupt,
// and reconnects every half second. When it is back, tandem programs the rings again, starting at
// the guest's used index, and brings the link up.
#include <poll.h>
#include <sys/eventfd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "base/eventfd.h"
#include "base/worker_thread.h"
#include "devices/vhost_user/frontend.h"
#include "devices/virtio/net.h"
#include "devices/virtio/vhost_rings.h"

namespace tandem::virtio {

namespace {

constexpr uint64_t kSupported = kFVersion1 | kFRingEventIdx | kFRingIndirectDesc | net::kFMrgRxbuf | net::kFCsum | net::kFGuestCsum |
                                net::kFGuestTso4 | net::kFGuestTso6 | net::kFGuestEcn | net::kFHostTso4 | net::kFHostTso6 |
                                net::kFHostEcn;
// How long a reply may take. QEMU waits forever; a bound keeps a hung back-end from freezing the vCPU
// that set DRIVER_OK. Generous, because a loaded host (DPDK mapping a fresh memory table under a
// nested TCG host took more than 5 s) is slow, not broken.
constexpr auto kReplyTimeout = std::chrono::milliseconds(30000);
constexpr int kReconnectMs = 500;

void log(const std::string& m) { std::fprintf(stderr, "tandem: %s\n", m.c_str()); }

class VhostUserBackend : public NetBackend {
 public:
  VhostUserBackend(std::string path, std::unique_ptr<vhost_user::Frontend> fe, uint64_t features)
      : path_(std::move(path)), fe_(std::move(fe)), backend_features_(features), stop_fd_(::eventfd(0, EFD_CLOEXEC)) {
    link_.store(true);
    watcher_ = std::thread([this] { watch(); });
  }
  ~VhostUserBackend() override {
    signal_eventfd(stop_fd_.get());
    if (watcher_.joinable()) watcher_.join();
    stop();
  }

  std::string describe() const override { return "vhost-user " + path_; }
  uint64_t features() const override { return backend_features_ & kSupported; }
  bool link_up() const override { return link_.load(); }
  bool link_can_return() const override { return true; }
  void set_link_callback(std::function<void()> changed) override {
    std::lock_guard lock(mu_);
    link_changed_ = std::move(changed);
  }

  Status start(const GuestMemory& mem, uint64_t features, const std::vector<ActiveQueue>& queues, const TransportHooks&) override {
    std::lock_guard lock(mu_);
    mem_ = &mem;
    features_ = features;
    queues_ = queues;
    started_ = true;
    if (!fe_) return {};  // link down: the rings are programmed when the backend is back
    std::vector<uint16_t> bases(queues.size(), 0);
    return program(bases);
  }

  void stop() override {
    std::lock_guard lock(mu_);
    if (started_ && fe_) {
      for (const auto& q : queues_) (void)fe_->get_vring_base(q.index);
    }
    started_ = false;
    queues_.clear();
  }

 private:
  // mu_ held.
  Status program(const std::vector<uint16_t>& bases) {
    TANDEM_TRY(fe_->set_features(features_ & backend_features_));
    TANDEM_TRY(program_vhost(*fe_, *mem_, queues_, bases));
    for (const auto& q : queues_) TANDEM_TRY(fe_->set_vring_enable(q.index, true));
    return {};
  }

  void set_link(bool up) {
    std::function<void()> cb;
    {
      std::lock_guard lock(mu_);
      cb = link_changed_;
    }
    link_.store(up);
    if (cb) cb();
  }

  void watch() {
    begin_worker_thread("vhost-user-link");  // the VMM's sandbox (base/worker_thread.h)
    while (true) {
      int fd = -1;
      {
        std::lock_guard lock(mu_);
        if (fe_) fd = fe_->socket_fd();
      }
      pollfd fds[2] = {{stop_fd_.get(), POLLIN, 0}, {fd, POLLRDHUP, 0}};
      int n = ::poll(fds, 2, fd >= 0 ? -1 : kReconnectMs);
      if (n < 0 && errno != EINTR) return;
      if (fds[0].revents) return;
      if (fd >= 0 && (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        log(describe() + ": the backend went away; link down, reconnecting");
        {
          std::lock_guard lock(mu_);
          fe_.reset();
        }
        set_link(false);
        continue;
      }
      if (fd < 0) reconnect();
    }
  }

  void reconnect() {
    auto fe = vhost_user::Frontend::connect(path_, kReplyTimeout);
    if (!fe) return;
    {
      std::lock_guard lock(mu_);
      fe_ = std::move(fe).value();
      Status s = fe_->set_owner();
      if (s && started_) {
        // Resume where the guest is: every buffer it got back is done, anything else is lost.
        std::vector<uint16_t> bases;
        for (const auto& q : queues_) {
          auto used = used_index(*mem_, q.config);
          bases.push_back(used ? *used : 0);
        }
        s = program(bases);
      }
      if (!s) {
        log(describe() + ": reconnect failed: " + s.message());
        fe_.reset();
        return;
      }
    }
    log(describe() + ": the backend is back; link up");
    set_link(true);
  }

  std::string path_;
  std::mutex mu_;
  std::unique_ptr<vhost_user::Frontend> fe_;
  uint64_t backend_features_;
  std::atomic<bool> link_{false};
  std::function<void()> link_changed_;
  const GuestMemory* mem_ = nullptr;
  uint64_t features_ = 0;
  std::vector<ActiveQueue> queues_;
  bool started_ = false;
  UniqueFd stop_fd_;
  std::thread watcher_;
};

}  // namespace

Result<std::unique_ptr<NetBackend>> make_vhost_user_backend(const std::string& socket, int connect_timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(connect_timeout_ms);
  while (true) {
    auto fe = vhost_user::Frontend::connect(socket, kReplyTimeout);
    if (fe) {
      TANDEM_TRY((*fe)->set_owner());
      auto features = (*fe)->get_features();
      if (!features) return features.error();
      if (!(*features & kFVersion1)) return Error{"vhost-user " + socket + ": the backend does not offer VIRTIO_F_VERSION_1"};
      return std::unique_ptr<NetBackend>(new VhostUserBackend(socket, std::move(fe).value(), *features));
    }
    if (std::chrono::steady_clock::now() >= deadline) return fe.error();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace tandem::virtio
