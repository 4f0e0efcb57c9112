// Unit tests for devices/bus: dispatch by range, offsets, overlaps, unclaimed accesses.
#include <doctest/doctest.h>

#include <array>
#include <vector>

#include "devices/bus.h"

using namespace tandem;

namespace {
struct Recorder : BusDevice {
  std::vector<std::pair<uint64_t, size_t>> reads, writes;
  uint8_t fill = 0x42;
  void read(uint64_t offset, std::span<uint8_t> data) override {
    reads.emplace_back(offset, data.size());
    for (auto& b : data) b = fill;
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override { writes.emplace_back(offset, data.size()); }
  std::string name() const override { return "recorder"; }
};
}  // namespace

TEST_CASE("bus dispatches to the device covering the access, at its offset") {
  Bus bus("pio");
  auto a = std::make_shared<Recorder>();
  auto b = std::make_shared<Recorder>();
  REQUIRE(bus.insert(a, 0x3f8, 8).ok());
  REQUIRE(bus.insert(b, 0x400, 0x10).ok());
  std::array<uint8_t, 2> two{};
  CHECK(bus.read(0x3fd, std::span<uint8_t>(two.data(), 1)));
  CHECK(a->reads.back() == std::make_pair<uint64_t, size_t>(5, 1));
  CHECK(bus.write(0x40e, two));
  CHECK(b->writes.back() == std::make_pair<uint64_t, size_t>(0xe, 2));
  // An access that straddles the end of a device is not the device's.
  CHECK_FALSE(bus.read(0x3ff, two));
  CHECK(two[0] == 0xff);
  CHECK(two[1] == 0xff);
  CHECK(bus.unclaimed() == 1);
}

TEST_CASE("bus refuses overlaps and empty ranges; remove frees a range") {
  Bus bus("mmio");
  auto d = std::make_shared<Recorder>();
  REQUIRE(bus.insert(d, 0x1000, 0x1000).ok());
  CHECK_FALSE(bus.insert(d, 0x1800, 0x100).ok());
  CHECK_FALSE(bus.insert(d, 0x800, 0x801).ok());
  CHECK(bus.insert(d, 0x800, 0x800).ok());
  CHECK_FALSE(bus.insert(d, 0x5000, 0).ok());
  CHECK_FALSE(bus.insert(d, UINT64_MAX - 1, 4).ok());
  CHECK(bus.remove(0x1000).ok());
  CHECK_FALSE(bus.remove(0x1000).ok());
  std::array<uint8_t, 4> four{};
  CHECK_FALSE(bus.read(0x1000, four));
  CHECK(four[3] == 0xff);
}
