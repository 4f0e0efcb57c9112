// devices/legacy/boot_timer.cc: timestamps guest writes to the boot timer port.
#include "devices/legacy/boot_timer.h"

#include <algorithm>

namespace tandem {

BootTimer::BootTimer(Clock::time_point start, std::function<void(std::chrono::nanoseconds)> on_mark)
    : start_(start), on_mark_(std::move(on_mark)) {}

void BootTimer::read(uint64_t, std::span<uint8_t> data) { std::fill(data.begin(), data.end(), uint8_t{0}); }

void BootTimer::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= kLength || data.empty()) return;
  const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_);
  {
    std::lock_guard lock(mu_);
    last_ = elapsed;
    ++marks_;
  }
  if (on_mark_) on_mark_(elapsed);
}

std::optional<std::chrono::nanoseconds> BootTimer::last_mark() const {
  std::lock_guard lock(mu_);
  return last_;
}

uint64_t BootTimer::marks() const {
  std::lock_guard lock(mu_);
  return marks_;
}

}  // namespace tandem
