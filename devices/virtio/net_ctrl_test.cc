// devices/virtio/net_ctrl_test.cc: the control queue's commands, good and bad, and the receive
// filter they leave.
#include "devices/virtio/net_ctrl.h"

#include <doctest/doctest.h>

#include <array>
#include <vector>

using namespace tandem::virtio::net;

namespace {
constexpr uint64_t kAll = kFCtrlVq | kFCtrlRx | kFCtrlMacAddr | kFGuestAnnounce;
const Mac kOwn{0x02, 0, 0, 0, 0, 0x01};

std::array<uint8_t, 6> dst(std::initializer_list<uint8_t> b) {
  std::array<uint8_t, 6> a{};
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

std::vector<uint8_t> table_set(size_t uni, size_t multi) {
  std::vector<uint8_t> c{kCtrlMac, kCtrlMacTableSet};
  auto table = [&](size_t n, uint8_t first) {
    for (int i = 0; i < 4; ++i) c.push_back(static_cast<uint8_t>(n >> (8 * i)));
    for (size_t e = 0; e < n; ++e) c.insert(c.end(), {first, 0, 0, 0, 0, static_cast<uint8_t>(e)});
  };
  table(uni, 0x02);
  table(multi, 0x01);
  return c;
}

RxMode fresh() {
  RxMode m;
  m.mac = kOwn;
  return m;
}
}  // namespace

TEST_CASE("until the driver sets a mode, every frame passes") {
  RxMode m = fresh();
  CHECK(m.accepts(dst({0x02, 9, 9, 9, 9, 9})));
  CHECK(m.accepts(dst({0x01, 0, 0x5e, 0, 0, 1})));
}

TEST_CASE("promisc off: own MAC, broadcast and listed addresses pass; others are filtered") {
  RxMode m = fresh();
  auto off = std::vector<uint8_t>{kCtrlRx, kCtrlRxPromisc, 0};
  REQUIRE(apply_ctrl(off, kAll, m).ack == kCtrlOk);
  CHECK(!m.promisc);
  CHECK(m.accepts(kOwn));
  CHECK(m.accepts(dst({0xff, 0xff, 0xff, 0xff, 0xff, 0xff})));
  CHECK(!m.accepts(dst({0x02, 0, 0, 0, 0, 0x99})));
  CHECK(!m.accepts(dst({0x01, 0, 0x5e, 0, 0, 1})));
  REQUIRE(apply_ctrl(table_set(1, 1), kAll, m).ack == kCtrlOk);
  CHECK(m.accepts(dst({0x02, 0, 0, 0, 0, 0})));  // the unicast table's entry
  CHECK(m.accepts(dst({0x01, 0, 0, 0, 0, 0})));  // the multicast table's
  CHECK(!m.accepts(dst({0x01, 0, 0x5e, 0, 0, 1})));
  auto allmulti = std::vector<uint8_t>{kCtrlRx, kCtrlRxAllmulti, 1};
  auto r = apply_ctrl(allmulti, kAll, m);
  CHECK(r.ack == kCtrlOk);
  CHECK(r.what == "allmulti on");
  CHECK(r.changed);
  CHECK(!apply_ctrl(allmulti, kAll, m).changed);  // the same again
  CHECK(m.accepts(dst({0x01, 0, 0x5e, 0, 0, 1})));
  CHECK(!m.accepts(dst({0x02, 0, 0, 0, 0, 0x99})));
}

TEST_CASE("a table longer than 64 entries lets its kind of frame through") {
  RxMode m = fresh();
  m.promisc = false;
  auto r = apply_ctrl(table_set(65, 0), kAll, m);
  REQUIRE(r.ack == kCtrlOk);
  CHECK(m.unicast_overflow);
  CHECK(m.unicast.empty());
  CHECK(m.accepts(dst({0x02, 7, 7, 7, 7, 7})));
  CHECK(!m.accepts(dst({0x01, 7, 7, 7, 7, 7})));
}

TEST_CASE("MAC_ADDR_SET changes the MAC the filter passes") {
  RxMode m = fresh();
  m.promisc = false;
  std::vector<uint8_t> c{kCtrlMac, kCtrlMacAddrSet, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  auto r = apply_ctrl(c, kAll, m);
  CHECK(r.ack == kCtrlOk);
  CHECK(r.mac_changed);
  CHECK(r.what == "mac 02:11:22:33:44:55");
  CHECK(m.accepts(dst({0x02, 0x11, 0x22, 0x33, 0x44, 0x55})));
  CHECK(!m.accepts(kOwn));
}

TEST_CASE("ANNOUNCE_ACK is acknowledged only when GUEST_ANNOUNCE was negotiated") {
  RxMode m = fresh();
  std::vector<uint8_t> c{kCtrlAnnounce, kCtrlAnnounceAck};
  CHECK(apply_ctrl(c, kAll, m).announce_acked);
  auto r = apply_ctrl(c, kAll & ~kFGuestAnnounce, m);
  CHECK(r.ack == kCtrlErr);
  CHECK(!r.announce_acked);
}

TEST_CASE("bad commands change nothing and are refused with a reason") {
  const RxMode before = [] {
    RxMode m = fresh();
    m.promisc = false;
    return m;
  }();
  struct Case {
    std::vector<uint8_t> cmd;
    uint64_t features;
    const char* why;
  };
  std::vector<Case> cases = {
      {{}, kAll, "0 bytes"},
      {{kCtrlRx}, kAll, "1 bytes"},
      {{kCtrlRx, kCtrlRxPromisc, 1}, kAll & ~kFCtrlVq, "without CTRL_VQ"},
      {{kCtrlRx, kCtrlRxPromisc, 1}, kAll & ~kFCtrlRx, "CTRL_RX without"},
      {{kCtrlRx, kCtrlRxPromisc}, kAll, "0 data bytes (1 expected)"},
      {{kCtrlRx, kCtrlRxPromisc, 1, 1}, kAll, "2 data bytes (1 expected)"},
      {{kCtrlRx, 2, 1}, kAll, "unknown CTRL_RX command 2"},
      {{kCtrlMac, kCtrlMacAddrSet, 2, 0, 0, 0, 0}, kAll, "5 data bytes (6 expected)"},
      {{kCtrlMac, kCtrlMacAddrSet, 3, 0, 0, 0, 0, 1}, kAll, "multicast address"},
      {{kCtrlMac, kCtrlMacAddrSet, 0, 0, 0, 0, 0, 0}, kAll, "all-zero"},
      {{kCtrlMac, kCtrlMacAddrSet, 2, 0, 0, 0, 0, 1}, kAll & ~kFCtrlMacAddr, "without CTRL_MAC_ADDR"},
      {{kCtrlMac, kCtrlMacTableSet, 1, 0, 0, 0}, kAll, "does not hold exactly two tables"},
      {{kCtrlMac, kCtrlMacTableSet, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, kAll, "does not hold exactly two tables"},
      {{kCtrlMac, 7}, kAll, "unknown CTRL_MAC command 7"},
      {{kCtrlAnnounce, kCtrlAnnounceAck, 0}, kAll, "only ACK"},
      {{2, 0, 0, 0}, kAll, "unknown control class 2"},
      {{4, 0, 1, 0}, kAll, "unknown control class 4"},
  };
  auto two_tables_and_more = table_set(1, 1);
  two_tables_and_more.push_back(0);
  cases.push_back({two_tables_and_more, kAll, "does not hold exactly two tables"});
  std::vector<uint8_t> huge(kMaxCtrlCommand + 1, 0);
  huge[0] = kCtrlMac;
  cases.push_back({huge, kAll, "at most 8192"});
  for (const auto& c : cases) {
    CAPTURE(c.why);
    RxMode m = before;
    auto r = apply_ctrl(c.cmd, c.features, m);
    CHECK(r.ack == kCtrlErr);
    CHECK(r.what.find(c.why) != std::string::npos);
    CHECK(m == before);
  }
}
