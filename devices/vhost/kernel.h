// devices/vhost/kernel.h: the kernel's vhost-net (/dev/vhost-net) as a vhost Backend.
//
// One KernelNet is one vhost-net device: rings 0 (receive) and 1 (transmit) of one queue pair.
// The caller sets the owner, features, memory table and rings through the Backend calls, then
// attaches a tap fd to each ring with set_backend (the tap's vnet header size and offloads are
// the caller's to set, see devices/net/tap.h). Every error names the ioctl and the ring.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "devices/vhost/backend.h"

namespace tandem::vhost {

// vhost-net's default max_mem_regions module parameter; more regions get E2BIG.
inline constexpr size_t kKernelMaxMemRegions = 64;

class KernelNet : public Backend {
 public:
  static Result<std::unique_ptr<KernelNet>> open(const std::string& path = "/dev/vhost-net");

  std::string name() const override;  // "vhost-net", or "vhost-net <path>" for another path
  int fd() const { return fd_.get(); }

  Status set_owner() override;
  Status reset_owner() override;
  Result<uint64_t> get_features() override;
  Status set_features(uint64_t features) override;
  Status set_mem_table(std::span<const MemoryRegion> regions) override;
  Status set_vring_num(uint32_t index, uint32_t num) override;
  Status set_vring_addr(uint32_t index, const VringAddr& addr) override;
  Status set_vring_base(uint32_t index, uint32_t base) override;
  Result<uint32_t> get_vring_base(uint32_t index) override;
  Status set_vring_kick(uint32_t index, int fd) override;
  Status set_vring_call(uint32_t index, int fd) override;
  Status set_vring_err(uint32_t index, int fd) override;

  // VHOST_NET_SET_BACKEND: ring `index` moves packets to and from `tap_fd`; -1 detaches it
  // (the ring stops; do this before changing the ring or closing the tap).
  Status set_backend(uint32_t index, int tap_fd);

 private:
  KernelNet(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Status io(unsigned long request, const std::string& what, void* arg);

  UniqueFd fd_;
  std::string path_;
};

namespace detail {
// The VHOST_SET_MEM_TABLE argument as the kernel reads it: struct vhost_memory's 8-byte header
// (nregions, padding), then nregions struct vhost_memory_region {guest_phys_addr, memory_size,
// userspace_addr, flags_padding} of 32 bytes each. Checks count, sizes and overflow first.
Result<std::vector<uint8_t>> vhost_memory_table(std::span<const MemoryRegion> regions);
}  // namespace detail

}  // namespace tandem::vhost
