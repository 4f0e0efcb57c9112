// Unit tests for devices/legacy/boot_timer: marks measure time since the start timestamp.
#include <doctest/doctest.h>

#include <array>
#include <vector>

#include "devices/bus.h"
#include "devices/legacy/boot_timer.h"

using namespace tandem;

constexpr uint16_t kBootTimerPort = 0x440;  // where x86_64's machine puts it
using namespace std::chrono_literals;

TEST_CASE("boot-timer: a guest write reports the time since start") {
  std::vector<std::chrono::nanoseconds> marks;
  const auto start = BootTimer::Clock::now() - 7ms;
  BootTimer t(start, [&](std::chrono::nanoseconds d) { marks.push_back(d); });
  CHECK_FALSE(t.last_mark().has_value());
  const auto before = BootTimer::Clock::now();
  uint8_t v = 0x2a;
  t.write(0, std::span<const uint8_t>(&v, 1));
  const auto after = BootTimer::Clock::now();
  REQUIRE(marks.size() == 1);
  CHECK(marks[0] >= before - start);
  CHECK(marks[0] <= after - start);
  CHECK(marks[0] >= 7ms);
  REQUIRE(t.last_mark().has_value());
  CHECK(*t.last_mark() == marks[0]);

  // Any value, any width, each write is a new mark; reads are 0.
  std::array<uint8_t, 4> four{0, 0, 0, 0};
  t.write(0, four);
  CHECK(marks.size() == 2);
  CHECK(marks[1] >= marks[0]);
  CHECK(t.marks() == 2);
  four.fill(0x55);
  t.read(0, four);
  for (uint8_t b : four) CHECK(b == 0);
}

TEST_CASE("boot-timer: through the bus; other offsets and an empty callback are harmless") {
  Bus pio("pio");
  auto t = std::make_shared<BootTimer>(BootTimer::Clock::now(), nullptr);
  REQUIRE(pio.insert(t, kBootTimerPort, BootTimer::kLength).ok());
  uint8_t v = 1;
  CHECK(pio.write(kBootTimerPort, std::span<const uint8_t>(&v, 1)));
  CHECK(t->marks() == 1);
  t->write(5, std::span<const uint8_t>(&v, 1));
  t->write(0, std::span<const uint8_t>());
  CHECK(t->marks() == 1);
  v = 0xff;
  t->read(~uint64_t{0}, std::span<uint8_t>(&v, 1));
  CHECK(v == 0);
}
