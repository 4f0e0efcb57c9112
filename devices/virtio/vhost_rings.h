// devices/virtio/vhost_rings.h: handing a virtio device's memory and rings to a vhost backend.
//
// The same steps serve the kernel's vhost-net and a vhost-user backend: the guest's RAM regions as
// a memory table (with the memfd, for vhost-user), then per queue its size, ring addresses
// (translated to tandem's own virtual addresses through the checked accessor), start position and
// eventfds.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "devices/vhost/backend.h"
#include "devices/virtio/device.h"
#include "memory/guest_memory.h"

namespace tandem::virtio {

std::vector<vhost::MemoryRegion> vhost_memory_regions(const GuestMemory& mem);

// SET_MEM_TABLE, then for each queue SET_VRING_NUM/ADDR/BASE/KICK/CALL. `bases[i]` is queue i's
// starting available index (0 after a reset; the last used index after a backend reconnects).
Status program_vhost(vhost::Backend& backend, const GuestMemory& mem, const std::vector<ActiveQueue>& queues,
                     std::span<const uint16_t> bases);

// The used index the guest sees for a queue (where a reconnecting backend resumes).
Result<uint16_t> used_index(const GuestMemory& mem, const QueueConfig& q);

}  // namespace tandem::virtio
