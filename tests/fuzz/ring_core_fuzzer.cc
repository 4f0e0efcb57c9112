// tests/fuzz/ring_core_fuzzer.cc: the guest driver's ring core (guest-images/vhost-pci-net/vpn_ring.c,
// the same file the kernel module builds) against any ring a hostile peer can write.
//
// Input: 4 bytes of configuration, then the contents of the peer's memory region 0.
//   byte 0  log2 of the ring size (taken mod 16, so sizes up to 32768 can be asked for; too large a
//           ring no longer fits region 0 and must be refused)
//   byte 1  bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 MRG_RXBUF, bit 3 12-byte header,
//           bit 4 transmit (the peer's RX ring) instead of receive (its TX ring), bit 5 a base
//           avail index of 0xfff0 (wrap-around)
//   bytes 2-3  the frame length to transmit (little-endian; 0..65535), split into two spans
// Memory: region 0 is 64 KiB at gpa 0x10000 holding the rings (desc 0x10000, avail 0x11000, used
// 0x12000), region 1 is 16 KiB at gpa 0x30000; between and around them is nothing. Each region is
// its own heap allocation, so ASan sees any access past either. Up to 64 operations run. Every
// buffer the core hands out must lie inside one region, every receive must copy exactly its length,
// and the used index must move by exactly what was completed; anything else is a finding (abort).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "guest-images/vhost-pci-net/vpn_ring.h"

namespace {

constexpr uint64_t kGpa0 = 0x10000, kSize0 = 0x10000, kGpa1 = 0x30000, kSize1 = 0x4000;

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(const std::vector<uint8_t>& r, const uint8_t* p, uint32_t len) {
  return p >= r.data() && len <= r.size() && p - r.data() <= static_cast<std::ptrdiff_t>(r.size() - len);
}

uint16_t used_idx(const std::vector<uint8_t>& r0) {
  uint16_t v;
  std::memcpy(&v, r0.data() + 0x2002, 2);
  return v;
}

void receive(vpn_vq& vq, const std::vector<uint8_t>& r0, const std::vector<uint8_t>& r1) {
  static vpn_span seg[VPN_MAX_RX_SEGS];
  for (int op = 0; op < 64; ++op) {
    uint16_t head;
    int got = vpn_vq_avail_next(&vq, &head);
    if (got <= 0) {
      check(got == 0 || vq.broken);
      break;
    }
    uint32_t nseg = 0, len = 0;
    if (vpn_vq_rx_gather(&vq, head, seg, &nseg, &len) == VPN_VQ_RX_OK) {
      uint64_t total = 0;
      check(nseg <= VPN_MAX_RX_SEGS);
      for (uint32_t i = 0; i < nseg; ++i) {
        check(inside(r0, seg[i].p, seg[i].len) || inside(r1, seg[i].p, seg[i].len));
        total += seg[i].len;
      }
      check(total == len + vq.f.hdr_len && len >= VPN_ETH_HLEN && len <= VPN_MAX_RX_FRAME);
      std::vector<uint8_t> frame(len), hdr(VPN_HDR_MRG_LEN);
      uint32_t half = len / 2;
      vpn_span dst[2] = {{frame.data(), half}, {frame.data() + half, len - half}};
      vpn_rx_copy(seg, nseg, vq.f.hdr_len, hdr.data(), dst, 2);
    }
    uint16_t before = vq.used_idx;
    vpn_vq_used_add(&vq, head, 0);
    check(static_cast<uint16_t>(vq.used_idx - before) == 1);
    if (op % 4 == 3) vpn_vq_used_publish(&vq);
  }
  vpn_vq_used_publish(&vq);
  check(used_idx(r0) == vq.used_idx);
  (void)vpn_vq_need_notify(&vq);
  (void)vpn_vq_kick_enable(&vq);
  vpn_vq_kick_disable(&vq);
}

void transmit(vpn_vq& vq, uint32_t frame_len) {
  std::vector<uint8_t> frame(frame_len, 0xab);
  uint32_t half = frame_len / 3;
  vpn_span src[2] = {{frame.data(), half}, {frame.data() + half, frame_len - half}};
  for (int op = 0; op < 64; ++op) {
    uint8_t hdr[VPN_HDR_MRG_LEN] = {};
    uint16_t before = vq.used_idx, avail_before = vq.last_avail;
    vq.defer_publish = op % 2;
    vpn_tx_result r = vpn_vq_tx(&vq, hdr, src, 2);
    uint16_t taken = static_cast<uint16_t>(vq.last_avail - avail_before);
    if (r == VPN_VQ_TX_DONE || r == VPN_VQ_TX_BAD) {
      check(taken >= 1 && taken <= VPN_MAX_TX_HEADS);
      check(static_cast<uint16_t>(vq.used_idx - before) == taken);
    } else {
      check(taken == 0 && vq.used_idx == before);
      if (r == VPN_VQ_TX_BROKEN) check(vq.broken);
      if (r != VPN_VQ_TX_TOOBIG) break;
    }
  }
  // No check of used.idx in memory here: the peer's receive buffers may overlap its own rings, and
  // a packet that did not fit was still written into the buffers it would have taken.
  vpn_vq_flush(&vq);
  (void)vpn_vq_need_notify(&vq);
  (void)vpn_vq_empty(&vq);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  std::vector<uint8_t> r0(kSize0), r1(kSize1);
  std::memcpy(r0.data(), data + 4, std::min<size_t>(size - 4, kSize0));
  if (size - 4 > kSize0) std::memcpy(r1.data(), data + 4 + kSize0, std::min<size_t>(size - 4 - kSize0, kSize1));
  vpn_mem mem{};
  mem.nregions = 2;
  mem.region[0] = {kGpa0, kSize0, r0.data()};
  mem.region[1] = {kGpa1, kSize1, r1.data()};

  uint32_t num = 1u << (data[0] % 16);
  uint8_t flags = data[1];
  vpn_vq vq{};
  bool mapped = vpn_vq_map(&vq, &mem, static_cast<uint16_t>(num), kGpa0, kGpa0 + 0x1000, kGpa0 + 0x2000);
  check(mapped == (num <= 4096));  // a larger descriptor table (16 bytes an entry) leaves region 0
  if (!mapped) return 0;
  vq.f.event_idx = flags & 1;
  vq.f.indirect = flags & 2;
  vq.f.mrg = flags & 4;
  vq.f.hdr_len = (flags & 8) ? VPN_HDR_MRG_LEN : VPN_HDR_LEN;
  vpn_vq_start(&vq, (flags & 32) ? 0xfff0 : 0, true, flags & 16);
  if (flags & 16)
    transmit(vq, static_cast<uint32_t>(data[2] | (data[3] << 8)));
  else
    receive(vq, r0, r1);
  return 0;
}
