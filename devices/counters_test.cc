// devices/counters_test.cc: counters keep their names' order and add up across threads.
#include "devices/counters.h"

#include <doctest/doctest.h>

#include <thread>

using tandem::Counters;

TEST_CASE("counters start at zero and keep the order they were named in") {
  Counters c({"rx_packets", "rx_bytes"});
  c.add(1, 1500);
  auto s = c.snapshot();
  REQUIRE(s.size() == 2);
  CHECK(s[0] == std::pair<std::string, uint64_t>{"rx_packets", 0});
  CHECK(s[1] == std::pair<std::string, uint64_t>{"rx_bytes", 1500});
}

TEST_CASE("two threads adding lose nothing") {
  Counters c({"n"});
  auto work = [&] {
    for (int i = 0; i < 100000; ++i) c.add(0);
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  CHECK(c.get(0) == 200000);
}

TEST_CASE("a counter without a name is kept but not shown") {
  Counters c({"", "ring_errors"});
  c.add(0, 5);
  CHECK(c.get(0) == 5);
  auto s = c.snapshot();
  REQUIRE(s.size() == 1);
  CHECK(s[0].first == "ring_errors");
}
