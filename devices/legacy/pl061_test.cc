// Unit tests for devices/legacy/pl061: the registers a guest's pl061 driver uses, edge and level
// interrupts with their mask and clear, the PrimeCell ID, and accesses out of range.
#include "devices/legacy/pl061.h"

#include <doctest/doctest.h>

#include <vector>

using namespace tandem;

namespace {
uint32_t rd(Pl061& g, uint64_t off, size_t len = 4) {
  std::vector<uint8_t> d(len, 0xee);
  g.read(off, d);
  uint32_t v = 0;
  for (size_t i = 0; i < len; ++i) v |= uint32_t{d[i]} << (8 * i);
  return v;
}
void wr(Pl061& g, uint64_t off, uint32_t v) {
  uint8_t d[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
                  static_cast<uint8_t>(v >> 24)};
  g.write(off, d);
}
}  // namespace

TEST_CASE("pl061: PrimeCell and peripheral IDs, as the AMBA bus probes them") {
  Pl061 g(nullptr);
  const uint32_t ids[8] = {0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
  for (int i = 0; i < 8; ++i) CHECK(rd(g, 0xfe0 + 4 * i) == ids[i]);
  CHECK(rd(g, 0x500) == 0);  // a hole in the page
}

TEST_CASE("pl061: a rising edge on an enabled line raises one interrupt; GPIOIC clears it") {
  int raised = 0;
  Pl061 g([&] { ++raised; });
  // What Linux's gpio-keys asks of the pl061 driver for line 3: input, edge, both edges, unmasked.
  wr(g, Pl061::kDir, 0);
  wr(g, Pl061::kIs, 0);
  wr(g, Pl061::kIbe, 1 << 3);
  wr(g, Pl061::kIe, 1 << 3);
  CHECK(raised == 0);
  g.set_input(3, true);  // pressed
  CHECK(raised == 1);
  CHECK(rd(g, Pl061::kRis) == 1u << 3);
  CHECK(rd(g, Pl061::kMis) == 1u << 3);
  CHECK(rd(g, 0x3fc) == 1u << 3);           // all lines: line 3 is high
  CHECK(rd(g, (1u << 3) << 2) == 1u << 3);  // the masked data address of line 3 alone
  CHECK(rd(g, (1u << 2) << 2) == 0);        // line 2 alone
  wr(g, Pl061::kIc, 1 << 3);
  CHECK(rd(g, Pl061::kRis) == 0);
  CHECK(rd(g, Pl061::kMis) == 0);
  CHECK(rd(g, 0x3fc) == 1u << 3);  // still pressed
}

TEST_CASE("pl061: a button pressed and released twice: four edges, each one interrupt once cleared") {
  int raised = 0;
  Pl061 g([&] { ++raised; });
  wr(g, Pl061::kIbe, 1 << 3);  // both edges, as gpio-keys asks
  wr(g, Pl061::kIe, 1 << 3);
  for (int press = 0; press < 2; ++press) {
    g.set_input(3, true);
    CHECK(rd(g, (1u << 3) << 2) == 1u << 3);
    wr(g, Pl061::kIc, 1 << 3);  // the guest's handler
    g.set_input(3, false);
    CHECK(rd(g, (1u << 3) << 2) == 0);
    wr(g, Pl061::kIc, 1 << 3);
  }
  CHECK(raised == 4);
  g.set_input(3, false);  // no change, no edge
  CHECK(raised == 4);
}

TEST_CASE("pl061: masked lines latch without raising; unmasking raises them") {
  int raised = 0;
  Pl061 g([&] { ++raised; });
  wr(g, Pl061::kIev, 0xff);  // rising edges
  g.set_input(5, true);
  CHECK(raised == 0);
  CHECK(rd(g, Pl061::kRis) == 1u << 5);
  CHECK(rd(g, Pl061::kMis) == 0);
  wr(g, Pl061::kIe, 1 << 5);
  CHECK(raised == 1);
  CHECK(rd(g, Pl061::kMis) == 1u << 5);
}

TEST_CASE("pl061: falling-edge and level lines; output lines never interrupt") {
  int raised = 0;
  Pl061 g([&] { ++raised; });
  wr(g, Pl061::kIe, 0xff);
  g.set_input(1, true);  // IEV 0: falling edges only
  CHECK(raised == 0);
  g.set_input(1, false);
  CHECK(raised == 1);
  wr(g, Pl061::kIc, 0xff);
  // Level-sensitive, active high (set before the sense: a low line on an active-low level line
  // would interrupt at once): follows the line, and GPIOIC does not clear it.
  wr(g, Pl061::kIev, 1 << 2);
  wr(g, Pl061::kIs, 1 << 2);
  CHECK(raised == 1);
  g.set_input(2, true);
  CHECK(raised == 2);
  wr(g, Pl061::kIc, 1 << 2);
  CHECK(rd(g, Pl061::kRis) == 1u << 2);
  g.set_input(2, false);
  CHECK(rd(g, Pl061::kRis) == 0);
  // An output line: the guest's value reads back; the VMM's input does not interrupt.
  wr(g, Pl061::kDir, 1 << 6);
  wr(g, (1u << 6) << 2, 0xff);
  CHECK(rd(g, 0x3fc) == 1u << 6);
  g.set_input(6, true);
  CHECK(rd(g, Pl061::kRis) == 0);
  CHECK(raised == 2);
}

TEST_CASE("pl061: out-of-range lines, offsets and widths are ignored") {
  int raised = 0;
  Pl061 g([&] { ++raised; });
  wr(g, Pl061::kIe, 0xff);
  g.set_input(8, true);
  g.set_input(200, false);
  CHECK(raised == 0);
  CHECK(rd(g, 0x1000) == 0);
  CHECK(rd(g, 0xffe, 4) == 0);  // crosses the end of the page
  std::vector<uint8_t> big(8, 0xaa);
  g.read(Pl061::kIe, big);
  CHECK(big == std::vector<uint8_t>(8, 0));
  wr(g, 0x2000, 0xff);
  wr(g, Pl061::kIe + 1, 0);  // misaligned: dropped
  CHECK(rd(g, Pl061::kIe) == 0xff);
  wr(g, Pl061::kRis, 0xff);  // read-only
  CHECK(rd(g, Pl061::kRis) == 0);
  CHECK(rd(g, Pl061::kIe, 1) == 0xff);  // byte reads of a register
}
