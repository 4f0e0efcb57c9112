// memory/guest_memory.h: guest RAM and the one checked accessor for guest-physical addresses.
//
// RAM is one memfd (MAP_SHARED, so a vhost-user peer can map it too) cut into regions at guest
// physical addresses. Every access goes through read/write/slice, which check that the whole range
// lies inside one region: a range that leaves RAM is an Error value, never a fault. Raw host
// pointers are only handed out as bounds-checked spans.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/le.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "memory/ram.h"
#include "memory/mapping.h"

namespace tandem {

class GuestMemory {
 public:
  struct Region {
    uint64_t gpa;
    uint64_t size;
    uint64_t fd_offset;  // offset of this region in the memfd
    uint8_t* host;       // start of its mapping
  };

  // Creates RAM for these regions, backed by one memfd named `name` (visible in /proc/PID/fd).
  static Result<GuestMemory> create(const std::vector<RamRegion>& ram, const std::string& name = "tandem-ram");

  GuestMemory(GuestMemory&&) = default;
  GuestMemory& operator=(GuestMemory&&) = default;

  const std::vector<Region>& regions() const { return regions_; }
  int fd() const { return fd_.get(); }
  uint64_t total_size() const { return mapping_.size(); }

  // A span over [gpa, gpa+len) if the whole range is RAM inside one region.
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const;
  bool contains(uint64_t gpa, uint64_t len) const { return slice(gpa, len).ok(); }

  Status read(uint64_t gpa, std::span<uint8_t> out) const;
  Status write(uint64_t gpa, std::span<const uint8_t> in) const;

  template <typename T>
    requires std::is_unsigned_v<T>
  Result<T> read_le(uint64_t gpa) const {
    auto s = slice(gpa, sizeof(T));
    if (!s) return s.error();
    return *load_le<T>(*s, 0);
  }
  template <typename T>
    requires std::is_unsigned_v<T>
  Status write_le(uint64_t gpa, T value) const {
    auto s = slice(gpa, sizeof(T));
    if (!s) return s.error();
    store_le<T>(*s, 0, value);
    return {};
  }

 private:
  GuestMemory(UniqueFd fd, Mapping mapping, std::vector<Region> regions)
      : fd_(std::move(fd)), mapping_(std::move(mapping)), regions_(std::move(regions)) {}

  UniqueFd fd_;
  Mapping mapping_;
  std::vector<Region> regions_;
};

}  // namespace tandem
