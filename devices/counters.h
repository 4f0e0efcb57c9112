// devices/counters.h: a device's event counters (packets, bytes, drops, errors) for vm.counters.
//
// A device names its counters once; its worker threads add to them and the API reads them at any
// time, from any thread. Each value is exact (relaxed atomics); a snapshot of several is not taken
// at one instant.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tandem {

class Counters {
 public:
  // An empty name: a counter this device does not keep (its index stays valid; snapshot skips it).
  explicit Counters(std::vector<std::string> names);

  size_t size() const { return names_.size(); }
  // `index` below size(): a device adds only to the counters it named.
  void add(size_t index, uint64_t n = 1) { values_[index].fetch_add(n, std::memory_order_relaxed); }
  uint64_t get(size_t index) const { return values_[index].load(std::memory_order_relaxed); }
  // Every named counter, in the order named.
  std::vector<std::pair<std::string, uint64_t>> snapshot() const;

 private:
  std::vector<std::string> names_;
  std::unique_ptr<std::atomic<uint64_t>[]> values_;
};

}  // namespace tandem
