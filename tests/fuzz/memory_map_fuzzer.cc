// tests/fuzz/memory_map_fuzzer.cc: vhost-pci's address translation (devices/vhost_user/backend.h
// MemoryMap): the peer's memory table mapped from real memfds, then guest-physical and front-end
// addresses translated to host pointers.
//
// Input: a region count, then per region 17 bytes (guest-physical page, size in pages, front-end
// address, mmap offset in pages, the memfd's size in pages, whether it is sealed against
// shrinking), a byte for the seal policy (unsealed memory allowed or not), then lookups of 10 bytes each
// (an address kind, an address and a length). Every pointer a lookup returns must lie inside the
// mapping of the region that contains the range; it is written and read back, so an address
// outside a mapping faults under ASan. A crash or a pointer outside its region is a finding.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/unique_fd.h"
#include "devices/vhost_user/backend.h"

using namespace tandem;
using namespace tandem::vhost_user;

namespace {
constexpr uint64_t kPage = 4096;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Reader {
  const uint8_t* p;
  size_t left;
  uint64_t take(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(i < left ? p[i] : 0) << (8 * i);
    size_t used = n < left ? n : left;
    p += used;
    left -= used;
    return v;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in{data, size};
  const unsigned n = static_cast<unsigned>(in.take(1) % 10);  // 0 .. 9 (8 is the most allowed)
  MemoryTable table;
  std::vector<UniqueFd> fds;
  for (unsigned i = 0; i < n; ++i) {
    MemRegion r;
    r.guest_phys_addr = in.take(3) * kPage;           // anywhere below 64 GiB
    r.memory_size = (in.take(1) % 17) * kPage;        // 0 .. 16 pages
    r.userspace_addr = in.take(5) << 12;              // page-aligned, or not:
    r.userspace_addr |= in.take(1);
    r.mmap_offset = (in.take(1) % 9) * kPage + (in.take(1) % 2) * 100;
    const uint64_t file_pages = in.take(1) % 25;
    table.regions.push_back(r);
    UniqueFd fd(::memfd_create("memory-map-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) std::abort();
    if (::ftruncate(fd.get(), static_cast<off_t>(file_pages * kPage)) != 0) std::abort();
    if (in.take(1) % 4 && ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) std::abort();  // mostly sealed
    fds.push_back(std::move(fd));
  }
  if (in.take(1) & 1 && !fds.empty()) fds.pop_back();  // one fd short

  MemoryMap::SealPolicy seals;
  seals.allow_unsealed = in.take(1) & 1;
  auto map = MemoryMap::map(table, std::move(fds), seals);
  if (!map) return 0;
  check(map->regions().size() == n);

  while (in.left >= 10) {
    const uint8_t kind = static_cast<uint8_t>(in.take(1));
    const unsigned pick = kind % n;
    const MappedRegion& base = map->regions()[pick];
    // Near a region edge most of the time, anywhere otherwise.
    const int64_t delta = static_cast<int16_t>(in.take(2));
    const uint64_t len = in.take(2) % (20 * kPage);
    uint64_t addr = (kind & 2) ? base.userspace_addr : base.gpa;
    if (kind & 4) addr += base.size;
    addr += static_cast<uint64_t>(delta);
    if (kind & 8) addr = in.take(5) << 12;
    else in.take(5);

    uint64_t gpa = addr;
    if (kind & 2) {
      auto g = map->gpa_of(addr, len);
      if (!g) continue;
      gpa = *g;
    }
    auto host = map->host(gpa, len);
    if (!host) continue;
    const uint64_t span = len == 0 ? 1 : len;
    bool inside = false;
    for (const auto& r : map->regions())
      if (gpa >= r.gpa && span <= r.size && gpa - r.gpa <= r.size - span && *host == r.host + (gpa - r.gpa)) inside = true;
    check(inside);
    if (len > 0) {
      uint8_t* p = *host;
      const uint8_t first = p[0], last = p[len - 1];
      p[0] = static_cast<uint8_t>(first + 1);
      p[len - 1] = static_cast<uint8_t>(p[len - 1] + 1);
      check(p[0] == static_cast<uint8_t>(first + 1) || len == 1);
      p[0] = first;
      p[len - 1] = last;
    }
  }
  return 0;
}
