// vmm/arch/x86_64/layout.cc: planning RAM regions around the 32-bit PCI hole.
#include "vmm/arch/x86_64/layout.h"

#include <algorithm>

namespace tandem::x86 {

Result<std::vector<RamRegion>> plan_ram(uint64_t ram_size) {
  using namespace layout;
  TANDEM_TRY(check_ram_size(ram_size, kMaxRam));
  std::vector<RamRegion> regions;
  uint64_t low = ram_size < kLowRamEnd ? ram_size : kLowRamEnd;
  regions.push_back({0, low});
  if (ram_size > low) regions.push_back({kHighRamStart, ram_size - low});
  return regions;
}

uint64_t mmio64_start(const std::vector<RamRegion>& ram) {
  using namespace layout;
  uint64_t end = kHighRamStart;
  for (const auto& r : ram) end = std::max(end, r.gpa + r.size);
  return (end + GiB - 1) & ~(GiB - 1);
}

}  // namespace tandem::x86
