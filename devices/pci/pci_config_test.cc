// Unit tests for devices/pci/pci_config and msix: BAR sizing probes, decode control, capability
// chains, read-only fields, and the MSI-X table and PBA against hostile widths and offsets.
#include <doctest/doctest.h>

#include <array>

#include "base/le.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_config.h"

using namespace tandem;

namespace {
uint32_t rd32(const PciConfig& c, uint32_t off) {
  std::array<uint8_t, 4> b{};
  c.read(off, b);
  return *load_le<uint32_t>(b, 0);
}
void wr(PciConfig& c, uint32_t off, uint64_t v, size_t width) {
  std::array<uint8_t, 8> b{};
  u64_to_le(v, std::span<uint8_t>(b.data(), width));
  c.write(off, std::span<const uint8_t>(b.data(), width));
}
PciConfig make() { return PciConfig(PciIds{0x1af4, 0x1041, 1, 0, 0x00, 0x02, 0x1af4, 1}); }
}  // namespace

TEST_CASE("identity registers are read-only") {
  auto c = make();
  wr(c, 0x00, 0xdeadbeef, 4);
  wr(c, 0x08, 0xffffffff, 4);
  CHECK(rd32(c, 0x00) == 0x10411af4);
  CHECK(rd32(c, 0x08) == 0x02000001);
  CHECK(rd32(c, 0x2c) == 0x00011af4);
}

TEST_CASE("a 64-bit BAR answers a sizing probe with its size and keeps its type bits") {
  auto c = make();
  REQUIRE(c.add_bar(0, BarKind::kMem64, 0x8000).ok());
  c.set_bar_address(0, 0x4000000000ULL);
  CHECK(rd32(c, 0x10) == 0x4);  // low bits: memory, 64-bit, not prefetchable
  CHECK(rd32(c, 0x14) == 0x40);
  // Linux's probe: write all-ones to both halves, read, restore.
  wr(c, 0x10, 0xffffffff, 4);
  wr(c, 0x14, 0xffffffff, 4);
  CHECK(rd32(c, 0x10) == (0xffff8000u | 0x4));
  CHECK(rd32(c, 0x14) == 0xffffffffu);
  CHECK_FALSE(c.active_bar(0).has_value());  // decode off, and the sizing pattern anyway
  wr(c, 0x10, 0x00000004, 4);
  wr(c, 0x14, 0x40, 4);
  CHECK_FALSE(c.active_bar(0).has_value());  // decode still off
  wr(c, 0x04, pci::kCommandMemory, 2);
  REQUIRE(c.active_bar(0).has_value());
  CHECK(*c.active_bar(0) == 0x4000000000ULL);
  // The guest moves it; unaligned low bits are masked off.
  wr(c, 0x10, 0x12345678, 4);
  CHECK(*c.active_bar(0) == 0x4012340000ULL);  // 0x12345678 with the 32 KiB alignment bits cleared
  // Turning decode off unmaps.
  wr(c, 0x04, 0, 2);
  CHECK_FALSE(c.active_bar(0).has_value());
}

TEST_CASE("byte writes into a BAR merge, and the unused BARs stay zero") {
  auto c = make();
  REQUIRE(c.add_bar(2, BarKind::kMem32, 0x1000).ok());
  wr(c, 0x18, 0x00, 1);
  wr(c, 0x19, 0x20, 1);
  wr(c, 0x1a, 0x00, 1);
  wr(c, 0x1b, 0x90, 1);
  CHECK(rd32(c, 0x18) == 0x90002000u);
  wr(c, 0x10, 0xffffffff, 4);
  CHECK(rd32(c, 0x10) == 0);
  wr(c, 0x24, 0xffffffff, 4);
  CHECK(rd32(c, 0x24) == 0);
}

TEST_CASE("bad BAR declarations are refused") {
  auto c = make();
  CHECK_FALSE(c.add_bar(5, BarKind::kMem64, 0x1000).ok());   // no room for the high half
  CHECK_FALSE(c.add_bar(0, BarKind::kMem32, 0x1800).ok());   // not a power of two
  CHECK_FALSE(c.add_bar(0, BarKind::kMem32, 0x100).ok());    // below 4 KiB
  CHECK_FALSE(c.add_bar(6, BarKind::kMem32, 0x1000).ok());
  REQUIRE(c.add_bar(0, BarKind::kMem64, 0x1000).ok());
  CHECK_FALSE(c.add_bar(1, BarKind::kMem32, 0x1000).ok());   // the high half of BAR 0
}

TEST_CASE("capabilities form a chain from 0x34 and the status register says so") {
  auto c = make();
  std::array<uint8_t, 2> a{1, 2};
  std::array<uint8_t, 10> b{};
  auto first = c.add_capability(0x09, a);
  auto second = c.add_capability(0x11, b);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK((rd32(c, 0x04) >> 16 & 0x10) == 0x10);
  CHECK((rd32(c, 0x34) & 0xff) == *first);
  CHECK((rd32(c, *first) & 0xff) == 0x09);
  CHECK((rd32(c, *first) >> 8 & 0xff) == *second);
  CHECK((rd32(c, *second) >> 8 & 0xff) == 0);
  // Capability bytes are read-only unless made writable.
  wr(c, *first + 2, 0xffff, 2);
  CHECK((rd32(c, *first) >> 16) == 0x0201);
  // The area is bounded.
  std::array<uint8_t, 100> big{};
  CHECK(c.add_capability(0x09, big).ok());
  CHECK_FALSE(c.add_capability(0x09, big).ok());
}

TEST_CASE("MSI-X: table entries start masked, take 4- and 8-byte writes, refuse odd ones") {
  MsixTable t(3);
  CHECK(t.vectors() == 3);
  CHECK(t.vector_masked(0));
  std::array<uint8_t, 8> q{};
  u64_to_le(0x00000000fee01000ULL, q);
  CHECK(t.write_table(16, q) == 1);
  std::array<uint8_t, 4> d{};
  u64_to_le(0x4041, d);
  CHECK(t.write_table(24, d) == 1);
  u64_to_le(0, d);
  CHECK(t.write_table(28, d) == 1);  // unmask
  CHECK(t.message(1).address == 0xfee01000ULL);
  CHECK(t.message(1).data == 0x4041);
  CHECK_FALSE(t.vector_masked(1));
  CHECK_FALSE(t.deliverable(1));  // MSI-X not enabled yet
  t.set_control(MsixTable::kEnable);
  CHECK(t.deliverable(1));
  t.set_control(MsixTable::kEnable | MsixTable::kFunctionMask);
  CHECK_FALSE(t.deliverable(1));
  // Hostile accesses: past the table, misaligned, odd widths. Ignored, read as all-ones.
  std::array<uint8_t, 2> w2{};
  CHECK(t.write_table(3 * 16, d) == kMsixNoVector);
  CHECK(t.write_table(1, d) == kMsixNoVector);
  CHECK(t.write_table(0, w2) == kMsixNoVector);
  CHECK(t.write_table(~0ULL - 3, d) == kMsixNoVector);
  t.read_table(3 * 16, d);
  CHECK(*load_le<uint32_t>(d, 0) == 0xffffffffu);
  t.read_table(16, d);
  CHECK(*load_le<uint32_t>(d, 0) == 0xfee01000u);
  CHECK(t.message(7).address == 0);
  CHECK(t.vector_masked(7));
}

TEST_CASE("MSI-X: PBA bits, and the capability body names table size, BAR and offsets") {
  MsixTable t(70);
  CHECK(t.pba_size() == 16);
  t.set_pending(65, true);
  std::array<uint8_t, 8> q{};
  t.read_pba(8, q);
  CHECK(*load_le<uint64_t>(q, 0) == 2);
  t.set_pending(65, false);
  t.set_pending(9999, true);  // out of range: nothing
  t.read_pba(8, q);
  CHECK(*load_le<uint64_t>(q, 0) == 0);
  auto body = t.capability_body(0, 0x4000, 0x6000);
  CHECK(*load_le<uint16_t>(body, 0) == 69);
  CHECK(*load_le<uint32_t>(body, 2) == 0x4000);
  CHECK(*load_le<uint32_t>(body, 6) == 0x6000);
  CHECK(MsixTable(0).vectors() == 1);
  CHECK(MsixTable(60000).vectors() == MsixTable::kMaxVectors);
}
