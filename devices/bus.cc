// devices/bus.cc: address-range dispatch to BusDevices.
#include "devices/bus.h"

#include "base/hex.h"
#include "base/log.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sstream>

namespace tandem {

Status Bus::insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len) {
  if (!device) return Error{name_ + " bus: no device given for " + hex(base)};
  if (len == 0 || base + len < base) return Error{name_ + " bus: bad range " + hex(base) + "+" + hex(len)};
  std::unique_lock lock(mu_);
  auto it = ranges_.upper_bound(base);
  if (it != ranges_.end() && it->first < base + len) {
    return Error{name_ + " bus: " + device->name() + " at " + hex(base) + " overlaps " + it->second.device->name()};
  }
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second.len > base) {
      return Error{name_ + " bus: " + device->name() + " at " + hex(base) + " overlaps " + prev->second.device->name()};
    }
  }
  ranges_.emplace(base, Entry{len, std::move(device)});
  return {};
}

Status Bus::remove(uint64_t base) {
  std::unique_lock lock(mu_);
  if (ranges_.erase(base) == 0) return Error{name_ + " bus: nothing mapped at " + hex(base)};
  return {};
}

std::shared_ptr<BusDevice> Bus::find(uint64_t addr, uint64_t size, uint64_t* offset) const {
  std::shared_lock lock(mu_);
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return nullptr;
  --it;
  uint64_t off = addr - it->first;
  if (off >= it->second.len || size > it->second.len - off) return nullptr;
  *offset = off;
  return it->second.device;
}

bool Bus::read(uint64_t addr, std::span<uint8_t> data) const {
  uint64_t off = 0;
  if (auto dev = find(addr, data.size(), &off)) {
    dev->read(off, data);
    return true;
  }
  std::memset(data.data(), 0xff, data.size());
  ++unclaimed_;
  if (debug_logging()) std::fprintf(stderr, "tandem: debug: %s read of %zu bytes at %s hits no device\n", name_.c_str(), data.size(), hex(addr).c_str());
  return false;
}

bool Bus::write(uint64_t addr, std::span<const uint8_t> data) const {
  uint64_t off = 0;
  if (auto dev = find(addr, data.size(), &off)) {
    dev->write(off, data);
    return true;
  }
  ++unclaimed_;
  if (debug_logging()) std::fprintf(stderr, "tandem: debug: %s write of %zu bytes at %s hits no device\n", name_.c_str(), data.size(), hex(addr).c_str());
  return false;
}

}  // namespace tandem
