// Unit tests for the userspace tap datapath (devices/virtio/net_tap.cc) on its receive side: a real
// tap (in a network namespace of this process's own when it may create one, as in
// devices/net/tap_test.cc), frames the host sends on the interface, and a driver played by the
// test on a receive ring in guest memory. They pin the RX kick threshold: a ring that runs dry with
// frames waiting asks for the kick only after half the ring is posted again, and a driver that
// posts fewer than that, without a kick, is still served (the datapath looks by itself after
// rx_kick_wait_ms, 10 ms by default). A driver that posts little is the one case a stock Linux
// guest does not provoke, hence the played one.
#include <doctest/doctest.h>

#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "devices/testing/host_frames.h"
#include "devices/virtio/net.h"
#include "memory/guest_memory.h"
#include "memory/ram.h"

using namespace tandem;
using namespace tandem::virtio;

namespace {

// Taps made here vanish with the namespace when the test exits.
const bool kPrivateNetns = ::unshare(CLONE_NEWNET) == 0;

constexpr uint16_t kSize = 8;  // receive ring entries: the kick threshold is 4
constexpr uint64_t kDesc = 0x10000, kAvail = 0x11000, kUsed = 0x12000, kBuffers = 0x100000;
constexpr uint32_t kBufLen = 2048;

// The driver's side of the receive ring: one 2 KiB device-writable buffer per descriptor.
struct RxDriver {
  const GuestMemory& mem;
  uint16_t avail_idx = 0;
  void post(uint16_t n) {
    for (uint16_t k = 0; k < n; ++k, ++avail_idx) {
      const uint16_t i = avail_idx % kSize;
      const uint64_t at = kDesc + 16ULL * i;
      REQUIRE(mem.write_le<uint64_t>(at, kBuffers + uint64_t{kBufLen} * i).ok());
      REQUIRE(mem.write_le<uint32_t>(at + 8, kBufLen).ok());
      REQUIRE(mem.write_le<uint16_t>(at + 12, kDescFlagWrite).ok());
      REQUIRE(mem.write_le<uint16_t>(at + 14, 0).ok());
      REQUIRE(mem.write_le<uint16_t>(kAvail + 4 + 2ULL * i, i).ok());
    }
    REQUIRE(mem.write_le<uint16_t>(kAvail + 2, avail_idx).ok());
  }
  // Posts `n` and kicks when avail_event asks for it, as a driver with EVENT_IDX does
  // (vring_need_event: the new avail.idx passed avail_event).
  void post_and_kick_if_asked(uint16_t n, int kick_fd) {
    const uint16_t old = avail_idx;
    post(n);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (static_cast<uint16_t>(avail_idx - avail_event() - 1) < static_cast<uint16_t>(avail_idx - old)) {
      REQUIRE(::eventfd_write(kick_fd, 1) == 0);
    }
  }
  uint16_t used_idx() const { return mem.read_le<uint16_t>(kUsed + 2).value(); }
  uint16_t avail_event() const { return mem.read_le<uint16_t>(kUsed + 4 + 8ULL * kSize).value(); }
};

// Polls `cond` every millisecond for up to 5 s (the datapath thread works on its own); false if
// it never held.
bool eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 5000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

// Sends `n` broadcast frames on the interface: the host transmits them, the tap fd reads them.
void host_sends(const std::string& ifname, int n) {
  REQUIRE_MESSAGE(tandem::testing::send_host_frames(ifname, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, n), "AF_PACKET: ", std::strerror(errno));
}

}  // namespace

TEST_CASE("a dry receive ring asks for the kick after half the ring, and a driver that posts less is still served") {
  auto mem = std::move(GuestMemory::create({{0, 16 * MiB}})).value();
  const std::string name = "tdt" + std::to_string(::getpid()) + "r";
  // Deferred kicks are waited for 1 s here (10 ms in a VM), so that what the datapath asks for
  // stays in avail_event long enough to be seen; the look after it is the same.
  constexpr uint32_t kWaitMs = 1000;
  auto made = make_tap_backend(name, 50, kWaitMs);
  INFO("make_tap_backend: ", (made.ok() ? std::string() : made.message()),
       " -- this test needs /dev/net/tun and CAP_NET_ADMIN (private netns: ", kPrivateNetns, ")");
  REQUIRE(made.ok());
  auto backend = std::move(made).value();

  UniqueFd kick(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), call(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  REQUIRE((kick && call));
  ActiveQueue rx{virtio::net::kRxQueue, QueueConfig{kSize, kDesc, kAvail, kUsed, true}, kick.get(), call.get()};
  std::string reset_why;
  TransportHooks hooks{nullptr, [&](const std::string& why) { reset_why = why; }};
  const uint64_t features = kFVersion1 | kFRingEventIdx | virtio::net::kFMrgRxbuf;
  auto started = backend->start(mem, features, {rx}, hooks);
  REQUIRE_MESSAGE(started.ok(), started.message());
  RxDriver d{mem};

  // Nothing posted and frames waiting: the kick is asked for once 4 (half of 8) are posted,
  // avail_event = 0 + 4 - 1 (the driver kicks when avail.idx passes it). Frames go on being sent
  // until then: the interface drops what it is given before its queue is set up (link watch
  // runs asynchronously after IFF_UP). Then enough for the rest to wait on the tap.
  int sent = 0;
  CHECK(eventually([&] {
    if (++sent % 10 == 0) host_sends(name, 1);
    return d.avail_event() == 3;
  }));
  host_sends(name, 16);
  // No kick comes (nothing is posted): the datapath looks by itself, finds nothing, and then asks
  // for the kick at the next post.
  CHECK(eventually([&] { return d.avail_event() == 0; }));

  // Two posted, which kicks: both filled, dry again, and the threshold is back (2 + 4 - 1).
  d.post_and_kick_if_asked(2, kick.get());
  CHECK(eventually([&] { return d.used_idx() == 2; }));
  CHECK(eventually([&] { return d.avail_event() == 5; }));
  // Two more, fewer than the threshold: no kick is asked for, and they are filled all the same.
  d.post_and_kick_if_asked(2, kick.get());
  CHECK(eventually([&] { return d.used_idx() == 4; }));
  // Four more: filled, and the ring waits for 4 again from 8.
  d.post_and_kick_if_asked(4, kick.get());
  CHECK(eventually([&] { return d.used_idx() == 8; }));
  CHECK(eventually([&] { return d.avail_event() == 11; }));

  // Every used buffer carries one frame with its 12-byte header, num_buffers 1 (ours are 64
  // bytes; the kernel may send its own on a fresh link, IPv6 neighbour discovery).
  for (uint16_t i = 0; i < 8; ++i) {
    CHECK(mem.read_le<uint32_t>(kUsed + 4 + 8ULL * i + 4).value() > virtio::net::kHdrSize + 14);
    const uint16_t head = mem.read_le<uint16_t>(kUsed + 4 + 8ULL * i).value();
    CHECK(mem.read_le<uint16_t>(kBuffers + uint64_t{kBufLen} * head + 10).value() == 1);
  }
  backend->stop();
  CHECK(reset_why.empty());
}

TEST_CASE("the RX kick wait is refused outside 1 to 10000 ms, before any tap is touched") {
  for (uint32_t ms : {0u, kMaxRxKickWaitMs + 1}) {
    auto made = make_tap_backend("tdt-unused", 50, ms);
    REQUIRE_FALSE(made.ok());
    CHECK(made.message() == "tap tdt-unused: the RX kick wait of " + std::to_string(ms) + " ms is outside 1..10000");
  }
}
