// Unit tests for devices/net/mac: parsing refuses what a NIC cannot use; derived MACs are stable,
// locally administered unicast, and differ between devices.
#include <doctest/doctest.h>

#include <set>

#include "devices/net/mac.h"

using namespace tandem::net;

TEST_CASE("MACs parse and print back") {
  auto m = parse_mac("52:54:00:AB:cd:0f");
  REQUIRE(m.ok());
  CHECK(format_mac(*m) == "52:54:00:ab:cd:0f");
}

TEST_CASE("bad MACs are refused with the text in the message") {
  for (const char* bad : {"", "52:54:00:12:34", "52:54:00:12:34:5g", "52-54-00-12-34-56", "52:54:00:12:34:567", "5:54:00:12:34:56:",
                          " 52:54:00:12:34:5"}) {
    auto m = parse_mac(bad);
    CHECK_FALSE(m.ok());
    if (!m.ok()) CHECK(m.message().find(std::string("'") + bad + "'") != std::string::npos);
  }
  CHECK(parse_mac("01:00:5e:00:00:01").message().find("multicast") != std::string::npos);
  CHECK(parse_mac("00:00:00:00:00:00").message().find("zeros") != std::string::npos);
}

TEST_CASE("derived MACs are stable, locally administered unicast, and distinct per seed") {
  CHECK(derive_mac("tap:tp0") == derive_mac("tap:tp0"));
  std::set<Mac> seen;
  for (int i = 0; i < 1000; ++i) {
    Mac m = derive_mac("vm" + std::to_string(i) + "/net0");
    CHECK((m[0] & 0x02) == 0x02);
    CHECK((m[0] & 0x01) == 0);
    seen.insert(m);
  }
  CHECK(seen.size() == 1000);
}
