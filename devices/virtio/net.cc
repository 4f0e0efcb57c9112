// devices/virtio/net.cc: the virtio-net device core: config space, features, MACs, link, counters
// and the control queue's worker.
#include "devices/virtio/net.h"

#include <poll.h>

#include <cstring>

#include "base/eventfd.h"
#include "base/le.h"
#include "base/log.h"
#include "base/worker_thread.h"

namespace tandem::virtio {

namespace {

std::vector<std::string> counter_names(bool packets) {
  std::vector<std::string> n = {"rx_packets", "rx_bytes", "rx_dropped", "rx_filtered", "tx_packets", "tx_bytes", "tx_dropped",
                                "bad_chains", "ring_errors", "ctrl_commands", "ctrl_refused", "announces"};
  if (!packets)
    for (size_t i = net::kRxPackets; i <= net::kTxDropped; ++i) n[i].clear();
  return n;
}

net::RxMode initial_mode(const Mac& mac) {
  net::RxMode m;
  m.mac = mac;
  return m;
}

}  // namespace

// Serves the control queue: each chain is a command (device-readable bytes) and its one-byte ack
// (the first device-writable byte). A chain without room for the ack is given back unanswered and
// counted; a broken ring sends the device to NEEDS_RESET.
class Net::CtrlWorker {
 public:
  CtrlWorker(Net& net, const GuestMemory& mem, SplitQueue q, const ActiveQueue& aq, uint64_t features,
             std::function<void(const std::string&)> needs_reset)
      : net_(net), mem_(mem), q_(std::move(q)), kick_(aq.kick_fd), call_(aq.call_fd), features_(features),
        needs_reset_(std::move(needs_reset)) {}

  Status start() {
    if (auto s = thread_.start("virtio-net-ctrl", [this] { run(); }); !s) return Error{net_.name() + ": control queue: " + s.message()};
    return {};
  }
  void stop() { thread_.stop(); }

 private:
  void run() {
    serve();
    while (true) {
      pollfd fds[2] = {{thread_.stop_fd(), POLLIN, 0}, {broken_ ? -1 : kick_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents) return;
      drain_eventfd(kick_);
      serve();
    }
  }

  void fail(const std::string& why) {
    broken_ = true;
    if (needs_reset_) needs_reset_(net_.name() + ": control queue: " + why);
  }

  void serve() {
    bool answered = false;
    while (!broken_) {
      auto c = q_.pop_or_arm(mem_);
      if (!c) return fail(c.message());
      if (!*c) break;
      if (!answer(**c)) return;
      answered = true;
    }
    if (!answered) return;
    auto need = q_.needs_interrupt(mem_);
    if (!need) return fail(need.message());
    if (*need && call_ >= 0) signal_eventfd(call_);
  }

  // False when the ring broke.
  bool answer(const Chain& c) {
    const Buffer* ack = nullptr;
    std::vector<uint8_t> command;
    for (const auto& b : c.buffers) {
      if (b.writable) {
        if (!ack && b.len > 0) ack = &b;
        continue;
      }
      // At most one byte past the limit: apply_ctrl refuses what is longer.
      size_t take = std::min<size_t>(b.len, net::kMaxCtrlCommand + 1 - std::min(command.size(), net::kMaxCtrlCommand + 1));
      auto s = mem_.slice(b.gpa, take);
      if (s) command.insert(command.end(), s->begin(), s->end());
    }
    if (!ack) {
      net_.counters_->add(net::kBadChains);
      log("a control command without a byte for its answer: given back unanswered");
      return used(c.head, 0);
    }
    net::CtrlOutcome out = net_.control(command, features_);
    if (out.ack != net::kCtrlOk) log("refused: " + out.what);
    else if (out.changed || out.announce_acked) log("the guest set " + out.what);
    if (auto s = mem_.write(ack->gpa, std::span<const uint8_t>(&out.ack, 1)); !s) {
      fail(s.message());
      return false;
    }
    return used(c.head, 1);
  }

  bool used(uint16_t head, uint32_t len) {
    if (auto s = q_.add_used(mem_, head, len); !s) {
      fail(s.message());
      return false;
    }
    return true;
  }

  // What changed the mode, and what was refused, is logged (Linux repeats its whole receive mode at
  // every change of one flag); a guest can send commands without end, and reset the device as
  // often: the first lines of the device's life are logged, then only counted.
  void log(const std::string& what) {
    const unsigned n = net_.ctrl_logged_.fetch_add(1) + 1;
    if (n > kMaxLogged) return;
    log_line(net_.name(), "control queue: " + what + (n == kMaxLogged ? " (further commands are only counted)" : ""));
  }

  static constexpr unsigned kMaxLogged = 32;
  Net& net_;
  const GuestMemory& mem_;
  SplitQueue q_;
  int kick_, call_;
  uint64_t features_;
  std::function<void(const std::string&)> needs_reset_;
  bool broken_ = false;
  WorkerThread thread_;  // last: its thread ends before the members it uses go
};

Net::Net(Mac mac, std::unique_ptr<NetBackend> backend)
    : mac_(mac), backend_(std::move(backend)), link_(backend_.get()), filter_(std::make_shared<net::RxFilter>(initial_mode(mac))),
      counters_(std::make_shared<Counters>(counter_names(backend_->counts_packets()))) {
  backend_->attach(filter_, counters_);
}

Net::~Net() {
  reset();
  backend_->set_link_callback(nullptr);
  backend_.reset();  // its threads end while this device's members still exist
}

std::string Net::name() const { return "virtio-net " + tandem::net::format_mac(mac_) + " (" + backend_->describe() + ")"; }

uint64_t Net::features() const {
  uint64_t f = kFVersion1 | net::kFMac | net::kFStatus | net::kFCtrlVq | net::kFCtrlRx | net::kFCtrlMacAddr | backend_->features();
  if (backend_->link_can_return()) f |= net::kFGuestAnnounce;
  return f;
}

void Net::read_config(uint64_t offset, std::span<uint8_t> data) {
  // struct virtio_net_config: mac[6], status, max_virtqueue_pairs.
  std::array<uint8_t, 10> cfg{};
  const Mac mac = filter_->get().mac;
  std::memcpy(cfg.data(), mac.data(), 6);
  uint16_t status = backend_->link_up() ? net::kStatusLinkUp : 0;
  if (announce_.load()) status |= net::kStatusAnnounce;
  store_le<uint16_t>(cfg, 6, status);
  store_le<uint16_t>(cfg, 8, 1);
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < cfg.size() ? cfg[offset + i] : 0;
}

void Net::set_hooks(TransportHooks hooks) {
  std::lock_guard lock(mu_);
  hooks_ = hooks;
  auto counters = counters_;
  auto needs_reset = hooks.needs_reset;
  hooks_.needs_reset = [counters, needs_reset](const std::string& why) {
    counters->add(net::kRingErrors);
    if (needs_reset) needs_reset(why);
  };
  backend_->set_link_callback([this] { link_changed(); });
}

// The backend's link went down or came back (its thread). Back up, with GUEST_ANNOUNCE
// negotiated: the guest is asked to announce itself (VIRTIO_NET_S_ANNOUNCE) until it acknowledges.
void Net::link_changed() {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    const bool up = link_->link_up();
    if (up && !link_was_up_ && active_ && (features_ & net::kFGuestAnnounce)) {
      announce_.store(true);
      counters_->add(net::kAnnounces);
    }
    link_was_up_ = up;
    notify = hooks_.config_changed;
  }
  if (notify) notify();
}

net::CtrlOutcome Net::control(std::span<const uint8_t> command, uint64_t features) {
  net::RxMode mode = filter_->get();
  net::CtrlOutcome out = net::apply_ctrl(command, features, mode);
  counters_->add(net::kCtrlCommands);
  if (out.ack != net::kCtrlOk) {
    counters_->add(net::kCtrlRefused);
    return out;
  }
  filter_->set(std::move(mode));
  if (out.announce_acked) announce_.store(false);
  return out;
}

Status Net::activate(const GuestMemory& mem, uint64_t features, std::vector<ActiveQueue> queues) {
  std::lock_guard lock(mu_);
  stop_locked();
  std::vector<ActiveQueue> data;
  const ActiveQueue* ctrl = nullptr;
  for (const auto& q : queues) {
    if (q.index == net::kCtrlQueue) ctrl = &q;
    else data.push_back(q);
  }
  if (ctrl && (features & net::kFCtrlVq)) {
    auto q = SplitQueue::create(mem, ctrl->config);
    if (!q) return Error{name() + ": control queue: " + q.message()};
    ctrl_ = std::make_unique<CtrlWorker>(*this, mem, std::move(q).value(), *ctrl, features, hooks_.needs_reset);
  }
  features_ = features;
  TANDEM_TRY(backend_->start(mem, features & ~net::kCtrlFeatures, data, hooks_));
  active_ = true;
  if (ctrl_) {
    if (auto s = ctrl_->start(); !s) {
      stop_locked();
      return s;
    }
  }
  return {};
}

void Net::reset() {
  std::lock_guard lock(mu_);
  stop_locked();
}

// mu_ held: nothing runs on the queues, and the device is as after power-on (promiscuous, its
// configured MAC, nothing to announce).
void Net::stop_locked() {
  if (ctrl_) ctrl_->stop();
  ctrl_.reset();
  if (active_) backend_->stop();
  active_ = false;
  features_ = 0;
  announce_.store(false);
  filter_->set(initial_mode(mac_));
}

}  // namespace tandem::virtio
