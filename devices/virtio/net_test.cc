// devices/virtio/net_test.cc: the virtio-net device's control queue, served by Net itself, and the
// receive filter it sets, applied by the tap datapath. A real tap (in a network namespace of this
// process's own when it may create one, as in net_tap_test.cc); the driver is played by the test
// on rings in guest memory.
#include "devices/virtio/net.h"
#include "devices/testing/host_frames.h"

#include <doctest/doctest.h>

#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "memory/guest_memory.h"
#include "memory/ram.h"

using namespace tandem;
using namespace tandem::virtio;
namespace vnet = tandem::virtio::net;

namespace {

const bool kPrivateNetns = ::unshare(CLONE_NEWNET) == 0;
constexpr uint16_t kSize = 8;

// A split ring the test drives as a driver would, without EVENT_IDX: chains of buffers at `data`.
struct Ring {
  const GuestMemory& mem;
  uint64_t base;  // desc at base, avail at base + 0x1000, used at base + 0x2000
  uint64_t data;
  uint16_t avail_idx = 0, next_desc = 0;

  QueueConfig config() const { return QueueConfig{kSize, base, base + 0x1000, base + 0x2000, false}; }
  // Posts one chain: each part is {bytes the device reads} or, with `writable`, room to write.
  void post(const std::vector<std::pair<std::vector<uint8_t>, bool>>& parts, uint32_t write_room = 1) {
    const uint16_t head = next_desc;
    for (size_t k = 0; k < parts.size(); ++k) {
      const uint16_t i = next_desc++ % kSize;
      const uint64_t at = base + 16ULL * i, buf = data + 256ULL * i;
      const bool w = parts[k].second;
      if (!w) REQUIRE(mem.write(buf, parts[k].first).ok());
      REQUIRE(mem.write_le<uint64_t>(at, buf).ok());
      REQUIRE(mem.write_le<uint32_t>(at + 8, w ? write_room : static_cast<uint32_t>(parts[k].first.size())).ok());
      const bool more = k + 1 < parts.size();
      REQUIRE(mem.write_le<uint16_t>(at + 12, static_cast<uint16_t>((w ? kDescFlagWrite : 0) | (more ? kDescFlagNext : 0))).ok());
      REQUIRE(mem.write_le<uint16_t>(at + 14, static_cast<uint16_t>((i + 1) % kSize)).ok());
    }
    REQUIRE(mem.write_le<uint16_t>(base + 0x1000 + 4 + 2ULL * (avail_idx % kSize), head % kSize).ok());
    REQUIRE(mem.write_le<uint16_t>(base + 0x1000 + 2, ++avail_idx).ok());
  }
  uint16_t used_idx() const { return mem.read_le<uint16_t>(base + 0x2002).value(); }
  uint32_t used_len(uint16_t n) const { return mem.read_le<uint32_t>(base + 0x2004 + 8ULL * (n % kSize) + 4).value(); }
  // The byte the device wrote into the chain's writable buffer (descriptor `desc`).
  uint8_t written(uint16_t desc) const { return mem.read_le<uint8_t>(data + 256ULL * (desc % kSize)).value(); }
};

bool eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 5000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

void host_sends(const std::string& ifname, const Mac& dst, int n) {
  REQUIRE_MESSAGE(tandem::testing::send_host_frames(ifname, dst, n), "AF_PACKET: ", std::strerror(errno));
}

uint64_t counter(const Net& n, const std::string& name) {
  for (const auto& [k, v] : n.counters()->snapshot())
    if (k == name) return v;
  FAIL("no counter ", name);
  return 0;
}

}  // namespace

TEST_CASE("the control queue sets the MAC and the receive mode, and the tap datapath filters by them") {
  auto mem = std::move(GuestMemory::create({{0, 16 * MiB}})).value();
  const std::string name = "tdn" + std::to_string(::getpid());
  auto made = make_tap_backend(name, 0);
  INFO("make_tap_backend: ", (made.ok() ? std::string() : made.message()), " -- needs /dev/net/tun and CAP_NET_ADMIN (private netns: ", kPrivateNetns, ")");
  REQUIRE(made.ok());
  const Mac own{0x02, 0, 0, 0, 0, 0x01}, next{0x02, 0xc0, 0xff, 0xee, 0, 1}, stranger{0x02, 0, 0, 0, 0, 0x99};
  Net nic(own, std::move(made).value());
  std::string reset_why;
  nic.set_hooks(TransportHooks{nullptr, [&](const std::string& why) { reset_why = why; }});
  const uint64_t offered = nic.features();
  CHECK((offered & vnet::kCtrlFeatures) == (vnet::kFCtrlVq | vnet::kFCtrlRx | vnet::kFCtrlMacAddr));  // no GUEST_ANNOUNCE on a tap

  Ring rx{mem, 0x10000, 0x100000}, ctrl{mem, 0x20000, 0x200000};
  UniqueFd rx_kick(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), ctrl_kick(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      ctrl_call(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::vector<ActiveQueue> queues = {{vnet::kRxQueue, rx.config(), rx_kick.get(), -1}, {vnet::kCtrlQueue, ctrl.config(), ctrl_kick.get(), ctrl_call.get()}};
  const uint64_t features = kFVersion1 | vnet::kFMac | vnet::kFStatus | vnet::kFCtrlVq | vnet::kFCtrlRx | vnet::kFCtrlMacAddr;
  auto started = nic.activate(mem, features, queues);
  REQUIRE_MESSAGE(started.ok(), started.message());
  auto command = [&](std::vector<uint8_t> bytes) {
    const uint16_t ack_desc = static_cast<uint16_t>(ctrl.next_desc + 1);
    const uint16_t before = ctrl.used_idx();
    ctrl.post({{bytes, false}, {{}, true}});
    REQUIRE(::eventfd_write(ctrl_kick.get(), 1) == 0);
    REQUIRE(eventually([&] { return ctrl.used_idx() == before + 1; }));
    CHECK(ctrl.used_len(before) == 1);
    return ctrl.written(ack_desc);
  };

  // Promiscuous until told otherwise: a frame to a stranger reaches the receive ring. (Frames are
  // sent until one arrives: the interface drops what it gets before its queue is set up. What is
  // sent after that one waits for buffers: three more take it, so the ring is not dry below.)
  rx.post({{{}, true}}, 2048);
  REQUIRE(::eventfd_write(rx_kick.get(), 1) == 0);
  int sent = 0;
  CHECK(eventually([&] {
    if (sent++ % 100 == 0) host_sends(name, stranger, 1);
    return rx.used_idx() == 1;
  }));
  for (int i = 0; i < 3; ++i) rx.post({{{}, true}}, 2048);
  REQUIRE(::eventfd_write(rx_kick.get(), 1) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const uint16_t delivered = rx.used_idx();

  CHECK(command({vnet::kCtrlRx, vnet::kCtrlRxPromisc, 0}) == vnet::kCtrlOk);
  CHECK(!nic.rx_mode().promisc);
  const uint64_t filtered = counter(nic, "rx_filtered");
  host_sends(name, stranger, 3);
  CHECK(eventually([&] { return counter(nic, "rx_filtered") >= filtered + 3; }));
  CHECK(rx.used_idx() == delivered);

  CHECK(command({vnet::kCtrlMac, vnet::kCtrlMacAddrSet, next[0], next[1], next[2], next[3], next[4], next[5]}) == vnet::kCtrlOk);
  std::array<uint8_t, 6> cfg{};
  nic.read_config(0, cfg);
  CHECK(cfg == next);
  // A frame to the new MAC passes the filter (while frames to the old one are filtered).
  const uint64_t filtered_before_own = counter(nic, "rx_filtered");
  host_sends(name, own, 2);
  CHECK(eventually([&] { return counter(nic, "rx_filtered") >= filtered_before_own + 2; }));
  CHECK(rx.used_idx() == delivered);
  sent = 0;
  CHECK(eventually([&] {
    if (sent++ % 100 == 0) host_sends(name, next, 1);
    return rx.used_idx() > delivered;
  }));

  // A refused command and a chain without room for the answer: counted, the device goes on.
  CHECK(command({9, 0}) == vnet::kCtrlErr);
  const uint16_t before = ctrl.used_idx();
  ctrl.post({{{vnet::kCtrlRx, vnet::kCtrlRxPromisc, 1}, false}});
  REQUIRE(::eventfd_write(ctrl_kick.get(), 1) == 0);
  REQUIRE(eventually([&] { return ctrl.used_idx() == before + 1; }));
  CHECK(ctrl.used_len(before) == 0);
  CHECK(!nic.rx_mode().promisc);
  CHECK(counter(nic, "ctrl_commands") == 3);
  CHECK(counter(nic, "ctrl_refused") == 1);
  CHECK(counter(nic, "bad_chains") == 1);
  CHECK(reset_why.empty());

  // A reset is a power-on: promiscuous again, with the configured MAC.
  nic.reset();
  CHECK(nic.rx_mode().promisc);
  nic.read_config(0, cfg);
  CHECK(cfg == own);
}
