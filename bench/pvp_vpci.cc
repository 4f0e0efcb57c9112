// bench/pvp_vpci.cc: VM1 of vhost-pci on the real CPU, for bench/pvp (issue 27 §2).
//
// A host process plays VM1's guest driver against a real VM2 virtio-net driver: dpdk-testpmd with
// a net_virtio_user port connects to --socket as a vhost-user front-end. tandem's back-end
// (devices/vhost_user/backend) answers it and maps its memory exactly as for a VM2, and the driver's
// ring core (guest-images/vhost-pci-net/vpn_ring.c, the same file the kernel module builds) moves
// the packets:
//   --dir a2b  testpmd txonly sends: the core drains its TX ring (vring 1), copying each frame
//              once out into a pool of 2 KiB buffers (what the driver does into skbs);
//   --dir b2a  testpmd rxonly receives: the core writes [virtio_net_hdr | frame] straight into
//              its RX buffers (vring 0), one copy, used.idx published once per burst.
// --wake poll spins; --wake notify asks for kicks through the ring (as the driver does) and sleeps
// on the kick eventfd when there is nothing to do, the wait standing in for VM1's irqfd. The
// front-end's call eventfd is written when the ring core decides the peer wants it.
//
// Prints "PVP-VPCI live" when the served ring starts, then, after --warmup seconds and --seconds of
// measurement:
//   PVP-VPCI dir=a2b wake=poll size=64 pps=N gbps=X packets=N seconds=S cpu_s=X sleeps=N calls=N
//            drops=N features=0x...
// or "PVP-VPCI error=..." and exit 1. It asserts nothing about rates.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "devices/vhost_user/backend.h"
#include "devices/vhost_user/connection.h"
#include "guest-images/vhost-pci-net/vpn_ring.h"

namespace {

using namespace tandem;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string socket;
  bool a2b = true;     // testpmd sends (we receive) or receives (we send)
  bool notify = false;
  double seconds = 5, warmup = 2;
  uint32_t size = 64;  // frame bytes we send (b2a)
  uint32_t burst = 32;
  bool in_order = true;
};

[[noreturn]] void fail(const std::string& what) {
  std::printf("PVP-VPCI error=%s\n", what.c_str());
  std::fflush(stdout);
  std::exit(1);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("missing-value-for-" + a);
      return argv[++i];
    };
    if (a == "--socket") o.socket = value();
    else if (a == "--dir") { auto v = value(); if (v != "a2b" && v != "b2a") fail("bad-dir"); o.a2b = v == "a2b"; }
    else if (a == "--wake") { auto v = value(); if (v != "poll" && v != "notify") fail("bad-wake"); o.notify = v == "notify"; }
    else if (a == "--seconds") o.seconds = std::atof(value().c_str());
    else if (a == "--warmup") o.warmup = std::atof(value().c_str());
    else if (a == "--size") o.size = static_cast<uint32_t>(std::atoi(value().c_str()));
    else if (a == "--burst") o.burst = static_cast<uint32_t>(std::atoi(value().c_str()));
    else if (a == "--no-in-order") o.in_order = false;
    else fail("unknown-option-" + a);
  }
  if (o.socket.empty()) fail("no---socket");
  if (o.size < 60 || o.size > 9000 || o.burst < 1 || o.burst > 256 || o.seconds <= 0) fail("bad-option-value");
  return o;
}

// The session's view for the ring core: memory regions and the two vrings' configurations.
class Peer : public vhost_user::BackendObserver {
 public:
  vpn_mem mem{};
  std::array<std::optional<vhost_user::VringConfig>, 2> ring;
  std::array<vpn_vq, 2> vq{};
  uint64_t features = 0;
  bool in_order() const { return features & (1ULL << 35); }

  Status on_mem_table(std::span<const vhost_user::MappedRegion> regions) override {
    if (regions.size() > VPN_MAX_REGIONS) return Error{"more regions than the ring core takes"};
    mem = vpn_mem{};
    for (const auto& r : regions) mem.region[mem.nregions++] = {r.gpa, r.size, r.host};
    return {};
  }
  void on_features(uint64_t f) override { features = f; }
  Status on_vring_ready(const vhost_user::VringConfig& c) override {
    if (c.index > 1) return Error{"only queue pair 0"};
    ring[c.index] = c;
    return {};
  }
  uint16_t on_vring_stop(uint32_t index) override {
    if (index > 1) return 0;
    ring[index].reset();
    return vq[index].last_avail;
  }
  bool live(uint32_t i) const { return ring[i].has_value(); }
};

vpn_vq_features features_of(uint64_t f) {
  vpn_vq_features v{};
  v.event_idx = f & (1ULL << 29);
  v.indirect = f & (1ULL << 28);
  v.mrg = f & (1ULL << 15);
  v.hdr_len = (v.mrg || (f & (1ULL << 32))) ? VPN_HDR_MRG_LEN : VPN_HDR_LEN;
  return v;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void signal_fd(int fd) {
  if (fd < 0) return;
  uint64_t one = 1;
  if (write(fd, &one, sizeof one) < 0) { /* the peer's fd; nothing to do about it */ }
}

struct Counters {
  uint64_t packets = 0, bytes = 0, drops = 0, sleeps = 0, calls = 0;
};

// One burst of the receive direction: drain up to `burst` chains of the peer's TX ring.
uint32_t receive_burst(vpn_vq& vq, bool in_order, uint32_t burst, std::vector<uint8_t>& pool, uint32_t& slot,
                       Counters& c) {
  static vpn_span seg[VPN_MAX_RX_SEGS];
  static std::vector<uint8_t> big(VPN_MAX_RX_FRAME);
  uint32_t done = 0;
  uint16_t head, last = 0;
  while (done < burst && vpn_vq_avail_next(&vq, &head) == 1) {
    uint32_t nseg, len;
    if (vpn_vq_rx_gather(&vq, head, seg, &nseg, &len) == VPN_VQ_RX_OK) {
      std::array<uint8_t, VPN_HDR_MRG_LEN> hdr;
      uint8_t* to = len <= 2048 ? pool.data() + 2048 * (slot++ % 512) : big.data();
      vpn_span dst{to, len};
      vpn_rx_copy(seg, nseg, vq.f.hdr_len, hdr.data(), &dst, 1);
      ++c.packets;
      c.bytes += len;
    } else {
      ++c.drops;
    }
    if (!in_order) vpn_vq_used_add(&vq, head, 0);
    last = head;
    ++done;
  }
  if (in_order) vpn_vq_used_add_in_order(&vq, last, static_cast<uint16_t>(done));
  if (done) vpn_vq_used_publish(&vq);
  return done;
}

// One burst of the transmit direction: up to `burst` frames into the peer's RX buffers.
uint32_t transmit_burst(vpn_vq& vq, uint32_t burst, std::vector<uint8_t>& frame, Counters& c) {
  uint32_t done = 0;
  vpn_span span{frame.data(), static_cast<uint32_t>(frame.size())};
  while (done < burst) {
    std::array<uint8_t, VPN_HDR_MRG_LEN> hdr{};
    vpn_tx_result r = vpn_vq_tx(&vq, hdr.data(), &span, 1);
    if (r == VPN_VQ_TX_NOBUF || r == VPN_VQ_TX_BROKEN) break;
    if (r == VPN_VQ_TX_DONE) {
      ++c.packets;
      c.bytes += frame.size();
    } else {
      ++c.drops;
    }
    ++done;
  }
  vpn_vq_flush(&vq);
  return done;
}

}  // namespace

namespace {

// The ring this run serves, started once the front-end made it live.
struct Served {
  uint32_t index;
  bool started = false;
};

void start_ring(Peer& peer, Served& s, const Options& o) {
  const auto& c = *peer.ring[s.index];
  vpn_vq& vq = peer.vq[s.index];
  if (!vpn_vq_map(&vq, &peer.mem, static_cast<uint16_t>(c.num), c.desc_gpa, c.avail_gpa, c.used_gpa))
    fail("ring-not-mappable");
  vq.f = features_of(peer.features);
  vpn_vq_start(&vq, c.base, c.call_fd >= 0, o.notify);
  vq.defer_publish = true;
  s.started = true;
}

// Handle what the front-end sent (waiting up to `wait`); the served ring starts or stops with it.
void serve_session(vhost_user::BackendSession& session, Peer& peer, Served& s, const Options& o,
                   std::chrono::milliseconds wait) {
  auto step = session.handle_one(wait);
  if (step == vhost_user::BackendSession::Step::kClosed) fail("session-closed:" + session.close_reason());
  if (!peer.live(s.index)) s.started = false;
  else if (!s.started) start_ring(peer, s, o);
}

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

std::vector<uint8_t> test_frame(uint32_t size) {
  std::vector<uint8_t> f(size);
  const uint8_t head[14] = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00};
  std::memcpy(f.data(), head, sizeof head);
  for (uint32_t i = 14; i < size; ++i) f[i] = static_cast<uint8_t>(i);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  Options o = parse(argc, argv);
  auto listener = vhost_user::Listener::bind(o.socket);
  if (!listener.ok()) fail("bind:" + listener.message());
  auto conn = listener->accept(60000ms);
  if (!conn.ok()) fail("accept:" + conn.message());
  Peer peer;
  vhost_user::BackendConfig cfg;
  cfg.name = "pvp_vpci";
  // VERSION_1, MRG_RXBUF, EVENT_IDX, INDIRECT_DESC (tandem's vhost-pci-net offers these); for
  // a2b also IN_ORDER unless --no-in-order: the ring core completes in order anyway, and one used
  // entry then stands for a burst of the peer's transmits. Not for b2a: DPDK 22.11's in-order
  // receive path ran at 32 kpps against it (not investigated), and b2a gains nothing from it.
  cfg.features = vhost_user::kFeatureProtocolFeatures | (1ULL << 32) | (1ULL << 15) | (1ULL << 29) | (1ULL << 28);
  if (o.in_order && o.a2b) cfg.features |= 1ULL << 35;
  cfg.seals.allow_unsealed = true;  // testpmd's memory is hugetlbfs, which cannot be sealed
  cfg.log = [](const std::string& s) { std::fprintf(stderr, "pvp_vpci: %s\n", s.c_str()); };
  auto created = vhost_user::BackendSession::create(std::move(conn.value()), cfg, peer);
  if (!created.ok()) fail("session:" + created.message());
  auto& session = *created.value();

  Served s{o.a2b ? 1u : 0u};
  auto deadline = Clock::now() + 60s;
  while (!s.started) {
    if (Clock::now() > deadline) fail("ring-never-live");
    serve_session(session, peer, s, o, 100ms);
  }
  std::printf("PVP-VPCI live features=%#llx\n", static_cast<unsigned long long>(peer.features));
  std::fflush(stdout);

  std::vector<uint8_t> pool(2048 * 512), frame = test_frame(o.size);
  uint32_t slot = 0;
  Counters c, at_start;
  double cpu_start = 0;
  const auto t_start = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
  const auto t_end = t_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  bool measuring = false;
  auto next_look = Clock::now();
  for (uint64_t iter = 0;; ++iter) {
    // The clock every 256 rounds (vDSO, no system call); the session's socket every millisecond.
    if ((iter & 255) == 0) {
      auto now = Clock::now();
      if (now >= t_end) break;
      if (!measuring && now >= t_start) {
        measuring = true;
        at_start = c;
        cpu_start = cpu_seconds();
      }
      if (now >= next_look) {
        next_look = now + 1ms;
        if (readable(session.fd())) serve_session(session, peer, s, o, 0ms);
      }
    }
    if (!s.started) {
      serve_session(session, peer, s, o, 100ms);
      continue;
    }
    vpn_vq& vq = peer.vq[s.index];
    uint32_t n = o.a2b ? receive_burst(vq, peer.in_order(), o.burst, pool, slot, c) : transmit_burst(vq, o.burst, frame, c);
    if (vq.notify_pending && vpn_vq_need_notify(&vq)) {
      signal_fd(peer.ring[s.index]->call_fd);
      ++c.calls;
    }
    if (n || !o.notify || vq.broken) continue;
    // Nothing to do: ask for a kick, re-check, then sleep on the kick eventfd (VM1's irqfd).
    if (vpn_vq_kick_enable(&vq)) continue;
    pollfd fds[2] = {{peer.ring[s.index]->kick_fd, POLLIN, 0}, {session.fd(), POLLIN, 0}};
    ++c.sleeps;
    if (poll(fds, 2, 100) > 0) {
      uint64_t v;
      if ((fds[0].revents & POLLIN) && read(fds[0].fd, &v, sizeof v) < 0) fail("kick-read");
      if (fds[1].revents) serve_session(session, peer, s, o, 0ms);
    }
    if (s.started) vpn_vq_kick_disable(&peer.vq[s.index]);
    iter |= 255;  // look at the clock after every sleep
  }
  double secs = o.seconds, cpu = cpu_seconds() - cpu_start;
  uint64_t packets = c.packets - at_start.packets, bytes = c.bytes - at_start.bytes;
  std::printf("PVP-VPCI dir=%s wake=%s size=%u pps=%.0f gbps=%.3f packets=%llu seconds=%.1f cpu_s=%.3f "
              "sleeps=%llu calls=%llu drops=%llu features=%#llx\n",
              o.a2b ? "a2b" : "b2a", o.notify ? "notify" : "poll", o.a2b ? 0u : o.size, packets / secs,
              bytes * 8 / secs / 1e9, static_cast<unsigned long long>(packets), secs, cpu,
              static_cast<unsigned long long>(c.sleeps - at_start.sleeps),
              static_cast<unsigned long long>(c.calls - at_start.calls),
              static_cast<unsigned long long>(c.drops - at_start.drops),
              static_cast<unsigned long long>(peer.features));
  return 0;
}
