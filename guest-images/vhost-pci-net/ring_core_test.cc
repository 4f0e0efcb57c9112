// guest-images/vhost-pci-net/ring_core_test.cc: the driver's ring core (vpn_ring.c) in user space,
// against split rings laid out as a peer's virtio-net driver lays them out (PeerRing below plays
// that driver: it offers buffers and reads what comes back).
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "guest-images/vhost-pci-net/vpn_ring.h"

namespace {

constexpr uint64_t kGpa = 0x100000;  // the peer's memory: one region [kGpa, kGpa + kSize)
constexpr uint64_t kSize = 0x80000;
constexpr uint64_t kDesc = 0x0, kAvail = 0x10000, kUsed = 0x12000, kIndirect = 0x20000, kBufs = 0x28000;
constexpr uint16_t kNext = 1, kWrite = 2, kIndirectFlag = 4;

// The peer's memory and one of its rings, from the driver's side.
struct PeerRing {
  std::vector<uint8_t> mem = std::vector<uint8_t>(kSize);
  vpn_mem map{};
  vpn_vq vq{};
  uint16_t num;
  uint16_t avail_idx = 0;
  uint64_t next_buf = kBufs;

  explicit PeerRing(uint16_t n = 8, vpn_vq_features f = {false, false, true, VPN_HDR_MRG_LEN}) : num(n) {
    map.nregions = 1;
    map.region[0] = {kGpa, kSize, mem.data()};
    REQUIRE(vpn_vq_map(&vq, &map, num, kGpa + kDesc, kGpa + kAvail, kGpa + kUsed));
    vq.f = f;
    vpn_vq_start(&vq, 0, true, false);
  }
  uint8_t* at(uint64_t off) { return mem.data() + off; }
  void desc(uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next, uint64_t table = kDesc) {
    uint8_t* d = at(table + 16 * i);
    std::memcpy(d, &gpa, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
  }
  void offer(uint16_t head) {
    std::memcpy(at(kAvail + 4 + 2 * (avail_idx % num)), &head, 2);
    ++avail_idx;
    std::memcpy(at(kAvail + 2), &avail_idx, 2);
  }
  // A buffer of len bytes in fresh memory: its gpa.
  uint64_t buffer(uint32_t len) {
    uint64_t g = kGpa + next_buf;
    next_buf += (len + 63) & ~63u;
    return g;
  }
  uint16_t used_idx() const {
    uint16_t v;
    std::memcpy(&v, mem.data() + kUsed + 2, 2);
    return v;
  }
  std::pair<uint32_t, uint32_t> used(uint16_t i) const {
    uint32_t e[2];
    std::memcpy(e, mem.data() + kUsed + 4 + 8 * (i % num), 8);
    return {e[0], e[1]};
  }
  void set_used_event(uint16_t v) { std::memcpy(at(kAvail + 4 + 2 * num), &v, 2); }
  uint16_t avail_event() const {
    uint16_t v;
    std::memcpy(&v, mem.data() + kUsed + 4 + 8 * num, 2);
    return v;
  }
};

std::vector<uint8_t> frame(size_t n) {
  std::vector<uint8_t> f(n);
  std::iota(f.begin(), f.end(), uint8_t{1});
  return f;
}

vpn_tx_result send(PeerRing& r, std::vector<uint8_t>& f) {
  std::array<uint8_t, VPN_HDR_MRG_LEN> hdr{};
  hdr[0] = 0x5a;
  vpn_span span{f.data(), static_cast<uint32_t>(f.size())};
  return vpn_vq_tx(&r.vq, hdr.data(), &span, 1);
}

}  // namespace

// Takes `r`'s next available chain and gathers it: what the core makes of it.
vpn_rx_result gather_next(PeerRing& r) {
  uint16_t head;
  static vpn_span seg[VPN_MAX_RX_SEGS];
  uint32_t nseg, len;
  REQUIRE(vpn_vq_avail_next(&r.vq, &head) == 1);
  return vpn_vq_rx_gather(&r.vq, head, seg, &nseg, &len);
}

TEST_CASE("translate: a range inside one region, never across its end or into a gap") {
  uint8_t a[64], b[64];
  vpn_mem m{};
  m.nregions = 2;
  m.region[0] = {0x1000, 64, a};
  m.region[1] = {0x2000, 64, b};
  CHECK(vpn_translate(&m, 0x1000, 64) == a);
  CHECK(vpn_translate(&m, 0x2010, 16) == b + 16);
  CHECK(vpn_translate(&m, 0x1001, 64) == nullptr);  // one byte past region 0
  CHECK(vpn_translate(&m, 0x1040, 1) == nullptr);   // the gap
  CHECK(vpn_translate(&m, 0xfff, 2) == nullptr);
  CHECK(vpn_translate(&m, UINT64_MAX, 2) == nullptr);
  CHECK(vpn_translate(&m, 0x2000, UINT64_MAX) == nullptr);
}

TEST_CASE("map: num a power of two, parts aligned and inside memory") {
  std::vector<uint8_t> mem(0x4000);
  vpn_mem m{};
  m.nregions = 1;
  m.region[0] = {0, mem.size(), mem.data()};
  vpn_vq vq{};
  CHECK(vpn_vq_map(&vq, &m, 8, 0, 0x1000, 0x2000));
  CHECK_FALSE(vpn_vq_map(&vq, &m, 6, 0, 0x1000, 0x2000));
  CHECK_FALSE(vpn_vq_map(&vq, &m, 0, 0, 0x1000, 0x2000));
  CHECK_FALSE(vpn_vq_map(&vq, &m, 8, 8, 0x1000, 0x2000));     // desc not 16-aligned
  CHECK_FALSE(vpn_vq_map(&vq, &m, 8, 0, 0x1001, 0x2000));     // avail odd
  CHECK_FALSE(vpn_vq_map(&vq, &m, 8, 0, 0x1000, 0x2002));     // used not 4-aligned
  CHECK_FALSE(vpn_vq_map(&vq, &m, 1024, 0, 0x1000, 0x3fe0));  // used ring past the end
}

TEST_CASE("transmit: header and frame in one copy into the peer's buffer") {
  PeerRing r;
  uint64_t b = r.buffer(2048);
  r.desc(0, b, 2048, kWrite, 0);
  r.offer(0);
  auto f = frame(100);
  REQUIRE(send(r, f) == VPN_VQ_TX_DONE);
  CHECK(r.used_idx() == 1);
  CHECK(r.used(0) == std::pair<uint32_t, uint32_t>{0, 112});
  const uint8_t* p = r.at(b - kGpa);
  CHECK(p[0] == 0x5a);
  CHECK(p[10] == 1);  // num_buffers
  CHECK(std::memcmp(p + 12, f.data(), f.size()) == 0);
  CHECK(r.vq.notify_pending);
  CHECK(vpn_vq_need_notify(&r.vq));
}

TEST_CASE("transmit: mergeable buffers, num_buffers counts the chains used") {
  PeerRing r;
  for (uint16_t i = 0; i < 4; ++i) {
    r.desc(i, r.buffer(64), 64, kWrite, 0);
    r.offer(i);
  }
  auto f = frame(150);  // 162 bytes with the header: three buffers of 64
  REQUIRE(send(r, f) == VPN_VQ_TX_DONE);
  CHECK(r.used_idx() == 3);
  CHECK(r.used(0).second == 64);
  CHECK(r.used(2).second == 162 - 128);
  CHECK(r.at(kBufs)[10] == 3);
  CHECK(std::memcmp(r.at(kBufs + 64), f.data() + 52, 64) == 0);
}

TEST_CASE("transmit: too few buffers takes none; none that could ever fit is too big") {
  PeerRing r;
  r.desc(0, r.buffer(64), 64, kWrite, 0);
  r.offer(0);
  auto f = frame(100);
  CHECK(send(r, f) == VPN_VQ_TX_NOBUF);
  CHECK(r.vq.last_avail == 0);
  CHECK(r.used_idx() == 0);

  PeerRing one(8, {false, false, false, VPN_HDR_LEN});  // no mergeable buffers: one chain only
  one.desc(0, one.buffer(64), 64, kWrite, 0);
  one.offer(0);
  CHECK(send(one, f) == VPN_VQ_TX_TOOBIG);
  CHECK(one.vq.last_avail == 0);
}

TEST_CASE("avail moved: only entries added since the last look, not those rolled back") {
  PeerRing r;
  CHECK_FALSE(vpn_vq_avail_moved(&r.vq));
  r.desc(0, r.buffer(64), 64, kWrite, 0);
  r.offer(0);
  CHECK(vpn_vq_avail_moved(&r.vq));  // a busy-polling transmit would try again
  auto f = frame(100);
  CHECK(send(r, f) == VPN_VQ_TX_NOBUF);  // too little room: the entry is seen and given back
  CHECK_FALSE(vpn_vq_empty(&r.vq));
  CHECK_FALSE(vpn_vq_avail_moved(&r.vq));  // so the poll waits for more instead of spinning on it
  r.desc(1, r.buffer(64), 64, kWrite, 0);
  r.offer(1);
  CHECK(vpn_vq_avail_moved(&r.vq));
  CHECK(send(r, f) == VPN_VQ_TX_DONE);
}

TEST_CASE("transmit: a bad chain completes what it took with length 0") {
  PeerRing r;
  r.desc(0, kGpa + kSize - 8, 64, kWrite, 0);  // runs off the end of memory
  r.offer(0);
  auto f = frame(60);
  CHECK(send(r, f) == VPN_VQ_TX_BAD);
  CHECK(r.used_idx() == 1);
  CHECK(r.used(0) == std::pair<uint32_t, uint32_t>{0, 0});

  PeerRing ro;
  ro.desc(0, ro.buffer(2048), 2048, 0, 0);  // device-readable: not a receive buffer
  ro.offer(0);
  CHECK(send(ro, f) == VPN_VQ_TX_BAD);
}

TEST_CASE("receive: gather a chain, copy the header and the frame once") {
  PeerRing r(8, {false, false, false, VPN_HDR_MRG_LEN});
  auto f = frame(200);
  std::vector<uint8_t> stream(12 + f.size(), 0x77);
  std::memcpy(stream.data() + 12, f.data(), f.size());
  uint64_t b0 = r.buffer(8), b1 = r.buffer(204);
  std::memcpy(r.at(b0 - kGpa), stream.data(), 8);  // the header straddles two buffers
  std::memcpy(r.at(b1 - kGpa), stream.data() + 8, 204);
  r.desc(0, b0, 8, kNext, 3);
  r.desc(3, b1, 204, 0, 0);
  r.offer(0);
  uint16_t head;
  REQUIRE(vpn_vq_avail_next(&r.vq, &head) == 1);
  vpn_span seg[VPN_MAX_RX_SEGS];
  uint32_t nseg, len;
  REQUIRE(vpn_vq_rx_gather(&r.vq, head, seg, &nseg, &len) == VPN_VQ_RX_OK);
  CHECK(nseg == 2);
  CHECK(len == 200);
  std::array<uint8_t, 12> hdr{};
  std::vector<uint8_t> a(150), b(50);
  vpn_span dst[2] = {{a.data(), 150}, {b.data(), 50}};
  vpn_rx_copy(seg, nseg, 12, hdr.data(), dst, 2);
  CHECK(hdr[11] == 0x77);
  CHECK(std::memcmp(a.data(), f.data(), 150) == 0);
  CHECK(std::memcmp(b.data(), f.data() + 150, 50) == 0);
  CHECK(vpn_vq_avail_next(&r.vq, &head) == 0);
}

TEST_CASE("receive: loops, bad indices, wrong direction, short frames and unasked indirect tables") {
  PeerRing loop;
  loop.desc(0, loop.buffer(64), 64, kNext, 0);
  loop.offer(0);
  CHECK(gather_next(loop) == VPN_VQ_RX_BAD_CHAIN);

  PeerRing far;
  far.desc(0, far.buffer(64), 64, kNext, 8);  // next == num
  far.offer(0);
  CHECK(gather_next(far) == VPN_VQ_RX_BAD_CHAIN);

  PeerRing head_past;
  head_past.offer(9);
  CHECK(gather_next(head_past) == VPN_VQ_RX_BAD_CHAIN);

  PeerRing writable;
  writable.desc(0, writable.buffer(64), 64, kWrite, 0);
  writable.offer(0);
  CHECK(gather_next(writable) == VPN_VQ_RX_BAD_CHAIN);

  PeerRing shorty;
  shorty.desc(0, shorty.buffer(20), 20, 0, 0);  // 12-byte header and 8 bytes: no Ethernet header
  shorty.offer(0);
  CHECK(gather_next(shorty) == VPN_VQ_RX_BAD_LEN);

  PeerRing ind;  // INDIRECT_DESC not negotiated
  ind.desc(0, kGpa + kIndirect, 16, kIndirectFlag, 0);
  ind.desc(0, ind.buffer(100), 100, 0, 0, kIndirect);
  ind.offer(0);
  CHECK(gather_next(ind) == VPN_VQ_RX_BAD_CHAIN);
}

TEST_CASE("receive: an indirect table when negotiated, but not nested and not chained") {
  vpn_vq_features f{false, true, false, VPN_HDR_MRG_LEN};
  uint16_t head;
  vpn_span seg[VPN_MAX_RX_SEGS];
  uint32_t nseg, len;
  PeerRing ok(8, f);
  ok.desc(0, kGpa + kIndirect, 32, kIndirectFlag, 0);
  ok.desc(0, ok.buffer(12), 12, kNext, 1, kIndirect);
  ok.desc(1, ok.buffer(60), 60, 0, 0, kIndirect);
  ok.offer(0);
  REQUIRE(vpn_vq_avail_next(&ok.vq, &head) == 1);
  CHECK(vpn_vq_rx_gather(&ok.vq, head, seg, &nseg, &len) == VPN_VQ_RX_OK);
  CHECK(len == 60);

  PeerRing nested(8, f);
  nested.desc(0, kGpa + kIndirect, 16, kIndirectFlag, 0);
  nested.desc(0, kGpa + kIndirect, 16, kIndirectFlag, 0, kIndirect);
  nested.offer(0);
  CHECK(gather_next(nested) == VPN_VQ_RX_BAD_CHAIN);

  PeerRing chained(8, f);
  chained.desc(0, kGpa + kIndirect, 16, kIndirectFlag | kNext, 1);
  chained.offer(0);
  CHECK(gather_next(chained) == VPN_VQ_RX_BAD_CHAIN);
}

TEST_CASE("an avail.idx more than num ahead breaks the ring") {
  PeerRing r;
  uint16_t bad = 9, head;
  std::memcpy(r.at(kAvail + 2), &bad, 2);
  CHECK(vpn_vq_avail_next(&r.vq, &head) == -1);
  CHECK(r.vq.broken);
  CHECK(r.vq.bad_avail == 9);
  auto f = frame(60);
  CHECK(send(r, f) == VPN_VQ_TX_BROKEN);
}

TEST_CASE("event idx: notify when used passes used_event; ask for kicks through avail_event") {
  PeerRing r(8, {true, false, true, VPN_HDR_MRG_LEN});
  auto f = frame(60);
  for (uint16_t i = 0; i < 4; ++i) {
    r.desc(i, r.buffer(2048), 2048, kWrite, 0);
    r.offer(i);
  }
  r.set_used_event(1);  // the peer wants an interrupt once used passes 1
  REQUIRE(send(r, f) == VPN_VQ_TX_DONE);
  CHECK(vpn_vq_need_notify(&r.vq));  // the first decision always notifies
  REQUIRE(send(r, f) == VPN_VQ_TX_DONE);
  CHECK(vpn_vq_need_notify(&r.vq));  // used went 1 -> 2, past event 1
  REQUIRE(send(r, f) == VPN_VQ_TX_DONE);
  CHECK_FALSE(vpn_vq_need_notify(&r.vq));  // 2 -> 3: event 1 already passed
  r.vq.call = false;
  REQUIRE(send(r, f) == VPN_VQ_TX_DONE);
  CHECK_FALSE(vpn_vq_need_notify(&r.vq));  // no call fd: never

  CHECK_FALSE(vpn_vq_kick_enable(&r.vq));  // nothing new since the last look
  CHECK(r.avail_event() == 4);
  r.desc(4, r.buffer(64), 64, kWrite, 0);
  r.offer(4);
  CHECK(vpn_vq_kick_enable(&r.vq));  // arrived meanwhile: re-check
}

TEST_CASE("defer_publish: a batch of transmits moves used.idx once, at vpn_vq_flush") {
  PeerRing r;
  r.vq.defer_publish = true;
  auto f = frame(60);
  for (uint16_t i = 0; i < 3; ++i) {
    r.desc(i, r.buffer(2048), 2048, kWrite, 0);
    r.offer(i);
    REQUIRE(send(r, f) == VPN_VQ_TX_DONE);
  }
  CHECK(r.used_idx() == 0);
  CHECK_FALSE(r.vq.notify_pending);
  vpn_vq_flush(&r.vq);
  CHECK(r.used_idx() == 3);
  CHECK(r.used(2) == std::pair<uint32_t, uint32_t>{2, 72});
  CHECK(r.vq.notify_pending);
  vpn_vq_flush(&r.vq);  // nothing new: no second store, no second notification
  CHECK(vpn_vq_need_notify(&r.vq));
  vpn_vq_flush(&r.vq);
  CHECK_FALSE(r.vq.notify_pending);
}

TEST_CASE("in order: one used entry for a batch, the used index past all of it") {
  PeerRing r;
  for (uint16_t i = 0; i < 3; ++i) r.offer(i);
  vpn_vq_used_add_in_order(&r.vq, 2, 3);
  vpn_vq_used_add_in_order(&r.vq, 7, 0);  // an empty batch writes nothing
  vpn_vq_used_publish(&r.vq);
  CHECK(r.used_idx() == 3);
  CHECK(r.used(2) == std::pair<uint32_t, uint32_t>{2, 0});
}

TEST_CASE("receive: a misaligned indirect table is a bad chain") {
  PeerRing r(8, {false, true, false, VPN_HDR_MRG_LEN});
  r.desc(0, kGpa + kIndirect + 4, 16, kIndirectFlag, 0);
  r.desc(0, r.buffer(100), 100, 0, 0, kIndirect + 4);
  r.offer(0);
  CHECK(gather_next(r) == VPN_VQ_RX_BAD_CHAIN);
}

TEST_CASE("map: a region mapped misaligned against the peer's addresses is refused") {
  std::vector<uint8_t> mem(0x4010);
  vpn_mem m{};
  m.nregions = 1;
  m.region[0] = {0, 0x4000, mem.data() + 4};  // gpa 0 lands on a pointer 4 bytes past 16-alignment
  vpn_vq vq{};
  vq.unpublished = vq.notify_pending = true;
  CHECK_FALSE(vpn_vq_map(&vq, &m, 8, 0, 0x1000, 0x2000));
  CHECK(vq.desc == nullptr);
  CHECK_FALSE(vq.unpublished);  // nothing left to publish through the pointers just dropped
  CHECK_FALSE(vq.notify_pending);
}

TEST_CASE("receive: a chain of more than 1024 descriptors is refused, zero-length ones too") {
  PeerRing r(2048, {false, false, false, VPN_HDR_MRG_LEN});
  for (uint16_t i = 0; i < 1100; ++i) r.desc(i, r.buffer(0), 0, kNext, static_cast<uint16_t>(i + 1));
  r.desc(1100, r.buffer(100), 100, 0, 0);
  r.offer(0);
  CHECK(gather_next(r) == VPN_VQ_RX_BAD_CHAIN);
}
