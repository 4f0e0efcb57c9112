// Unit tests for devices/virtio/queue: a driver posts chains into real guest memory; the walker
// must deliver good ones and refuse every hostile shape with an Error (never a crash).
#include <doctest/doctest.h>

#include "devices/virtio/queue.h"
#include "memory/ram.h"

using namespace tandem;
using namespace tandem::virtio;

namespace {
constexpr uint64_t kDesc = 0x10000, kAvail = 0x20000, kUsed = 0x30000, kData = 0x100000;

// The driver side of a split queue, written the way Linux's virtio_ring does.
struct Driver {
  const GuestMemory& mem;
  uint16_t size;
  uint16_t avail_idx = 0;
  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next, uint64_t table = kDesc) {
    uint64_t at = table + 16ULL * i;
    REQUIRE(mem.write_le<uint64_t>(at, addr).ok());
    REQUIRE(mem.write_le<uint32_t>(at + 8, len).ok());
    REQUIRE(mem.write_le<uint16_t>(at + 12, flags).ok());
    REQUIRE(mem.write_le<uint16_t>(at + 14, next).ok());
  }
  void post(uint16_t head) {
    REQUIRE(mem.write_le<uint16_t>(kAvail + 4 + 2ULL * (avail_idx % size), head).ok());
    ++avail_idx;
    REQUIRE(mem.write_le<uint16_t>(kAvail + 2, avail_idx).ok());
  }
};

struct Fixture {
  GuestMemory mem = std::move(GuestMemory::create({{0, 64 * MiB}})).value();
  QueueConfig cfg{8, kDesc, kAvail, kUsed, false};
  SplitQueue q() { return std::move(SplitQueue::create(mem, cfg)).value(); }
};

// An EVENT_IDX queue whose driver `d` (size 8) posted three one-buffer chains, all popped.
SplitQueue event_idx_queue_three_popped(Fixture& f, Driver& d) {
  f.cfg.event_idx = true;
  auto q = f.q();
  for (uint16_t i = 0; i < 3; ++i) d.desc(i, kData, 8, 0, 0);
  for (uint16_t i = 0; i < 3; ++i) d.post(i);
  for (int i = 0; i < 3; ++i) REQUIRE(q.pop(f.mem).ok());
  return q;
}
}  // namespace

TEST_CASE("a readable+writable chain is delivered, used, and interrupts follow the flags") {
  Fixture f;
  auto q = f.q();
  Driver d{f.mem, 8};
  d.desc(0, kData, 100, kDescFlagNext, 1);
  d.desc(1, kData + 0x1000, 200, kDescFlagWrite, 0);
  CHECK_FALSE(q.pop(f.mem).value().has_value());  // nothing posted yet
  d.post(0);
  auto c = q.pop(f.mem);
  REQUIRE(c.ok());
  REQUIRE(c->has_value());
  CHECK((*c)->head == 0);
  CHECK((*c)->buffers.size() == 2);
  CHECK((*c)->readable == 100);
  CHECK((*c)->writable == 200);
  CHECK((*c)->buffers[1].writable);
  REQUIRE(q.add_used(f.mem, 0, 50).ok());
  CHECK(f.mem.read_le<uint16_t>(kUsed + 2).value() == 1);
  CHECK(f.mem.read_le<uint32_t>(kUsed + 4).value() == 0);
  CHECK(f.mem.read_le<uint32_t>(kUsed + 8).value() == 50);
  CHECK(q.needs_interrupt(f.mem).value());
  REQUIRE(f.mem.write_le<uint16_t>(kAvail, kAvailFlagNoInterrupt).ok());
  CHECK_FALSE(q.needs_interrupt(f.mem).value());
}

TEST_CASE("indirect tables are walked") {
  Fixture f;
  auto q = f.q();
  Driver d{f.mem, 8};
  uint64_t table = 0x40000;
  d.desc(0, kData, 10, kDescFlagNext, 1, table);
  d.desc(1, kData + 10, 20, kDescFlagNext, 2, table);
  d.desc(2, kData + 30, 30, kDescFlagWrite, 0, table);
  d.desc(3, table, 48, kDescFlagIndirect, 0);
  d.post(3);
  auto c = q.pop(f.mem);
  REQUIRE(c.ok());
  CHECK((*c)->buffers.size() == 3);
  CHECK((*c)->readable == 30);
  CHECK((*c)->writable == 30);
}

TEST_CASE("hostile queue configurations are refused") {
  Fixture f;
  auto bad = [&](QueueConfig c, const char* what) {
    auto r = SplitQueue::create(f.mem, c);
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.message().find(what) != std::string::npos, r.message());
  };
  bad({0, kDesc, kAvail, kUsed, false}, "power of two");
  bad({6, kDesc, kAvail, kUsed, false}, "power of two");
  bad({static_cast<uint16_t>(65535), kDesc, kAvail, kUsed, false}, "power of two");
  bad({8, kDesc + 8, kAvail, kUsed, false}, "16-byte aligned");
  bad({8, kDesc, kAvail + 1, kUsed, false}, "2-byte aligned");
  bad({8, kDesc, kAvail, kUsed + 2, false}, "4-byte aligned");
  bad({8, 64 * MiB - 16, kAvail, kUsed, false}, "descriptor table");
  bad({8, kDesc, 1ULL << 40, kUsed, false}, "driver area");
  bad({8, kDesc, kAvail, 64 * MiB - 8, false}, "device area");
}

TEST_CASE("hostile chains are errors, and the queue goes on") {
  Fixture f;
  auto q = f.q();
  Driver d{f.mem, 8};
  auto expect_error = [&](const char* what) {
    auto r = q.pop(f.mem);
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.message().find(what) != std::string::npos, r.message());
  };
  d.post(9);  // head out of range
  expect_error("names descriptor 9");
  d.desc(0, kData, 10, kDescFlagNext, 1);
  d.desc(1, kData, 10, kDescFlagNext, 0);  // 0 -> 1 -> 0 ...
  d.post(0);
  expect_error("loops");
  d.desc(0, kData, 10, kDescFlagNext, 12);  // next out of range
  d.post(0);
  expect_error("next index 12");
  d.desc(0, 64 * MiB - 4, 100, 0, 0);  // buffer leaves RAM
  d.post(0);
  expect_error("not inside guest RAM");
  d.desc(0, UINT64_MAX - 8, 100, 0, 0);  // wraps around
  d.post(0);
  expect_error("not inside guest RAM");
  d.desc(0, kData, 10, kDescFlagWrite | kDescFlagNext, 1);
  d.desc(1, kData, 10, 0, 0);  // readable after writable
  d.post(0);
  expect_error("readable descriptor after");
  d.desc(0, 0x40000, 20, kDescFlagIndirect, 0);  // length not a multiple of 16
  d.post(0);
  expect_error("multiple of 16");
  d.desc(0, 0x40000, 16, kDescFlagIndirect | kDescFlagNext, 1);
  d.post(0);
  expect_error("NEXT set");
  d.desc(0, 0x40000, 16, kDescFlagIndirect, 0);
  d.desc(0, 0x50000, 16, kDescFlagIndirect, 0, 0x40000);  // nested
  d.post(0);
  expect_error("nested indirect");
  d.desc(0, 0x40000, 32, kDescFlagIndirect, 0);
  d.desc(0, kData, 1, kDescFlagNext, 1, 0x40000);
  d.desc(1, kData, 1, kDescFlagNext, 0, 0x40000);  // loop inside the indirect table
  d.post(0);
  expect_error("loops");
  d.desc(0, 0x40000, 16 * 9, kDescFlagIndirect, 0);  // a table longer than the queue (8)
  d.post(0);
  expect_error("more than the queue size");
  // The available index jumping more than a queue size ahead.
  REQUIRE(f.mem.write_le<uint16_t>(kAvail + 2, static_cast<uint16_t>(q.next_avail() + 9)).ok());
  expect_error("ahead");
  // After all that, a good chain still works.
  REQUIRE(f.mem.write_le<uint16_t>(kAvail + 2, q.next_avail()).ok());
  d.avail_idx = q.next_avail();
  d.desc(2, kData, 64, 0, 0);
  d.post(2);
  auto ok = q.pop(f.mem);
  REQUIRE(ok.ok());
  CHECK((*ok)->head == 2);
  CHECK_FALSE(q.add_used(f.mem, 8, 0).ok());  // used id out of range
}

TEST_CASE("pop_or_arm returns what is posted, then arms the kick") {
  Fixture f;
  f.cfg.event_idx = true;
  Driver d{f.mem, 8};
  auto q = f.q();
  d.desc(0, kData, 8, 0, 0);
  d.post(0);
  auto c = q.pop_or_arm(f.mem);
  REQUIRE(c.ok());
  REQUIRE(c->has_value());
  CHECK((*c)->head == 0);
  auto none = q.pop_or_arm(f.mem);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  CHECK(f.mem.read_le<uint16_t>(kUsed + 4 + 8 * 8).value() == 1);  // avail_event: kick at the next post
}

TEST_CASE("without EVENT_IDX, notifications are switched with the used ring's NO_NOTIFY flag") {
  Fixture f;
  auto q = f.q();
  REQUIRE(q.disable_notification(f.mem).ok());
  CHECK(f.mem.read_le<uint16_t>(kUsed).value() == kUsedFlagNoNotify);
  CHECK_FALSE(q.enable_notification(f.mem).value());
  CHECK(f.mem.read_le<uint16_t>(kUsed).value() == 0);
}

TEST_CASE("EVENT_IDX: avail_event is published and used_event decides interrupts") {
  Fixture f;
  Driver d{f.mem, 8};
  auto q = event_idx_queue_three_popped(f, d);
  // While the device drains, avail_event stays behind (no kicks); enabling publishes where it is.
  CHECK(f.mem.read_le<uint16_t>(kUsed + 4 + 8 * 8).value() == 0);
  CHECK_FALSE(q.enable_notification(f.mem).value());
  CHECK(f.mem.read_le<uint16_t>(kUsed + 4 + 8 * 8).value() == 3);  // avail_event
  // A buffer posted before the driver saw avail_event: enable reports it.
  d.desc(3, kData, 8, 0, 0);
  d.post(3);
  CHECK(q.enable_notification(f.mem).value());
  // The driver asks for an interrupt only once used passes index 2.
  REQUIRE(f.mem.write_le<uint16_t>(kAvail + 4 + 2 * 8, 2).ok());
  REQUIRE(q.add_used(f.mem, 0, 0).ok());
  CHECK(q.needs_interrupt(f.mem).value());  // first call always signals
  REQUIRE(q.add_used(f.mem, 1, 0).ok());
  CHECK_FALSE(q.needs_interrupt(f.mem).value());  // used idx 2 has not passed used_event 2
  REQUIRE(q.add_used(f.mem, 2, 0).ok());
  CHECK(q.needs_interrupt(f.mem).value());  // used idx 3 passed 2
}

TEST_CASE("EVENT_IDX: a kick can be asked for only after several posts") {
  Fixture f;
  Driver d{f.mem, 8};
  auto q = event_idx_queue_three_popped(f, d);
  // Kick me after 4 more: the driver kicks when avail.idx passes avail_event, 3 + 4 - 1 = 6.
  CHECK_FALSE(q.enable_notification(f.mem, 4).value());
  CHECK(f.mem.read_le<uint16_t>(kUsed + 4 + 8 * 8).value() == 6);
  CHECK_FALSE(q.enable_notification(f.mem, 8).value());  // the whole ring
  CHECK(f.mem.read_le<uint16_t>(kUsed + 4 + 8 * 8).value() == 10);
  // Nothing outside 1..size, and avail_event is left alone then.
  auto zero = q.enable_notification(f.mem, 0);
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.message() == "enable_notification: after=0 is outside 1..8");
  CHECK_FALSE(q.enable_notification(f.mem, 9).ok());
  CHECK(f.mem.read_le<uint16_t>(kUsed + 4 + 8 * 8).value() == 10);
  // Still reports buffers posted meanwhile, whatever it asked for.
  d.desc(3, kData, 8, 0, 0);
  d.post(3);
  CHECK(q.enable_notification(f.mem, 4).value());
}

TEST_CASE("pushed used elements become visible together, at publish") {
  Fixture f;
  f.cfg.event_idx = true;
  auto q = f.q();
  REQUIRE(q.add_used(f.mem, 7, 1).ok());  // one published element first: the batch starts at 1
  REQUIRE(f.mem.write_le<uint16_t>(kAvail + 4 + 2 * 8, 1).ok());  // used_event: after index 1
  CHECK(q.needs_interrupt(f.mem).value());
  // A frame spread over three receive chains: the driver must not see the first without the rest.
  REQUIRE(q.push_used(f.mem, 3, 1500).ok());
  REQUIRE(q.push_used(f.mem, 4, 1500).ok());
  REQUIRE(q.push_used(f.mem, 5, 200).ok());
  CHECK(f.mem.read_le<uint16_t>(kUsed + 2).value() == 1);
  CHECK(q.next_used() == 1);
  CHECK(q.unpublished_used() == 3);
  CHECK_FALSE(q.needs_interrupt(f.mem).value());  // nothing new is visible yet
  REQUIRE(q.publish_used(f.mem).ok());
  CHECK(f.mem.read_le<uint16_t>(kUsed + 2).value() == 4);
  CHECK(q.next_used() == 4);
  CHECK(q.unpublished_used() == 0);
  for (uint16_t i = 0; i < 3; ++i) {
    CHECK(f.mem.read_le<uint32_t>(kUsed + 4 + 8 * (1 + i)).value() == 3u + i);
  }
  CHECK(f.mem.read_le<uint32_t>(kUsed + 4 + 8 * 3 + 4).value() == 200);
  CHECK(q.needs_interrupt(f.mem).value());  // used idx 4 passed used_event 1
  REQUIRE(q.publish_used(f.mem).ok());  // nothing waits: no change
  CHECK(f.mem.read_le<uint16_t>(kUsed + 2).value() == 4);
}

TEST_CASE("pushing more used elements than the ring holds is refused, and nothing is published") {
  Fixture f;
  auto q = f.q();
  for (uint16_t i = 0; i < 8; ++i) REQUIRE(q.push_used(f.mem, i, 0).ok());
  auto s = q.push_used(f.mem, 0, 0);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "used ring: 8 elements already wait to be published, the queue size");
  CHECK_FALSE(q.push_used(f.mem, 8, 0).ok());  // an id out of range is refused before that
  CHECK(f.mem.read_le<uint16_t>(kUsed + 2).value() == 0);
  REQUIRE(q.publish_used(f.mem).ok());
  CHECK(f.mem.read_le<uint16_t>(kUsed + 2).value() == 8);
  REQUIRE(q.push_used(f.mem, 0, 0).ok());  // the ring wrapped: element 8 is slot 0 again
  CHECK(q.unpublished_used() == 1);
}
