// memory/address_allocator.cc: first-fit allocation of aligned ranges in a window.
#include "memory/address_allocator.h"

#include "base/hex.h"

#include <sstream>

namespace tandem {

bool AddressAllocator::overlaps(uint64_t addr, uint64_t size) const {
  auto it = used_.upper_bound(addr);
  if (it != used_.end() && it->first < addr + size) return true;
  if (it != used_.begin()) {
    --it;
    if (it->first + it->second > addr) return true;
  }
  return false;
}

Result<uint64_t> AddressAllocator::allocate(uint64_t size, uint64_t align) {
  if (size == 0) return Error{"cannot allocate 0 bytes"};
  if (align == 0 || (align & (align - 1))) return Error{"alignment " + hex(align) + " is not a power of two"};
  uint64_t end = base_ + size_;
  uint64_t cand = (base_ + align - 1) & ~(align - 1);
  for (auto it = used_.begin();; ++it) {
    uint64_t limit = it == used_.end() ? end : it->first;
    if (cand >= base_ && cand <= limit && limit - cand >= size) {
      used_[cand] = size;
      return cand;
    }
    if (it == used_.end()) break;
    uint64_t next = it->first + it->second;
    if (next > cand) cand = (next + align - 1) & ~(align - 1);
    if (cand < next) break;  // overflow
  }
  return Error{"no room for " + hex(size) + " bytes (aligned " + hex(align) + ") in window " + hex(base_) + "+" + hex(size_)};
}

Status AddressAllocator::claim(uint64_t addr, uint64_t size) {
  if (size == 0) return Error{"cannot claim 0 bytes"};
  if (addr < base_ || addr + size < addr || addr + size > base_ + size_) {
    return Error{"range " + hex(addr) + "+" + hex(size) + " is outside window " + hex(base_) + "+" + hex(size_)};
  }
  if (overlaps(addr, size)) return Error{"range " + hex(addr) + "+" + hex(size) + " overlaps an allocated range"};
  used_[addr] = size;
  return {};
}

Status AddressAllocator::release(uint64_t addr) {
  auto it = used_.find(addr);
  if (it == used_.end()) return Error{"no allocated range starts at " + hex(addr)};
  used_.erase(it);
  return {};
}

}  // namespace tandem
