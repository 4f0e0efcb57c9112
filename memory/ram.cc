// memory/ram.cc: the RAM size rules every architecture shares.
#include "memory/ram.h"

#include <string>

namespace tandem {

Status check_ram_size(uint64_t ram_size, uint64_t max, std::string_view why_max) {
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

}  // namespace tandem
