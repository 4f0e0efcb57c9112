// devices/vhost/backend.h: the vhost protocol as one interface, whoever moves the packets.
//
// A vhost backend takes over a device's virtqueues: it gets the guest's memory table and each
// ring's size, addresses, position and eventfds, and from then on moves data without the VMM. Two
// implementations share this interface: the kernel's vhost-net (ioctls on /dev/vhost-net,
// devices/vhost/kernel.h) and a vhost-user backend process (messages on a Unix socket,
// devices/vhost_user/frontend.h). Addresses in VringAddr are the VMM's own virtual addresses, as
// both protocols define them. Every call returns an error value naming the request; a backend that
// went away answers with an error, never a crash.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"

namespace tandem::vhost {

struct MemoryRegion {
  uint64_t gpa = 0;        // guest-physical start
  uint64_t size = 0;
  uint64_t user_addr = 0;  // where the VMM has it mapped
  int fd = -1;             // the backing memfd (vhost-user passes it; the kernel ignores it)
  uint64_t fd_offset = 0;  // offset of the region in fd
};

struct VringAddr {
  uint64_t desc = 0;   // VMM virtual addresses of the three ring parts
  uint64_t avail = 0;
  uint64_t used = 0;
  uint64_t log = 0;    // dirty log (unused: no migration yet)
  uint32_t flags = 0;  // VHOST_VRING_F_LOG
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // for messages: "vhost-net", "vhost-user /run/x.sock"

  virtual Status set_owner() = 0;
  virtual Status reset_owner() = 0;
  virtual Result<uint64_t> get_features() = 0;
  virtual Status set_features(uint64_t features) = 0;
  virtual Status set_mem_table(std::span<const MemoryRegion> regions) = 0;
  virtual Status set_vring_num(uint32_t index, uint32_t num) = 0;
  virtual Status set_vring_addr(uint32_t index, const VringAddr& addr) = 0;
  virtual Status set_vring_base(uint32_t index, uint32_t base) = 0;
  // Stops the ring and returns the next available index it would have processed.
  virtual Result<uint32_t> get_vring_base(uint32_t index) = 0;
  virtual Status set_vring_kick(uint32_t index, int fd) = 0;
  virtual Status set_vring_call(uint32_t index, int fd) = 0;
  virtual Status set_vring_err(uint32_t index, int fd) = 0;
};

}  // namespace tandem::vhost
