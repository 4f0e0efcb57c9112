// Unit tests for devices/legacy/i8042: reset line, minimal commands, tolerance of odd accesses.
#include <doctest/doctest.h>

#include <array>

#include "devices/bus.h"
#include "devices/legacy/i8042.h"

using namespace tandem;

constexpr uint16_t kI8042Port = 0x60;  // where x86_64's machine puts it (0x60 and 0x64)

namespace {
struct Kbc {
  int resets = 0;
  I8042 dev{[this] { ++resets; }};
  uint8_t status() { return in(I8042::kCommandOffset); }
  uint8_t data() { return in(I8042::kDataOffset); }
  uint8_t in(uint64_t off) {
    uint8_t v = 0x77;
    dev.read(off, std::span<uint8_t>(&v, 1));
    return v;
  }
  void command(uint8_t v) { dev.write(I8042::kCommandOffset, std::span<const uint8_t>(&v, 1)); }
  void put_data(uint8_t v) { dev.write(I8042::kDataOffset, std::span<const uint8_t>(&v, 1)); }
};
}  // namespace

TEST_CASE("i8042: idle reads") {
  Kbc k;
  CHECK(k.status() == 0);
  CHECK(k.data() == 0);
}

TEST_CASE("i8042: 0xFE pulses reset, as Linux's keyboard reboot does") {
  Kbc k;
  // kb_wait(): the input buffer is never full.
  CHECK((k.status() & I8042::kStatusInputFull) == 0);
  k.command(0xfe);
  CHECK(k.resets == 1);
  k.command(0xfe);
  CHECK(k.resets == 2);
  CHECK(k.dev.resets() == 2);
  // Other pulse commands reset only if they pulse bit 0.
  k.command(0xff);
  k.command(0xfd);
  CHECK(k.resets == 2);
  k.command(0xf0);
  CHECK(k.resets == 3);
  // 0xFE written to the data port is a keyboard command, not a reset.
  k.put_data(0xfe);
  CHECK(k.resets == 3);
}

TEST_CASE("i8042: self test, interface test and the command byte") {
  Kbc k;
  k.command(0xaa);
  CHECK(k.status() == I8042::kStatusOutputFull);
  CHECK(k.data() == 0x55);
  CHECK(k.status() == 0);
  CHECK(k.data() == 0);
  k.command(0xab);
  CHECK(k.status() == I8042::kStatusOutputFull);
  CHECK(k.data() == 0x00);

  k.command(0x20);
  uint8_t cb = k.data();
  k.command(0x60);
  k.put_data(0x55);
  k.command(0x20);
  CHECK(k.data() == 0x55);
  CHECK(k.status() == I8042::kStatusSystem);  // the system flag follows the command byte
  k.command(0xae);                            // enable keyboard clears bit 4
  k.command(0xa7);                            // disable aux sets bit 5
  k.command(0x20);
  CHECK(k.data() == 0x65);
  k.command(0x60);
  k.put_data(cb);
  k.command(0x20);
  CHECK(k.data() == cb);

  // Unknown commands are accepted and ignored; a data byte after them goes nowhere.
  k.command(0x12);
  k.command(0xc0);
  k.put_data(0x42);
  CHECK(k.status() == 0);
  CHECK(k.resets == 0);
}

TEST_CASE("i8042: output port write with bit 0 clear resets") {
  Kbc k;
  k.command(0xd0);
  CHECK((k.data() & 0x01) == 0x01);
  k.command(0xd1);
  k.put_data(0xdf);  // A20 gate on, reset line high: no reset
  CHECK(k.resets == 0);
  k.command(0xd1);
  k.put_data(0xde);
  CHECK(k.resets == 1);
  // A command in between cancels the pending data byte.
  k.command(0xd1);
  k.command(0x12);
  k.put_data(0x00);
  CHECK(k.resets == 1);
}

TEST_CASE("i8042: through the bus at 0x60..0x64; odd offsets and widths are harmless") {
  Bus pio("pio");
  int resets = 0;
  auto dev = std::make_shared<I8042>([&] { ++resets; });
  REQUIRE(pio.insert(dev, kI8042Port, I8042::kLength).ok());
  uint8_t v = 0xfe;
  CHECK(pio.write(0x64, std::span<const uint8_t>(&v, 1)));
  CHECK(resets == 1);
  CHECK(pio.read(0x64, std::span<uint8_t>(&v, 1)));
  CHECK(v == 0);
  for (uint64_t off = 1; off < 4; ++off) {
    CHECK(pio.read(kI8042Port + off, std::span<uint8_t>(&v, 1)));
    CHECK(v == 0xff);
    v = 0xfe;
    CHECK(pio.write(kI8042Port + off, std::span<const uint8_t>(&v, 1)));
  }
  std::array<uint8_t, 8> buf{};
  for (size_t width : {0, 2, 4, 8}) {
    for (uint64_t off : {uint64_t{0}, uint64_t{4}, uint64_t{99}}) {
      buf.fill(0xfe);
      dev->write(off, std::span<const uint8_t>(buf.data(), width));
      dev->read(off, std::span<uint8_t>(buf.data(), width));
      for (size_t i = 0; i < width; ++i) CHECK(buf[i] == 0xff);
    }
  }
  dev->write(99, std::span<const uint8_t>(&v, 1));
  CHECK(resets == 1);
}
