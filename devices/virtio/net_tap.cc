// devices/virtio/net_tap.cc: the userspace virtio-net datapath: one thread moves packets between
// the rings and a tap (IFF_VNET_HDR, 12-byte headers, offloads set on the tap).
//
// TX: each chain's readable buffers go to the tap in one writev, header included. RX: a frame is
// read from the tap into a bounce buffer, then copied into as many posted chains as it needs
// (mergeable buffers) with num_buffers set, or into one chain; a frame's chains enter the used ring
// together. A malformed chain or ring sends the device to NEEDS_RESET; a packet that cannot be
// delivered is dropped and counted.
//
// Batching (coalesce_us > 0, the default): a kick or a readable tap is handled at once; when that
// moved packets, the thread then looks again every coalesce_us instead of waiting for the next
// kick, while each look finds packets; TX notifications stay off meanwhile and the tap is read in
// batches. A look that finds nothing re-arms the notifications and blocks. Every kick and
// every interrupt is a guest exit; per packet this is what QEMU's bottom-half TX and its main
// loop's tap reads get by being slower to answer, and what NIC interrupt moderation does
// (docs/bench-net.md has the numbers). With batching on and EVENT_IDX, a receive ring that runs
// dry asks for the guest's kick only once half the ring is posted again (process_rx).
#include <poll.h>
#include <sys/uio.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "base/eventfd.h"
#include "base/log.h"
#include "base/worker_thread.h"
#include "devices/bus.h"
#include "devices/net/tap.h"
#include "devices/virtio/net.h"

namespace tandem::virtio {

namespace {

constexpr size_t kMaxFrame = 65536 + net::kHdrSize + 64;  // a 64 KiB GSO frame and its header
constexpr size_t kMaxIov = 1024;
constexpr size_t kMaxFilteredPerPass = 256;

class TapBackend : public NetBackend {
 public:
  TapBackend(tandem::net::Tap tap, uint32_t coalesce_us, uint32_t rx_kick_wait_ms)
      : tap_(std::move(tap)), coalesce_us_(coalesce_us), rx_kick_wait_ms_(static_cast<int>(rx_kick_wait_ms)) {}
  ~TapBackend() override {
    stop();
    if (debug_logging()) {
      std::fprintf(stderr,
                   "tandem: debug: %s: rx %llu packets (%llu dropped), tx %llu packets (%llu dropped), rx waits %llu (%llu ended "
                   "after %d ms with fewer posts than the kick threshold of %u), tx waits %llu\n",
                   describe().c_str(), (unsigned long long)count(net::kRxPackets), (unsigned long long)count(net::kRxDropped),
                   (unsigned long long)count(net::kTxPackets), (unsigned long long)count(net::kTxDropped), (unsigned long long)rx_waits_, (unsigned long long)rx_kick_timeouts_, rx_kick_wait_ms_,
                   unsigned{rx_kick_after_}, (unsigned long long)tx_waits_);
    }
  }

  std::string describe() const override { return "tap " + tap_.name(); }
  bool counts_packets() const override { return true; }
  void attach(std::shared_ptr<const net::RxFilter> filter, std::shared_ptr<Counters> counters) override {
    filter_ = std::move(filter);
    counters_ = std::move(counters);
  }

  uint64_t features() const override {
    return kFRingEventIdx | kFRingIndirectDesc | net::kFMrgRxbuf | net::kFCsum | net::kFGuestCsum | net::kFGuestTso4 |
           net::kFGuestTso6 | net::kFGuestEcn | net::kFHostTso4 | net::kFHostTso6 | net::kFHostEcn;
  }

  Status start(const GuestMemory& mem, uint64_t features, const std::vector<ActiveQueue>& queues, const TransportHooks& hooks) override {
    stop();
    TANDEM_TRY(tap_.set_vnet_hdr_size(static_cast<int>(net::kHdrSize)));
    TANDEM_TRY(tap_.set_offloads(tandem::net::tap_offloads_for_guest_features(features)));
    mem_ = &mem;
    hooks_ = hooks;
    mrg_ = features & net::kFMrgRxbuf;
    rx_.reset();
    tx_.reset();
    for (const auto& q : queues) {
      auto sq = SplitQueue::create(mem, q.config);
      if (!sq) return Error{describe() + ": queue " + std::to_string(q.index) + ": " + sq.message()};
      if (q.index == net::kRxQueue) {
        rx_.emplace(std::move(sq).value());
        rx_kick_ = q.kick_fd;
        rx_call_ = q.call_fd;
      } else if (q.index == net::kTxQueue) {
        tx_.emplace(std::move(sq).value());
        tx_kick_ = q.kick_fd;
        tx_call_ = q.call_fd;
      }
    }
    // RX kick threshold (see process_rx): half the ring with EVENT_IDX and batching on, else every post.
    rx_kick_after_ = 1;
    if (rx_ && rx_->config().event_idx && coalesce_us_ > 0) rx_kick_after_ = static_cast<uint16_t>(std::max(1, rx_->config().size / 2));
    if (auto s = thread_.start("net-tap", [this] { run(); }); !s) return Error{describe() + ": " + s.message()};
    return {};
  }

  void stop() override {
    thread_.stop();
    rx_.reset();
    tx_.reset();
  }

 private:
  // The queue is broken: NEEDS_RESET, and it is left alone until the driver resets the device.
  // Returns 0, the number of packets moved.
  size_t fail(const char* queue, const std::string& why) {
    if (queue == std::string("rx")) rx_broken_ = true; else tx_broken_ = true;
    if (hooks_.needs_reset) hooks_.needs_reset(describe() + ": " + queue + " queue: " + why);
    return 0;
  }

  void interrupt(SplitQueue& q, int call_fd, const char* name) {
    auto need = q.needs_interrupt(*mem_);
    if (!need) {
      fail(name, need.message());
      return;
    }
    if (*need) signal_eventfd(call_fd);
  }

  void run() {
    rx_broken_ = tx_broken_ = false;
    have_frame_ = rx_waiting_ = tx_blocked_ = false;
    frame_.resize(kMaxFrame);
    process_tx();
    process_rx();
    while (true) {
      pollfd fds[4] = {{thread_.stop_fd(), POLLIN, 0}, {tx_ ? tx_kick_ : -1, POLLIN, 0}, {rx_ ? rx_kick_ : -1, POLLIN, 0}, {tap_.fd(), 0, 0}};
      if (rx_ && !rx_broken_ && !rx_waiting_) fds[3].events |= POLLIN;
      if (tx_blocked_) fds[3].events |= POLLOUT;
      int timeout_ms = -1;
      if (rx_waiting_ && rx_kick_deferred_) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(rx_kick_deadline_ - std::chrono::steady_clock::now()).count();
        timeout_ms = static_cast<int>(std::clamp<decltype(left)>(left, 0, rx_kick_wait_ms_));
      }
      if (::poll(fds, 4, timeout_ms) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents) return;
      size_t moved = rx_kick_overdue() ? rx_look_without_kick() : 0;
      if (fds[1].revents & POLLIN) {
        drain_eventfd(tx_kick_);
        moved += process_tx(coalesce_us_ == 0);
      }
      if (fds[2].revents & POLLIN) {
        drain_eventfd(rx_kick_);
        rx_waiting_ = false;
        moved += process_rx();
      }
      if (fds[3].revents & POLLOUT) {
        tx_blocked_ = false;
        moved += process_tx(coalesce_us_ == 0);
      }
      if (fds[3].revents & POLLIN) moved += process_rx();
      if (coalesce_us_ > 0 && !coalesce(moved)) return;
    }
  }

  // Batching: after a wake-up that moved packets, look again every coalesce_us_ instead of on
  // every kick while each look finds packets; TX notifications stay off meanwhile and the tap is
  // read in batches, so the guest takes fewer exits and interrupts per packet. The wake-up itself
  // is answered at once, so a lone packet waits for nothing; what the guest posts during the
  // window waits at most coalesce_us_. (Starting only on wake-ups that found two or more packets
  // was tried: under a steady one-packet-at-a-time flood it never started, and bench/net's packet
  // rate fell to a third.) False when stop() asked the thread to end.
  bool coalesce(size_t moved) {
    while (moved > 0) {
      pollfd stop{thread_.stop_fd(), POLLIN, 0};
      timespec ts{0, static_cast<long>(coalesce_us_) * 1000};
      int n = ::ppoll(&stop, 1, &ts, nullptr);
      if (n > 0) return false;
      drain_eventfd(tx_kick_);
      moved = process_tx(false);
      if (rx_kick_overdue()) {
        moved += rx_look_without_kick();
      } else if (!rx_waiting_ || rx_kick_ready()) {
        drain_eventfd(rx_kick_);
        rx_waiting_ = false;
        moved += process_rx();
      }
    }
    process_tx(true);  // re-arm; anything posted meanwhile is sent now
    return true;
  }

  // A deferred RX kick (process_rx) that has not come by its deadline.
  bool rx_kick_overdue() const {
    return rx_waiting_ && rx_kick_deferred_ && std::chrono::steady_clock::now() >= rx_kick_deadline_;
  }
  // Looks at the receive ring without the kick and takes what is posted. If it runs dry again,
  // the kick is asked for at the driver's next post this time (it may post little, or nothing: its
  // interface is down, or it is busy); the threshold is back at the next wait.
  size_t rx_look_without_kick() {
    const uint16_t before = rx_->next_avail();
    rx_waiting_ = false;
    size_t moved = process_rx(/*kick_threshold=*/false);
    if (rx_->next_avail() != before) ++rx_kick_timeouts_;
    return moved;
  }

  bool rx_kick_ready() {
    pollfd p{rx_kick_, POLLIN, 0};
    return rx_kick_ >= 0 && ::poll(&p, 1, 0) > 0;
  }

  // Sends what the driver posted; returns how many chains it consumed. With `rearm`, an empty ring
  // ends with notifications re-enabled (the next post kicks); without, they stay off.
  size_t process_tx(bool rearm = true) {
    if (!tx_ || tx_broken_ || tx_blocked_) return 0;
    size_t used = 0;
    std::vector<iovec> iov;
    // No kicks while draining (each one is a guest exit); asked for again once the ring is empty.
    if (auto s = tx_->disable_notification(*mem_); !s) return fail("tx", s.message());
    while (true) {
      auto popped = tx_->pop(*mem_);
      if (!popped) return fail("tx", popped.message());
      if (!*popped) {
        if (!rearm) break;
        auto more = tx_->enable_notification(*mem_);
        if (!more) return fail("tx", more.message());
        if (!*more) break;
        if (auto s = tx_->disable_notification(*mem_); !s) return fail("tx", s.message());
        continue;
      }
      const Chain& c = **popped;
      iov.clear();
      bool ok = c.writable == 0 && c.readable >= net::kHdrSize && c.buffers.size() <= kMaxIov;
      for (const auto& b : c.buffers) {
        if (!ok || b.len == 0) continue;
        auto s = mem_->slice(b.gpa, b.len);
        if (!s) { ok = false; continue; }
        iov.push_back({s->data(), s->size()});
      }
      if (ok) {
        auto w = tap_.writev(iov);
        if (w && !*w) {  // the tap is full: retry this chain when it drains
          tx_->rewind(1);
          tx_blocked_ = true;
          ++tx_waits_;
          break;
        }
        if (w) {
          add(net::kTxPackets);
          add(net::kTxBytes, c.readable - net::kHdrSize);
        } else {
          add(net::kTxDropped);
          if (debug_logging()) std::fprintf(stderr, "tandem: debug: %s: tx: %s\n", describe().c_str(), w.message().c_str());
        }
      } else {
        add(net::kBadChains);
        add(net::kTxDropped);
      }
      if (auto s = tx_->add_used(*mem_, c.head, 0); !s) return fail("tx", s.message());
      ++used;
    }
    if (used) interrupt(*tx_, tx_call_, "tx");
    return used;
  }

  // Delivers what the tap has into posted buffers; returns how many frames it took from the tap.
  // Without `kick_threshold`, a ring that runs dry asks for the kick at the driver's next post.
  //
  // RX kick threshold: when the ring runs dry with a frame waiting, the guest is the bottleneck
  // (it has a ring's worth of received frames to go through). Asking for a kick at its next post
  // makes it kick at nearly every refill (Linux refills after each NAPI poll of up to 64); with
  // EVENT_IDX tandem asks for the kick once half the ring is posted again (rx_kick_after_), which
  // halves those kicks and loses nothing while the guest still has frames to process. Without a
  // kick in rx_kick_wait_ms_ the ring is looked at anyway (rx_look_without_kick): what is posted is
  // taken, and if the ring runs dry again the kick is asked for at the next post. (Halving the
  // threshold for good after each such look was tried: it fell to 1 within a run, and the gain
  // with it; docs/bench-net.md.)
  size_t process_rx(bool kick_threshold = true) {
    if (!rx_ || rx_broken_) return 0;
    size_t used = 0, filtered = 0;
    std::vector<Chain> chains;
    if (auto s = rx_->disable_notification(*mem_); !s) return fail("rx", s.message());
    while (true) {
      if (!have_frame_) {
        iovec v{frame_.data(), frame_.size()};
        auto r = tap_.readv(std::span<const iovec>(&v, 1));
        if (!r || !*r) break;  // nothing more (or a tap error: poll again)
        frame_len_ = **r;
        // Filtered frames take no buffer: a flood of them must not keep this loop from poll (and
        // stop) for ever.
        if (!accepted()) {
          if (++filtered >= kMaxFilteredPerPass) break;
          continue;
        }
        have_frame_ = true;
      }
      chains.clear();
      uint64_t room = 0;
      while (room < frame_len_) {
        auto popped = rx_->pop(*mem_);
        if (!popped) return fail("rx", popped.message());
        if (!*popped) {
          // Out of buffers: ask for a kick once the driver has posted rx_kick_after_ more
          // (avail_event), unless it already has posted.
          const uint16_t after = kick_threshold ? rx_kick_after_ : 1;
          rx_kick_deferred_ = after > 1;
          if (rx_kick_deferred_) rx_kick_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(rx_kick_wait_ms_);
          auto more = rx_->enable_notification(*mem_, after);
          if (!more) return fail("rx", more.message());
          if (*more) continue;
          break;
        }
        if ((*popped)->readable != 0 || (*popped)->writable == 0) return fail("rx", "receive chain with device-readable or no writable buffers");
        room += (*popped)->writable;
        chains.push_back(std::move(**popped));
        if (!mrg_) break;
      }
      if (room < frame_len_ && (mrg_ || chains.empty())) {
        // Not enough buffers posted: give them back and wait for the driver's kick.
        rx_->rewind(static_cast<uint16_t>(chains.size()));
        rx_waiting_ = true;
        ++rx_waits_;
        break;
      }
      if (room < frame_len_) {  // one chain without mergeable buffers, too small: drop the frame
        if (auto s = rx_->add_used(*mem_, chains[0].head, 0); !s) return fail("rx", s.message());
        add(net::kRxDropped);
      } else {
        uint16_t n = static_cast<uint16_t>(chains.size());
        frame_[10] = static_cast<uint8_t>(n);
        frame_[11] = static_cast<uint8_t>(n >> 8);
        size_t off = 0;
        for (const auto& c : chains) {
          uint32_t written = 0;
          for (const auto& b : c.buffers) {
            if (off == frame_len_) break;
            size_t take = std::min<size_t>(b.len, frame_len_ - off);
            if (take == 0) continue;
            if (auto s = mem_->write(b.gpa, std::span<const uint8_t>(frame_.data() + off, take)); !s) return fail("rx", s.message());
            off += take;
            written += static_cast<uint32_t>(take);
          }
          if (auto s = rx_->push_used(*mem_, c.head, written); !s) return fail("rx", s.message());
        }
        // All of the frame's chains at once: the driver reads num_buffers from the first one and
        // drops the frame if the others are not in the used ring yet.
        if (auto s = rx_->publish_used(*mem_); !s) return fail("rx", s.message());
        add(net::kRxPackets);
        add(net::kRxBytes, frame_len_ - net::kHdrSize);
      }
      have_frame_ = false;
      ++used;
    }
    if (used) interrupt(*rx_, rx_call_, "rx");
    return used;
  }

  void add(size_t counter, uint64_t n = 1) {
    if (counters_) counters_->add(counter, n);
  }
  uint64_t count(size_t counter) const { return counters_ ? counters_->get(counter) : 0; }

  // Whether the frame just read (frame_, frame_len_) passes the guest's receive filter; counts the
  // frames it filters out. The filter is copied again only when the control queue changed it.
  bool accepted() {
    if (frame_len_ < net::kHdrSize + 6) return false;
    if (!filter_) return true;
    if (const uint64_t v = filter_->version(); v != mode_version_) {
      mode_ = filter_->get();
      mode_version_ = v;
    }
    if (mode_.accepts(std::span<const uint8_t, 6>(frame_.data() + net::kHdrSize, 6))) return true;
    add(net::kRxFiltered);
    return false;
  }

  tandem::net::Tap tap_;
  std::shared_ptr<const net::RxFilter> filter_;
  std::shared_ptr<Counters> counters_;
  net::RxMode mode_;                        // the worker's copy of filter_'s
  uint64_t mode_version_ = ~uint64_t{0};
  const uint32_t coalesce_us_;  // 0: handle every kick at once
  const int rx_kick_wait_ms_;   // how long a deferred RX kick is waited for (process_rx)
  const GuestMemory* mem_ = nullptr;
  TransportHooks hooks_;
  bool mrg_ = false;
  std::optional<SplitQueue> rx_, tx_;
  int rx_kick_ = -1, rx_call_ = -1, tx_kick_ = -1, tx_call_ = -1;
  WorkerThread thread_;  // stopped (stop()) before any member it uses goes
  // Worker state.
  std::vector<uint8_t> frame_;
  size_t frame_len_ = 0;
  uint16_t rx_kick_after_ = 1;  // receive buffers the driver posts before it kicks (process_rx)
  bool rx_kick_deferred_ = false;
  std::chrono::steady_clock::time_point rx_kick_deadline_;
  uint64_t rx_kick_timeouts_ = 0;
  bool have_frame_ = false, rx_waiting_ = false, tx_blocked_ = false, rx_broken_ = false, tx_broken_ = false;
  uint64_t rx_waits_ = 0, tx_waits_ = 0;
};

}  // namespace

Result<std::unique_ptr<NetBackend>> make_tap_backend(const std::string& tap_name, uint32_t coalesce_us, uint32_t rx_kick_wait_ms) {
  if (coalesce_us > tandem::net::kMaxTapCoalesceUs) {
    return Error{"tap " + tap_name + ": coalesce=" + std::to_string(coalesce_us) + " is above " +
                 std::to_string(tandem::net::kMaxTapCoalesceUs) + " microseconds"};
  }
  if (rx_kick_wait_ms == 0 || rx_kick_wait_ms > kMaxRxKickWaitMs) {
    return Error{"tap " + tap_name + ": the RX kick wait of " + std::to_string(rx_kick_wait_ms) + " ms is outside 1.." +
                 std::to_string(kMaxRxKickWaitMs)};
  }
  auto tap = tandem::net::Tap::open(tap_name);
  if (!tap) return tap.error();
  TANDEM_TRY(tap->check_vnet_hdr_support());
  if (auto s = tap->set_up(); !s) return s.error();
  return std::unique_ptr<NetBackend>(new TapBackend(std::move(tap).value(), coalesce_us, rx_kick_wait_ms));
}

}  // namespace tandem::virtio
