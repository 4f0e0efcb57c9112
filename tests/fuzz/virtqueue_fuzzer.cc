// tests/fuzz/virtqueue_fuzzer.cc: the split-virtqueue walker (devices/virtio/queue) against any
// ring a guest can write.
//
// Input: 8 bytes of queue configuration (size, EVENT_IDX, the three ring addresses), then the
// contents of guest RAM region 0. RAM is two 64 KiB regions with a hole between them, so rings and
// buffers can straddle a hole or leave RAM. The device pops up to 64 chains, returns each as used
// (one by one, or pushed in groups of four and published together) and asks about interrupts and
// notifications. Every buffer of a delivered chain must lie inside RAM and the byte counts must add
// up; anything else, or a crash, is a finding (abort).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "devices/virtio/queue.h"
#include "memory/guest_memory.h"

using namespace tandem;
using namespace tandem::virtio;

namespace {
constexpr uint64_t kRegion = 0x10000;
constexpr uint64_t kSecond = 0x20000;  // region 1; [0x10000, 0x20000) is a hole

void check(bool ok) {
  if (!ok) std::abort();
}

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<RamRegion> ram{{0, kRegion}, {kSecond, kRegion}};
  static auto mem = GuestMemory::create(ram, "virtqueue-fuzz");
  if (!mem) std::abort();
  if (size < 8) return 0;

  QueueConfig cfg;
  cfg.size = static_cast<uint16_t>(1u << (data[0] % 8));  // 1 .. 128
  if (data[0] & 0x80) cfg.size = static_cast<uint16_t>(cfg.size + 1);  // not a power of two
  cfg.event_idx = (data[1] & 1) != 0;
  // Addresses in [0, 0x30000): region 0, the hole, region 1, and just past it.
  cfg.desc = (le16(data + 2) * 4ull) % 0x30000;
  cfg.avail = (le16(data + 4) * 2ull) % 0x30000;
  cfg.used = (le16(data + 6) * 4ull) % 0x30000;

  for (const auto& r : mem->regions()) std::memset(r.host, 0, r.size);
  size_t body = std::min<size_t>(size - 8, kRegion);
  std::memcpy(mem->regions()[0].host, data + 8, body);

  auto q = SplitQueue::create(*mem, cfg);
  if (!q) return 0;
  for (int i = 0; i < 64; ++i) {
    auto c = q->pop(*mem);
    if (!c) continue;  // refused and consumed: the device goes on
    if (!c->has_value()) break;
    const Chain& chain = **c;
    check(chain.head < cfg.size);
    uint64_t readable = 0, writable = 0;
    for (const Buffer& b : chain.buffers) {
      check(mem->contains(b.gpa, b.len == 0 ? 1 : b.len) || b.len == 0);
      (b.writable ? writable : readable) += b.len;
    }
    check(readable == chain.readable && writable == chain.writable);
    // Used elements go back one at a time or, like a frame over several receive buffers, pushed in
    // groups and published together.
    uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(chain.writable, 1500));
    if (data[1] & 2) {
      (void)q->push_used(*mem, chain.head, len);
      check(q->unpublished_used() <= cfg.size);
      if (i % 4 == 3 && q->publish_used(*mem)) check(q->unpublished_used() == 0);
    } else {
      (void)q->add_used(*mem, chain.head, len);
    }
    if (i % 3 == 0) (void)q->needs_interrupt(*mem);
    if (i % 5 == 0) (void)q->enable_notification(*mem);
    // A kick asked for after several posts: any count, refused outside 1..size.
    if (i % 11 == 0) check(q->enable_notification(*mem, static_cast<uint16_t>(i)).ok() == (i >= 1 && i <= cfg.size));
    if (i % 7 == 0) (void)q->disable_notification(*mem);
  }
  (void)q->publish_used(*mem);
  (void)q->needs_interrupt(*mem);
  return 0;
}
