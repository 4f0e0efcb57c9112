// devices/vhost/kernel.cc: the vhost-net ioctls behind KernelNet.
#include "devices/vhost/kernel.h"

#include <fcntl.h>
#include <sys/ioctl.h>

// <linux/virtio_ring.h>'s legacy vring_init() is not valid C++; vhost.h pulls it in.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>

#include <cstddef>
#include <cstring>

#include "base/hex.h"

namespace tandem::vhost {

namespace {

// Our own layout for VHOST_SET_MEM_TABLE. struct vhost_memory ends in a flexible array; the kvm
// uapi headers declare theirs with __DECLARE_FLEX_ARRAY, which in C++ adds a 1-byte empty struct
// and so changes sizeof and the ioctl number (vmm/kvm/kvm.cc). The 6.1 vhost_types.h uses a plain
// `regions[]` (sizeof 8 under g++), but the number must not depend on how a header spells it: the
// kernel's is _IOW(0xAF, 0x03, 8 bytes).
struct MemoryHeader {
  uint32_t nregions;
  uint32_t padding;
};
struct MemoryRegionEntry {
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t flags_padding;
};
static_assert(sizeof(MemoryHeader) == 8 && sizeof(MemoryRegionEntry) == 32);
static_assert(sizeof(MemoryRegionEntry) == sizeof(vhost_memory_region) &&
              offsetof(vhost_memory_region, guest_phys_addr) == offsetof(MemoryRegionEntry, guest_phys_addr) &&
              offsetof(vhost_memory_region, memory_size) == offsetof(MemoryRegionEntry, memory_size) &&
              offsetof(vhost_memory_region, userspace_addr) == offsetof(MemoryRegionEntry, userspace_addr));
constexpr unsigned long kSetMemTable = _IOW(VHOST_VIRTIO, 0x03, MemoryHeader);
static_assert(kSetMemTable == 0x4008af03UL);

// The other requests carry fixed-size structs; pin their numbers all the same.
static_assert(sizeof(vhost_vring_state) == 8 && sizeof(vhost_vring_file) == 8 && sizeof(vhost_vring_addr) == 40);
static_assert(VHOST_SET_OWNER == 0xaf01UL && VHOST_RESET_OWNER == 0xaf02UL);
static_assert(VHOST_GET_FEATURES == 0x8008af00UL && VHOST_SET_FEATURES == 0x4008af00UL);
static_assert(VHOST_SET_VRING_NUM == 0x4008af10UL && VHOST_SET_VRING_ADDR == 0x4028af11UL &&
              VHOST_SET_VRING_BASE == 0x4008af12UL && VHOST_GET_VRING_BASE == 0xc008af12UL);
static_assert(VHOST_SET_VRING_KICK == 0x4008af20UL && VHOST_SET_VRING_CALL == 0x4008af21UL &&
              VHOST_SET_VRING_ERR == 0x4008af22UL && VHOST_NET_SET_BACKEND == 0x4008af30UL);

std::string ring(uint32_t index) { return " (ring " + std::to_string(index) + ")"; }

}  // namespace

namespace detail {

Result<std::vector<uint8_t>> vhost_memory_table(std::span<const MemoryRegion> regions) {
  if (regions.size() > kKernelMaxMemRegions) {
    return Error{"VHOST_SET_MEM_TABLE: " + std::to_string(regions.size()) + " regions, vhost-net takes at most " +
                 std::to_string(kKernelMaxMemRegions)};
  }
  std::vector<uint8_t> buf(sizeof(MemoryHeader) + regions.size() * sizeof(MemoryRegionEntry), 0);
  const MemoryHeader header{static_cast<uint32_t>(regions.size()), 0};
  std::memcpy(buf.data(), &header, sizeof header);
  for (size_t i = 0; i < regions.size(); ++i) {
    const MemoryRegion& r = regions[i];
    const std::string where = "VHOST_SET_MEM_TABLE region " + std::to_string(i) + " (gpa " + hex(r.gpa) + ")";
    if (r.size == 0) return Error{where + ": size is 0"};
    if (r.gpa + r.size < r.gpa || r.user_addr + r.size < r.user_addr) {
      return Error{where + ": size " + hex(r.size) + " overflows"};
    }
    const MemoryRegionEntry e{r.gpa, r.size, r.user_addr, 0};
    std::memcpy(buf.data() + sizeof(MemoryHeader) + i * sizeof(MemoryRegionEntry), &e, sizeof e);
  }
  return buf;
}

}  // namespace detail

Result<std::unique_ptr<KernelNet>> KernelNet::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    const int err = errno;
    Error e = errno_error("open " + path, err);
    if (err == ENOENT) e.message += " (is the vhost_net module loaded?)";
    return e;
  }
  return std::unique_ptr<KernelNet>(new KernelNet(std::move(fd), path));
}

std::string KernelNet::name() const {
  return path_ == "/dev/vhost-net" ? "vhost-net" : "vhost-net " + path_;
}

Status KernelNet::io(unsigned long request, const std::string& what, void* arg) {
  if (::ioctl(fd_.get(), request, arg) < 0) return errno_error(name() + ": " + what);
  return {};
}

Status KernelNet::set_owner() {
  if (::ioctl(fd_.get(), VHOST_SET_OWNER) < 0) return errno_error(name() + ": VHOST_SET_OWNER");
  return {};
}

Status KernelNet::reset_owner() {
  if (::ioctl(fd_.get(), VHOST_RESET_OWNER) < 0) return errno_error(name() + ": VHOST_RESET_OWNER");
  return {};
}

Result<uint64_t> KernelNet::get_features() {
  uint64_t features = 0;
  TANDEM_TRY(io(VHOST_GET_FEATURES, "VHOST_GET_FEATURES", &features));
  return features;
}

Status KernelNet::set_features(uint64_t features) {
  return io(VHOST_SET_FEATURES, "VHOST_SET_FEATURES " + hex(features), &features);
}

Status KernelNet::set_mem_table(std::span<const MemoryRegion> regions) {
  auto table = detail::vhost_memory_table(regions);
  if (!table.ok()) return Error{name() + ": " + table.message()};
  return io(kSetMemTable, "VHOST_SET_MEM_TABLE (" + std::to_string(regions.size()) + " regions)", table->data());
}

Status KernelNet::set_vring_num(uint32_t index, uint32_t num) {
  vhost_vring_state s{index, num};
  return io(VHOST_SET_VRING_NUM, "VHOST_SET_VRING_NUM" + ring(index) + " num " + std::to_string(num), &s);
}

Status KernelNet::set_vring_addr(uint32_t index, const VringAddr& addr) {
  vhost_vring_addr a{};
  a.index = index;
  a.flags = addr.flags;
  a.desc_user_addr = addr.desc;
  a.used_user_addr = addr.used;
  a.avail_user_addr = addr.avail;
  a.log_guest_addr = addr.log;
  return io(VHOST_SET_VRING_ADDR, "VHOST_SET_VRING_ADDR" + ring(index), &a);
}

Status KernelNet::set_vring_base(uint32_t index, uint32_t base) {
  vhost_vring_state s{index, base};
  return io(VHOST_SET_VRING_BASE, "VHOST_SET_VRING_BASE" + ring(index) + " base " + std::to_string(base), &s);
}

Result<uint32_t> KernelNet::get_vring_base(uint32_t index) {
  vhost_vring_state s{index, 0};
  TANDEM_TRY(io(VHOST_GET_VRING_BASE, "VHOST_GET_VRING_BASE" + ring(index), &s));
  return s.num;
}

Status KernelNet::set_vring_kick(uint32_t index, int fd) {
  vhost_vring_file f{index, fd};
  return io(VHOST_SET_VRING_KICK, "VHOST_SET_VRING_KICK" + ring(index), &f);
}

Status KernelNet::set_vring_call(uint32_t index, int fd) {
  vhost_vring_file f{index, fd};
  return io(VHOST_SET_VRING_CALL, "VHOST_SET_VRING_CALL" + ring(index), &f);
}

Status KernelNet::set_vring_err(uint32_t index, int fd) {
  vhost_vring_file f{index, fd};
  return io(VHOST_SET_VRING_ERR, "VHOST_SET_VRING_ERR" + ring(index), &f);
}

Status KernelNet::set_backend(uint32_t index, int tap_fd) {
  vhost_vring_file f{index, tap_fd};
  return io(VHOST_NET_SET_BACKEND, "VHOST_NET_SET_BACKEND" + ring(index) + " fd " + std::to_string(tap_fd), &f);
}

}  // namespace tandem::vhost
