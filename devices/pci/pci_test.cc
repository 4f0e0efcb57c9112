// Unit tests for devices/pci: config access through 0xCF8/0xCFC and ECAM, empty slots, masks.
#include <doctest/doctest.h>

#include <array>

#include "base/le.h"
#include "devices/pci/pci_root.h"

using namespace tandem;

namespace {
uint32_t io_read32(PciConfigIo& io, uint32_t bus, uint32_t dev, uint32_t fn, uint32_t reg) {
  std::array<uint8_t, 4> a{};
  u64_to_le(0x80000000u | bus << 16 | dev << 11 | fn << 8 | reg, a);
  io.write(0, a);
  std::array<uint8_t, 4> d{};
  io.read(4, d);
  return static_cast<uint32_t>(le_to_u64(d));
}
}  // namespace

TEST_CASE("the host bridge answers at 00:00.0 through 0xCF8/0xCFC, as Linux's type-1 probe expects") {
  auto root = std::make_shared<PciRoot>();
  PciConfigIo io(root);
  // Linux's probe: write 0x80000000 to CONFIG_ADDRESS and read it back.
  std::array<uint8_t, 4> a{};
  u64_to_le(0x80000000u, a);
  io.write(0, a);
  std::array<uint8_t, 4> back{};
  io.read(0, back);
  CHECK(le_to_u64(back) == 0x80000000u);
  CHECK(io_read32(io, 0, 0, 0, 0) == 0x0d578086u);
  CHECK((io_read32(io, 0, 0, 0, 8) >> 16) == 0x0600u);  // class: host bridge
  // A 2-byte read of the class code through byte lane 2.
  std::array<uint8_t, 2> cls{};
  u64_to_le(0x80000008u, a);
  io.write(0, a);
  io.read(6, cls);
  CHECK(le_to_u64(cls) == 0x0600u);
}

TEST_CASE("empty slots, other buses and functions read all-ones; bad accesses are harmless") {
  auto root = std::make_shared<PciRoot>();
  PciConfigIo io(root);
  CHECK(io_read32(io, 0, 5, 0, 0) == 0xffffffffu);
  CHECK(io_read32(io, 1, 0, 0, 0) == 0xffffffffu);
  CHECK(io_read32(io, 0, 0, 3, 0) == 0xffffffffu);
  PciEcam ecam(root);
  std::array<uint8_t, 4> d{};
  ecam.read(0, d);
  CHECK(le_to_u64(d) == 0x0d578086u);
  ecam.read((3u << 20), d);  // bus 3
  CHECK(le_to_u64(d) == 0xffffffffu);
  std::array<uint8_t, 4> v{};
  ecam.read(1, v);  // misaligned 4-byte read
  CHECK(le_to_u64(v) == 0xffffffffu);
  ecam.write(0, std::array<uint8_t, 4>{1, 2, 3, 4});  // vendor/device are read-only
  ecam.read(0, d);
  CHECK(le_to_u64(d) == 0x0d578086u);
  // Without the enable bit, data accesses go nowhere.
  std::array<uint8_t, 4> a{};
  io.write(0, a);
  io.read(4, d);
  CHECK(le_to_u64(d) == 0xffffffffu);
}

TEST_CASE("slots: add, refuse duplicates and out-of-range, find free ones") {
  PciRoot root;
  CHECK(root.free_slot().value() == 1);
  CHECK(root.add(1, std::make_shared<PciHostBridge>()).ok());
  CHECK_FALSE(root.add(1, std::make_shared<PciHostBridge>()).ok());
  CHECK_FALSE(root.add(0, std::make_shared<PciHostBridge>()).ok());
  CHECK_FALSE(root.add(32, std::make_shared<PciHostBridge>()).ok());
  CHECK(root.free_slot().value() == 2);
}

TEST_CASE("config space write masks keep read-only bits") {
  ConfigSpace c;
  c.set16(0x04, 0x0000);
  c.set_writable(0x04, 1, 0x07);
  std::array<uint8_t, 2> w{0xff, 0xff};
  c.write(0x04, w);
  CHECK(c.get16(0x04) == 0x0007);
  c.write(ConfigSpace::kSize - 1, w);  // partly past the end: no crash
  CHECK(c.get8(ConfigSpace::kSize) == 0xff);
}
