// Unit tests for devices/pci/hotplug.h: the registers the DSDT's AML reads and writes.
#include <doctest/doctest.h>

#include <array>
#include <vector>

#include "base/le.h"
#include "devices/pci/hotplug.h"
#include "devices/pci/pci_root.h"

using namespace tandem;

namespace {
struct Fixture {
  int raised = 0;
  std::vector<uint8_t> ejected;
  PciHotplug hp{[this] { ++raised; }, [this](uint8_t s) { ejected.push_back(s); }};
  uint32_t read32(uint64_t off) {
    std::array<uint8_t, 4> d{};
    hp.read(off, d);
    return static_cast<uint32_t>(le_to_u64(d));
  }
  void write32(uint64_t off, uint32_t v) {
    std::array<uint8_t, 4> d{};
    u64_to_le(v, d);
    hp.write(off, d);
  }
};
}  // namespace

TEST_CASE("a scan request sets PCIU and the PCI event, raises once, and reads clear them") {
  Fixture f;
  f.hp.request_scan(3);
  f.hp.request_scan(5);
  CHECK(f.raised == 2);
  CHECK(f.read32(PciHotplug::kEventSelect) == PciHotplug::kEventPci);
  CHECK(f.read32(PciHotplug::kEventSelect) == 0);
  CHECK(f.read32(PciHotplug::kPciUp) == ((1u << 3) | (1u << 5)));
  CHECK(f.read32(PciHotplug::kPciUp) == 0);
  CHECK(f.read32(PciHotplug::kPciDown) == 0);
}

TEST_CASE("an eject request replaces a pending scan of the same slot, and the reverse") {
  Fixture f;
  f.hp.request_scan(4);
  f.hp.request_eject(4);
  CHECK(f.read32(PciHotplug::kPciUp) == 0);
  CHECK(f.read32(PciHotplug::kPciDown) == 1u << 4);
  f.hp.request_eject(6);
  f.hp.request_scan(6);
  CHECK(f.read32(PciHotplug::kPciDown) == 0);
  CHECK(f.read32(PciHotplug::kPciUp) == 1u << 6);
}

TEST_CASE("the power button and PCI events share the selector") {
  Fixture f;
  f.hp.press_power_button();
  f.hp.request_eject(2);
  CHECK(f.read32(PciHotplug::kEventSelect) == (PciHotplug::kEventPowerButton | PciHotplug::kEventPci));
}

TEST_CASE("B0EJ: one callback per slot bit, never slot 0; B0EJ reads 0") {
  Fixture f;
  f.write32(PciHotplug::kEject, (1u << 0) | (1u << 7) | (1u << 31));
  CHECK(f.ejected == std::vector<uint8_t>{7, 31});
  CHECK(f.read32(PciHotplug::kEject) == 0);
}

TEST_CASE("bad widths, offsets and writes to read-only registers are ignored and counted") {
  Fixture f;
  f.hp.request_scan(9);
  std::array<uint8_t, 1> b{0xff};
  f.hp.read(PciHotplug::kPciUp, b);
  CHECK(b[0] == 0);
  f.hp.write(PciHotplug::kEject, b);  // 1-byte eject
  f.write32(PciHotplug::kPciUp, 0xffffffff);
  f.write32(PciHotplug::kEject + 16, 0xffffffff);
  CHECK(f.read32(16) == 0);
  CHECK(f.ejected.empty());
  CHECK(f.hp.ignored() == 5);
  CHECK(f.read32(PciHotplug::kPciUp) == 1u << 9);  // the 1-byte read did not clear it
  // Out-of-range slots are no requests.
  f.hp.request_scan(0);
  f.hp.request_eject(32);
  CHECK(f.raised == 1);
}

TEST_CASE("PciRoot::remove empties the slot: config reads see all-ones, and the slot is free again") {
  struct Dev : PciDevice {
    void config_read(uint32_t, std::span<uint8_t> d) override { std::fill(d.begin(), d.end(), 0x11); }
    void config_write(uint32_t, std::span<const uint8_t>) override {}
    std::string name() const override { return "dev"; }
  };
  PciRoot root;
  auto dev = std::make_shared<Dev>();
  REQUIRE(root.add(1, dev).ok());
  CHECK(root.free_slot().value() == 2);
  std::array<uint8_t, 4> d{};
  root.config_read(0, 1, 0, 0, d);
  CHECK(le_to_u64(d) == 0x11111111u);
  CHECK(root.remove(1) == dev);
  root.config_read(0, 1, 0, 0, d);
  CHECK(le_to_u64(d) == 0xffffffffu);
  CHECK(root.free_slot().value() == 1);
  CHECK(root.remove(1) == nullptr);
  CHECK(root.remove(0) == nullptr);   // the host bridge stays
  CHECK(root.remove(40) == nullptr);
}
