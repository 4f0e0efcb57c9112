// memory/address_allocator.h: hands out aligned ranges of an address window (MMIO or port I/O),
// first fit, and takes them back. Used for PCI BARs and other device windows.
#pragma once

#include <cstdint>
#include <map>

#include "base/result.h"

namespace tandem {

class AddressAllocator {
 public:
  AddressAllocator(uint64_t base, uint64_t size) : base_(base), size_(size) {}

  // An aligned range of `size` bytes (align: a power of two). Error when the window is full.
  Result<uint64_t> allocate(uint64_t size, uint64_t align);
  // Claims exactly [addr, addr+size) (for fixed addresses, or a BAR the guest moved).
  Status claim(uint64_t addr, uint64_t size);
  // Returns a range obtained from allocate() or claim(). Error if `addr` starts no allocated range.
  Status release(uint64_t addr);

  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }

 private:
  bool overlaps(uint64_t addr, uint64_t size) const;

  uint64_t base_;
  uint64_t size_;
  std::map<uint64_t, uint64_t> used_;  // start -> size
};

}  // namespace tandem
