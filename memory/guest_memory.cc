// memory/guest_memory.cc: memfd-backed guest RAM and its checked accessor.
#include "memory/guest_memory.h"

#include "base/hex.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

namespace tandem {

Result<GuestMemory> GuestMemory::create(const std::vector<RamRegion>& ram, const std::string& name) {
  uint64_t total = 0;
  for (const auto& r : ram) {
    if (r.size == 0 || r.size % 4096 || r.gpa % 4096) return Error{"guest RAM region at " + hex(r.gpa) + " is not page aligned"};
    if (r.gpa + r.size < r.gpa) return Error{"guest RAM region at " + hex(r.gpa) + " wraps around"};
    total += r.size;
  }
  if (total == 0) return Error{"guest RAM is empty"};
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return errno_error("memfd_create for guest RAM");
  if (::ftruncate(fd.get(), static_cast<off_t>(total)) < 0) {
    return errno_error("sizing guest RAM to " + std::to_string(total >> 20) + " MiB");
  }
  // Growing or shrinking guest RAM under a peer's mapping would be fatal for it: seal the size.
  ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  auto mapping = Mapping::map(total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd.get(), 0);
  if (!mapping) return with_context<Mapping>(std::move(mapping), "mapping guest RAM").error();
  // Transparent huge pages for guest RAM where the host allows them for shmem (shmem_enabled=advise
  // or within_size): far fewer nested page faults while the guest touches its memory.
  ::madvise(mapping->data(), total, MADV_HUGEPAGE);
  std::vector<Region> regions;
  uint64_t off = 0;
  for (const auto& r : ram) {
    regions.push_back({r.gpa, r.size, off, mapping->data() + off});
    off += r.size;
  }
  return GuestMemory(std::move(fd), std::move(mapping).value(), std::move(regions));
}

Result<std::span<uint8_t>> GuestMemory::slice(uint64_t gpa, uint64_t len) const {
  for (const auto& r : regions_) {
    if (gpa >= r.gpa && gpa - r.gpa < r.size) {
      uint64_t off = gpa - r.gpa;
      if (len > r.size - off) {
        return Error{"guest range " + hex(gpa) + "+" + hex(len) + " leaves guest RAM (region ends at " + hex(r.gpa + r.size) + ")"};
      }
      return std::span<uint8_t>(r.host + off, len);
    }
  }
  return Error{"guest address " + hex(gpa) + " is not RAM"};
}

Status GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
  auto s = slice(gpa, out.size());
  if (!s) return s.error();
  if (!out.empty()) std::memcpy(out.data(), s->data(), out.size());
  return {};
}

Status GuestMemory::write(uint64_t gpa, std::span<const uint8_t> in) const {
  auto s = slice(gpa, in.size());
  if (!s) return s.error();
  if (!in.empty()) std::memcpy(s->data(), in.data(), in.size());
  return {};
}

}  // namespace tandem
