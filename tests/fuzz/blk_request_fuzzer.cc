// tests/fuzz/blk_request_fuzzer.cc: virtio-blk request parsing (devices/virtio/blk/request) on every
// chain a guest can post.
//
// Input: 4 bytes of configuration, then the contents of guest RAM region 0 (64 KiB at gpa 0; region 1
// is 64 KiB at 0x20000, with a hole between). The ring is at desc 0x0, avail 0x1000, used 0x2000.
//   byte 0     log2 of the queue size (mod 8)
//   byte 1     bit 0 read-only disk, bit 1 DISCARD/WRITE_ZEROES offered, bit 2 EVENT_IDX
//   bytes 2-3  the disk's capacity in sectors (little-endian)
// Up to 64 chains are popped and parsed. A request to carry out must lie inside the disk: its data
// spans inside guest RAM and adding up to its length, a read or write in whole sectors, ranges inside
// the disk; a read-only disk never gets a write. Anything else, or a crash, is a finding (abort).
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "devices/virtio/blk/request.h"
#include "devices/virtio/queue.h"
#include "memory/guest_memory.h"

using namespace tandem;
using namespace tandem::virtio;

namespace {
constexpr uint64_t kRegion = 0x10000, kSecond = 0x20000;

void check(bool ok) {
  if (!ok) std::abort();
}

bool in_ram(const GuestMemory& mem, std::span<uint8_t> s) {
  for (const auto& r : mem.regions())
    if (s.data() >= r.host && s.size() <= r.size && static_cast<uint64_t>(s.data() - r.host) <= r.size - s.size()) return true;
  return false;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto mem = GuestMemory::create({{0, kRegion}, {kSecond, kRegion}}, "blk-fuzz");
  if (!mem) std::abort();
  if (size < 4) return 0;
  for (const auto& r : mem->regions()) std::memset(r.host, 0, r.size);
  std::memcpy(mem->regions()[0].host, data + 4, std::min<size_t>(size - 4, kRegion));

  QueueConfig cfg{static_cast<uint16_t>(1u << (data[0] % 8)), 0x0, 0x1000, 0x2000, (data[1] & 4) != 0};
  blk::Limits limits;
  limits.capacity_sectors = static_cast<uint64_t>(data[2] | (data[3] << 8));
  limits.read_only = data[1] & 1;
  limits.seg_max = 8;
  limits.max_discard_sectors = limits.max_write_zeroes_sectors = (data[1] & 2) ? 64 : 0;
  limits.max_ranges = 2;
  auto q = SplitQueue::create(*mem, cfg);
  if (!q) return 0;
  for (int i = 0; i < 64; ++i) {
    auto c = q->pop(*mem);
    if (!c) continue;
    if (!c->has_value()) break;
    auto r = blk::parse(*mem, **c, limits);
    if (!r) continue;
    check(mem->contains(r->status_gpa, 1));
    if (r->status != blk::kStatusOk) continue;
    uint64_t cap = limits.capacity_sectors * blk::kSectorSize, total = 0;
    for (auto s : r->data) {
      check(in_ram(*mem, s));
      total += s.size();
    }
    switch (r->type) {
      case blk::kTypeIn:
      case blk::kTypeOut:
        check(!(r->type == blk::kTypeOut && limits.read_only));
        check(total == r->length && r->length % blk::kSectorSize == 0);
        check(r->offset <= cap && r->length <= cap - r->offset);
        check(r->data.size() <= limits.seg_max);
        break;
      case blk::kTypeDiscard:
      case blk::kTypeWriteZeroes:
        check(!limits.read_only && !r->ranges.empty() && r->ranges.size() <= limits.max_ranges);
        for (const auto& g : r->ranges) check(g.offset <= cap && g.length <= cap - g.offset);
        break;
      case blk::kTypeGetId:
        check(total == r->length);
        break;
      default:
        check(r->type == blk::kTypeFlush);
    }
    (void)q->add_used(*mem, (*c)->head, 1);
  }
  return 0;
}
