// memory/layout.cc: planning RAM regions around the 32-bit PCI hole.
#include "memory/layout.h"

#include <string>

namespace tandem {

Status check_ram_size(uint64_t ram_size, uint64_t max, std::string_view why_max) {
  using namespace layout;
  if (ram_size == 0) return Error{"memory size is 0"};
  if (ram_size % (4 * KiB) != 0) return Error{"memory size " + std::to_string(ram_size) + " is not a multiple of 4 KiB"};
  if (ram_size < kMinRam) return Error{"memory size " + std::to_string(ram_size / MiB) + " MiB is below the minimum of 64 MiB"};
  if (ram_size > max) {
    std::string m = "memory size " + std::to_string(ram_size / GiB) + " GiB is above the maximum of " + std::to_string(max / GiB) + " GiB";
    if (!why_max.empty()) m += " (" + std::string(why_max) + ")";
    return Error{m};
  }
  return {};
}

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

}  // namespace tandem
