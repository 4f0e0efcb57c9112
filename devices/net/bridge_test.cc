// Unit tests for devices/net/bridge: real bridges and taps, in a network namespace of their own
// (Bazel's sandbox allows one), else in the current one with CAP_NET_ADMIN.
#include "devices/net/bridge.h"

#include <doctest/doctest.h>

#include <sched.h>
#include <unistd.h>

using namespace tandem;
using namespace tandem::net;

namespace {
const bool kPrivateNetns = ::unshare(CLONE_NEWNET) == 0;
std::string unique_name(const char* tag) { return "tdb" + std::to_string(::getpid() % 100000) + tag; }
}  // namespace

TEST_CASE("bridge: created once, a tap port attached and up, both removed again") {
  INFO("private netns: ", kPrivateNetns);
  const std::string br = unique_name("b"), tap = unique_name("t");
  auto made = ensure_bridge(br);
  REQUIRE_MESSAGE(made.ok(), made.message());
  CHECK(*made);
  CHECK(interface_driver(br) == "bridge");
  auto again = ensure_bridge(br);
  REQUIRE(again.ok());
  CHECK_FALSE(*again);  // exists: not ours to delete

  auto port = create_bridge_port(br, tap);
  REQUIRE_MESSAGE(port.ok(), port.message());
  CHECK(interface_driver(tap) == "tun");
  auto twice = create_bridge_port(br, tap);
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.message() == "tap '" + tap + "' exists already (left from another run? 'ip link del " + tap + "')");

  // A tap is not a bridge.
  auto not_bridge = ensure_bridge(tap);
  REQUIRE_FALSE(not_bridge.ok());
  CHECK(not_bridge.message() == "interface '" + tap + "' exists and is not a bridge");

  REQUIRE(delete_tap(tap).ok());
  CHECK_FALSE(interface_exists(tap));
  REQUIRE(delete_bridge(br).ok());
  CHECK_FALSE(interface_exists(br));
}

TEST_CASE("bridge: a port on a missing bridge leaves no tap behind") {
  const std::string tap = unique_name("u");
  auto port = create_bridge_port(unique_name("n"), tap);
  REQUIRE_FALSE(port.ok());
  CHECK(port.message().find("SIOCBRADDIF") != std::string::npos);
  CHECK_FALSE(interface_exists(tap));
  auto bad = ensure_bridge("a/b");
  CHECK_FALSE(bad.ok());
}
