// Unit tests for devices/legacy/acpi_pm: S5 poweroff, reset register, WAK_STS, ignored writes.
#include <doctest/doctest.h>

#include <array>

#include "devices/bus.h"
#include "devices/legacy/acpi_pm.h"

using namespace tandem;

// The values x86_64's machine gives it (its address map), spelled out.
constexpr uint16_t kSleepPort = 0x3c0;
constexpr uint16_t kResetPort = 0x3c1;
constexpr uint8_t kResetValue = 0x1;

namespace {
struct Pm {
  int poweroffs = 0, resets = 0;
  AcpiPm dev{kResetValue, [this] { ++poweroffs; }, [this] { ++resets; }};
  uint8_t in(uint64_t off) {
    uint8_t v = 0x77;
    dev.read(off, std::span<uint8_t>(&v, 1));
    return v;
  }
  void outb(uint64_t off, uint8_t v) { dev.write(off, std::span<const uint8_t>(&v, 1)); }
};
constexpr uint8_t slp(uint8_t typ) { return static_cast<uint8_t>(AcpiPm::kSlpEn | (typ << 2)); }
}  // namespace

TEST_CASE("acpi-pm: Linux's extended sleep to S5 powers off") {
  Pm p;
  CHECK(p.in(AcpiPm::kSleepOffset) == 0);
  // acpi_hw_extended_sleep: clear WAK_STS, then SLP_TYP | SLP_EN.
  p.outb(AcpiPm::kSleepOffset, AcpiPm::kWakSts);
  CHECK(p.poweroffs == 0);
  p.outb(AcpiPm::kSleepOffset, slp(5));
  CHECK(slp(5) == 0x34);
  CHECK(p.poweroffs == 1);
  CHECK(p.resets == 0);
  CHECK(p.in(AcpiPm::kSleepOffset) == AcpiPm::kWakSts);
  CHECK(p.dev.ignored() == 0);
}

TEST_CASE("acpi-pm: other sleep states are ignored but end the guest's wait") {
  Pm p;
  p.outb(AcpiPm::kSleepOffset, slp(3));
  CHECK(p.poweroffs == 0);
  CHECK(p.dev.ignored() == 1);
  CHECK(p.in(AcpiPm::kSleepOffset) == AcpiPm::kWakSts);
  CHECK(p.in(AcpiPm::kSleepOffset) == AcpiPm::kWakSts);  // reading does not clear it
  p.outb(AcpiPm::kSleepOffset, AcpiPm::kWakSts);         // acpi_hw_extended_wake clears it
  CHECK(p.in(AcpiPm::kSleepOffset) == 0);
  // SLP_TYP 5 without SLP_EN does nothing.
  p.outb(AcpiPm::kSleepOffset, 5 << 2);
  p.outb(AcpiPm::kSleepOffset, 0);
  CHECK(p.poweroffs == 0);
  CHECK(p.dev.ignored() == 3);
  CHECK(p.in(AcpiPm::kSleepOffset) == 0);
  // Every other SLP_TYP with SLP_EN is ignored; bits outside the fields do not matter.
  for (uint8_t typ = 0; typ < 8; ++typ) {
    if (typ != 5) p.outb(AcpiPm::kSleepOffset, slp(typ));
  }
  CHECK(p.poweroffs == 0);
  p.outb(AcpiPm::kSleepOffset, static_cast<uint8_t>(slp(5) | 0x83));
  CHECK(p.poweroffs == 1);
}

TEST_CASE("acpi-pm: the reset register") {
  Pm p;
  p.outb(AcpiPm::kResetOffset, 0x00);
  p.outb(AcpiPm::kResetOffset, 0x06);
  CHECK(p.resets == 0);
  CHECK(p.dev.ignored() == 2);
  p.outb(AcpiPm::kResetOffset, kResetValue);
  CHECK(p.resets == 1);
  CHECK(p.poweroffs == 0);
  CHECK(p.in(AcpiPm::kResetOffset) == 0);
}

TEST_CASE("acpi-pm: through the bus at the x86_64 ports; odd offsets and widths are harmless") {
  Bus pio("pio");
  int poweroffs = 0, resets = 0;
  auto dev = std::make_shared<AcpiPm>(kResetValue, [&] { ++poweroffs; }, [&] { ++resets; });
  REQUIRE(pio.insert(dev, kSleepPort, AcpiPm::kLength).ok());
  uint8_t v = kResetValue;
  CHECK(pio.write(kResetPort, std::span<const uint8_t>(&v, 1)));
  CHECK(resets == 1);
  v = 0x34;
  CHECK(pio.write(kSleepPort, std::span<const uint8_t>(&v, 1)));
  CHECK(poweroffs == 1);

  std::array<uint8_t, 8> buf{};
  uint64_t ignored = dev->ignored();
  for (size_t width : {0, 2, 4, 8}) {
    for (uint64_t off : {uint64_t{0}, uint64_t{1}, uint64_t{2}, ~uint64_t{0}}) {
      buf.fill(0x34);
      dev->write(off, std::span<const uint8_t>(buf.data(), width));
      dev->read(off, std::span<uint8_t>(buf.data(), width));
      for (size_t i = 0; i < width; ++i) CHECK(buf[i] == 0xff);
    }
  }
  dev->write(2, std::span<const uint8_t>(&v, 1));
  dev->read(2, std::span<uint8_t>(&v, 1));
  CHECK(v == 0xff);
  CHECK(poweroffs == 1);
  CHECK(resets == 1);
  CHECK(dev->ignored() == ignored + 4 * 4 + 1);
}
