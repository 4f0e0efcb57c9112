// devices/virtio/vhost_rings.cc: memory table and ring set-up for vhost backends.
#include "devices/virtio/vhost_rings.h"

namespace tandem::virtio {

std::vector<vhost::MemoryRegion> vhost_memory_regions(const GuestMemory& mem) {
  std::vector<vhost::MemoryRegion> out;
  for (const auto& r : mem.regions()) {
    out.push_back(vhost::MemoryRegion{r.gpa, r.size, reinterpret_cast<uint64_t>(r.host), mem.fd(), r.fd_offset});
  }
  return out;
}

Result<uint16_t> used_index(const GuestMemory& mem, const QueueConfig& q) { return mem.read_le<uint16_t>(q.used + 2); }

Status program_vhost(vhost::Backend& backend, const GuestMemory& mem, const std::vector<ActiveQueue>& queues,
                     std::span<const uint16_t> bases) {
  auto regions = vhost_memory_regions(mem);
  TANDEM_TRY(backend.set_mem_table(regions));
  for (size_t i = 0; i < queues.size(); ++i) {
    const ActiveQueue& q = queues[i];
    const QueueConfig& c = q.config;
    uint64_t n = c.size;
    auto desc = mem.slice(c.desc, 16 * n);
    auto avail = mem.slice(c.avail, 6 + 2 * n);
    auto used = mem.slice(c.used, 6 + 8 * n);
    if (!desc || !avail || !used) return Error{backend.name() + ": queue " + std::to_string(q.index) + ": rings are not inside guest RAM"};
    vhost::VringAddr addr;
    addr.desc = reinterpret_cast<uint64_t>(desc->data());
    addr.avail = reinterpret_cast<uint64_t>(avail->data());
    addr.used = reinterpret_cast<uint64_t>(used->data());
    TANDEM_TRY(backend.set_vring_num(q.index, c.size));
    TANDEM_TRY(backend.set_vring_addr(q.index, addr));
    TANDEM_TRY(backend.set_vring_base(q.index, i < bases.size() ? bases[i] : 0));
    TANDEM_TRY(backend.set_vring_kick(q.index, q.kick_fd));
    TANDEM_TRY(backend.set_vring_call(q.index, q.call_fd));
  }
  return {};
}

}  // namespace tandem::virtio
