// Unit tests for vmm/arch/x86_64/layout: RAM regions around the 32-bit PCI hole, the 64-bit window.
#include <doctest/doctest.h>

#include "vmm/arch/x86_64/layout.h"

using namespace tandem;
using namespace tandem::x86;

TEST_CASE("RAM below 2 GiB is one region; more continues at 4 GiB") {
  auto small = plan_ram(512 * MiB);
  REQUIRE(small.ok());
  REQUIRE(small->size() == 1);
  CHECK((*small)[0].gpa == 0);
  CHECK((*small)[0].size == 512 * MiB);
  CHECK(mmio64_start(*small) == 4 * GiB);

  auto big = plan_ram(5 * GiB);
  REQUIRE(big.ok());
  REQUIRE(big->size() == 2);
  CHECK((*big)[0].size == 2 * GiB);
  CHECK((*big)[1].gpa == 4 * GiB);
  CHECK((*big)[1].size == 3 * GiB);
  CHECK(mmio64_start(*big) == 7 * GiB);
  auto three = plan_ram(3 * GiB);
  REQUIRE(three.ok());
  REQUIRE(three->size() == 2);
  CHECK((*three)[1].size == GiB);
  // The least RAM is one region at 0 (memory_test's guest memory uses that plan).
  auto least = plan_ram(64 * MiB);
  REQUIRE(least.ok());
  REQUIRE(least->size() == 1);
  CHECK((*least)[0].gpa == 0);
  CHECK((*least)[0].size == 64 * MiB);
}

TEST_CASE("bad memory sizes are errors that say why") {
  CHECK(plan_ram(0).message() == "memory size is 0");
  CHECK(plan_ram(512 * MiB + 1).message().find("not a multiple of 4 KiB") != std::string::npos);
  CHECK(plan_ram(1 * MiB).message().find("below the minimum") != std::string::npos);
  CHECK(plan_ram(1ULL << 50).message() == "memory size 1048576 GiB is above the maximum of 16384 GiB");
}
