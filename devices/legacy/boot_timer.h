// devices/legacy/boot_timer.h: the boot timer port (1 byte, wherever the machine places it: x86_64
// at port 0x440, aarch64 in MMIO).
//
// The guest's init writes any value there once it runs; each write records the time since the
// start timestamp (steady_clock) given at construction and reports it through on_mark. Reads
// return 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "devices/bus.h"

namespace tandem {

class BootTimer : public BusDevice {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint64_t kLength = 1;

  // `on_mark` runs on a vCPU thread with no lock held.
  BootTimer(Clock::time_point start, std::function<void(std::chrono::nanoseconds)> on_mark);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return "boot-timer"; }

  // The time of the latest write since start, if any, and how many writes there were.
  std::optional<std::chrono::nanoseconds> last_mark() const;
  uint64_t marks() const;

 private:
  const Clock::time_point start_;
  const std::function<void(std::chrono::nanoseconds)> on_mark_;
  mutable std::mutex mu_;
  std::optional<std::chrono::nanoseconds> last_;
  uint64_t marks_ = 0;
};

}  // namespace tandem
