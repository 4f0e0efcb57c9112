// memory/ram.h: what every architecture's RAM plan shares: byte units, a RAM region, the size rules.
//
// Arch-neutral: each architecture's address map (vmm/arch/<arch>/layout.h) places the regions.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/result.h"

namespace tandem {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

// The least guest RAM tandem accepts, on every architecture.
constexpr uint64_t kMinRam = 64 * MiB;

struct RamRegion {
  uint64_t gpa;
  uint64_t size;
};

// The size rules every architecture's RAM plan shares: not zero, a multiple of 4 KiB, at least
// kMinRam, at most `max` bytes (`why_max`, if given, is said after the maximum).
Status check_ram_size(uint64_t ram_size, uint64_t max, std::string_view why_max = {});

}  // namespace tandem
