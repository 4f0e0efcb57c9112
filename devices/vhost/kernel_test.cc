// Unit tests for devices/vhost/kernel: what can be checked without /dev/vhost-net (the e2e tests
// drive the real one in a nested KVM host): the open error, the memory-table layout the kernel
// reads, and every call's error text, using /dev/null as a device that refuses all ioctls.
#include <doctest/doctest.h>

#include <sys/ioctl.h>
#define VIRTIO_RING_NO_LEGACY  // <linux/virtio_ring.h>'s legacy part is not valid C++
#include <linux/vhost.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "devices/vhost/kernel.h"

using namespace tandem;
using namespace tandem::vhost;

namespace {

// The kernel's VHOST_SET_MEM_TABLE number: an 8-byte struct vhost_memory header.
static_assert(_IOW(0xAF, 0x03, uint64_t) == 0x4008af03UL);
// This header's struct vhost_memory must not carry the C++ __DECLARE_FLEX_ARRAY padding; the
// library does not use it, but code that does would get a wrong number.
static_assert(sizeof(vhost_memory) == 8 && offsetof(vhost_memory, regions) == 8 && VHOST_SET_MEM_TABLE == 0x4008af03UL);
static_assert(sizeof(vhost_memory_region) == 32);

uint64_t u64_at(const std::vector<uint8_t>& b, size_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}
uint32_t u32_at(const std::vector<uint8_t>& b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}

std::unique_ptr<KernelNet> refusing_device() {
  auto dev = KernelNet::open("/dev/null");
  REQUIRE_MESSAGE(dev.ok(), dev.message());
  return std::move(dev).value();
}

}  // namespace

TEST_CASE("a missing device says which path and what to check") {
  auto dev = KernelNet::open("/nonexistent/vhost-net");
  REQUIRE_FALSE(dev.ok());
  CHECK(dev.message() == "open /nonexistent/vhost-net: No such file or directory (is the vhost_net module loaded?)");

  if (::access("/dev/vhost-net", F_OK) != 0) {
    auto def = KernelNet::open();
    REQUIRE_FALSE(def.ok());
    CHECK(def.message() == "open /dev/vhost-net: No such file or directory (is the vhost_net module loaded?)");
  }
}

TEST_CASE("the memory table is laid out as the kernel reads it") {
  const MemoryRegion regions[] = {
      {.gpa = 0, .size = 0x8000'0000, .user_addr = 0x7f00'0000'0000, .fd = 5, .fd_offset = 0},
      {.gpa = 0x1'0000'0000, .size = 0x4000'0000, .user_addr = 0x7f00'8000'0000, .fd = 5, .fd_offset = 0x8000'0000},
  };
  auto table = detail::vhost_memory_table(regions);
  REQUIRE_MESSAGE(table.ok(), table.message());
  const std::vector<uint8_t>& b = *table;
  REQUIRE(b.size() == 8 + 2 * 32);
  CHECK(u32_at(b, 0) == 2);  // nregions
  CHECK(u32_at(b, 4) == 0);  // padding
  for (size_t i = 0; i < 2; ++i) {
    const size_t at = 8 + i * 32;
    CHECK(u64_at(b, at + offsetof(vhost_memory_region, guest_phys_addr)) == regions[i].gpa);
    CHECK(u64_at(b, at + offsetof(vhost_memory_region, memory_size)) == regions[i].size);
    CHECK(u64_at(b, at + offsetof(vhost_memory_region, userspace_addr)) == regions[i].user_addr);
    CHECK(u64_at(b, at + offsetof(vhost_memory_region, flags_padding)) == 0);
  }

  auto empty = detail::vhost_memory_table({});
  REQUIRE(empty.ok());
  CHECK(empty->size() == 8);
}

TEST_CASE("bad memory tables are refused before the kernel sees them") {
  std::vector<MemoryRegion> many(kKernelMaxMemRegions + 1, MemoryRegion{.gpa = 0, .size = 0x1000, .user_addr = 0x1000});
  CHECK(detail::vhost_memory_table(many).message() == "VHOST_SET_MEM_TABLE: 65 regions, vhost-net takes at most 64");
  many.resize(kKernelMaxMemRegions);
  CHECK(detail::vhost_memory_table(many).ok());

  const MemoryRegion zero[] = {{.gpa = 0x1000, .size = 0, .user_addr = 0x2000}};
  CHECK(detail::vhost_memory_table(zero).message() == "VHOST_SET_MEM_TABLE region 0 (gpa 0x1000): size is 0");
  const MemoryRegion wrap[] = {{.gpa = 0, .size = 0x1000, .user_addr = 0x1000},
                               {.gpa = 0xffff'ffff'ffff'f000, .size = 0x2000, .user_addr = 0x1000}};
  CHECK(detail::vhost_memory_table(wrap).message() ==
        "VHOST_SET_MEM_TABLE region 1 (gpa 0xfffffffffffff000): size 0x2000 overflows");

  auto dev = refusing_device();
  CHECK(dev->set_mem_table(zero).message() == "vhost-net /dev/null: VHOST_SET_MEM_TABLE region 0 (gpa 0x1000): size is 0");
}

TEST_CASE("every request's error names the ioctl and the ring") {
  auto dev = refusing_device();
  CHECK(dev->name() == "vhost-net /dev/null");
  CHECK(dev->fd() >= 0);
  const std::string e = ": Inappropriate ioctl for device";
  const std::string p = "vhost-net /dev/null: ";
  CHECK(dev->set_owner().message() == p + "VHOST_SET_OWNER" + e);
  CHECK(dev->reset_owner().message() == p + "VHOST_RESET_OWNER" + e);
  CHECK(dev->get_features().message() == p + "VHOST_GET_FEATURES" + e);
  CHECK(dev->set_features(0x1'0000'0000).message() == p + "VHOST_SET_FEATURES 0x100000000" + e);
  const MemoryRegion one[] = {{.gpa = 0, .size = 0x1000, .user_addr = 0x7000}};
  CHECK(dev->set_mem_table(one).message() == p + "VHOST_SET_MEM_TABLE (1 regions)" + e);
  CHECK(dev->set_vring_num(1, 256).message() == p + "VHOST_SET_VRING_NUM (ring 1) num 256" + e);
  CHECK(dev->set_vring_addr(0, VringAddr{}).message() == p + "VHOST_SET_VRING_ADDR (ring 0)" + e);
  CHECK(dev->set_vring_base(1, 7).message() == p + "VHOST_SET_VRING_BASE (ring 1) base 7" + e);
  CHECK(dev->get_vring_base(0).message() == p + "VHOST_GET_VRING_BASE (ring 0)" + e);
  CHECK(dev->set_vring_kick(1, 3).message() == p + "VHOST_SET_VRING_KICK (ring 1)" + e);
  CHECK(dev->set_vring_call(0, 3).message() == p + "VHOST_SET_VRING_CALL (ring 0)" + e);
  CHECK(dev->set_vring_err(1, -1).message() == p + "VHOST_SET_VRING_ERR (ring 1)" + e);
  CHECK(dev->set_backend(0, -1).message() == p + "VHOST_NET_SET_BACKEND (ring 0) fd -1" + e);
}

TEST_CASE("KernelNet is usable as a Backend") {
  std::unique_ptr<Backend> b = refusing_device();
  CHECK(b->name() == "vhost-net /dev/null");
  CHECK_FALSE(b->set_owner().ok());
}
