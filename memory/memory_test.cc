// Unit tests for memory/: the shared RAM size rules, the checked guest memory accessor, the allocator.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <vector>

#include "memory/address_allocator.h"
#include "memory/fallible_read.h"
#include "memory/guest_memory.h"
#include "memory/mapping.h"
#include "memory/ram.h"

using namespace tandem;

TEST_CASE("check_ram_size: the shared rules, and the reason given for an architecture's maximum") {
  CHECK(check_ram_size(64 * MiB, 64 * MiB).ok());
  CHECK(check_ram_size(0, GiB).message() == "memory size is 0");
  CHECK(check_ram_size(63 * MiB, GiB).message() == "memory size 63 MiB is below the minimum of 64 MiB");
  CHECK(check_ram_size(4 * GiB, 2 * GiB, "the address space").message() ==
        "memory size 4 GiB is above the maximum of 2 GiB (the address space)");
}

TEST_CASE("guest memory: accesses inside RAM work, ranges that leave RAM are errors") {
  std::vector<RamRegion> ram{{0, 64 * MiB}};  // x86_64's plan for 64 MiB (vmm/arch/x86_64:layout_test)
  auto mem = GuestMemory::create(ram);
  REQUIRE(mem.ok());
  CHECK(mem->total_size() == 64 * MiB);
  CHECK(mem->fd() >= 0);

  CHECK(mem->write_le<uint32_t>(0x1000, 0xdeadbeef).ok());
  CHECK(mem->read_le<uint32_t>(0x1000).value() == 0xdeadbeef);
  CHECK(mem->read_le<uint8_t>(0x1000).value() == 0xef);
  std::array<uint8_t, 4> buf{};
  CHECK(mem->read(64 * MiB - 4, buf).ok());
  CHECK_FALSE(mem->read(64 * MiB - 3, buf).ok());
  CHECK(mem->read(64 * MiB - 3, buf).message().find("leaves guest RAM") != std::string::npos);
  CHECK_FALSE(mem->write(64 * MiB, buf).ok());
  CHECK_FALSE(mem->slice(UINT64_MAX - 1, 4).ok());
  CHECK_FALSE(mem->slice(0, UINT64_MAX).ok());
  CHECK(mem->slice(0, 0).ok());
  CHECK_FALSE(mem->write_le<uint64_t>(64 * MiB - 7, 1).ok());
}

TEST_CASE("guest memory is shared: another mapping of the memfd sees the writes") {
  auto mem = GuestMemory::create({{0, 64 * MiB}, {4 * GiB, 64 * MiB}});
  REQUIRE(mem.ok());
  CHECK(mem->write_le<uint64_t>(4 * GiB + 8, 0x1122334455667788ULL).ok());
  auto peer = Mapping::map(128 * MiB, PROT_READ, MAP_SHARED, mem->fd(), 0);
  REQUIRE(peer.ok());
  CHECK(load_le<uint64_t>(peer->bytes(), 64 * MiB + 8).value() == 0x1122334455667788ULL);
  // The hole between the regions is not RAM.
  CHECK_FALSE(mem->slice(64 * MiB, 1).ok());
  CHECK_FALSE(mem->slice(64 * MiB - 1, 2).ok());  // crossing out of a region
}

TEST_CASE("address allocator: aligned first fit, claims, release, exhaustion") {
  AddressAllocator a(0x1000, 0x10000);
  auto x = a.allocate(0x100, 0x1000);
  REQUIRE(x.ok());
  CHECK(*x == 0x1000);
  auto y = a.allocate(0x2000, 0x2000);
  REQUIRE(y.ok());
  CHECK(*y == 0x2000);
  auto z = a.allocate(0x10, 0x10);
  REQUIRE(z.ok());
  CHECK(*z == 0x1100);
  CHECK_FALSE(a.claim(0x2800, 0x10).ok());      // overlaps y
  CHECK(a.claim(0x8000, 0x1000).ok());
  CHECK_FALSE(a.claim(0x10000, 0x2000).ok());   // leaves the window
  CHECK_FALSE(a.allocate(0x20000, 0x1000).ok());
  CHECK_FALSE(a.allocate(0x10, 3).ok());
  CHECK_FALSE(a.allocate(0, 1).ok());
  CHECK(a.release(*y).ok());
  CHECK_FALSE(a.release(*y).ok());
  auto again = a.allocate(0x2000, 0x2000);
  REQUIRE(again.ok());
  CHECK(*again == 0x2000);
  // Fill the window completely, then it is full.
  AddressAllocator full(0, 0x3000);
  CHECK(full.allocate(0x1000, 0x1000).ok());
  CHECK(full.allocate(0x2000, 0x1000).ok());
  CHECK_FALSE(full.allocate(1, 1).ok());
}

TEST_CASE("read_fallible: reads what is there; memory whose file was truncated is an error, not SIGBUS") {
  int fd = ::memfd_create("fallible", MFD_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, 2 * 4096) == 0);
  auto m = Mapping::map(2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  REQUIRE(m.ok());
  m->data()[4096 + 7] = 0x5a;
  std::array<uint8_t, 16> out{};
  CHECK(read_fallible(out, m->data() + 4096));
  CHECK(out[7] == 0x5a);
  CHECK(read_fallible(std::span<uint8_t>(out.data(), 0), m->data()));
  // The other side truncates: a plain load of the second page would now raise SIGBUS.
  REQUIRE(::ftruncate(fd, 4096) == 0);
  CHECK_FALSE(read_fallible(out, m->data() + 4096));
  CHECK(read_fallible(out, m->data()));  // the first page is still there
  CHECK_FALSE(read_fallible(std::span<uint8_t>(out.data(), 8), m->data() + 4096 - 4));  // straddles the end
  ::close(fd);
}
