// devices/counters.cc: Counters, see counters.h.
#include "devices/counters.h"

namespace tandem {

Counters::Counters(std::vector<std::string> names)
    : names_(std::move(names)), values_(std::make_unique<std::atomic<uint64_t>[]>(names_.size())) {}

std::vector<std::pair<std::string, uint64_t>> Counters::snapshot() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(names_.size());
  for (size_t i = 0; i < names_.size(); ++i)
    if (!names_[i].empty()) out.emplace_back(names_[i], get(i));
  return out;
}

}  // namespace tandem
