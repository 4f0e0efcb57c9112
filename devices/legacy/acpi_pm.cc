// devices/legacy/acpi_pm.cc: decoding of the hardware-reduced ACPI sleep and reset registers.
#include "devices/legacy/acpi_pm.h"

#include <algorithm>

namespace tandem {

AcpiPm::AcpiPm(uint8_t reset_value, std::function<void()> on_poweroff, std::function<void()> on_reset)
    : reset_value_(reset_value), on_poweroff_(std::move(on_poweroff)), on_reset_(std::move(on_reset)) {}

void AcpiPm::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  if (data.size() != 1 || offset >= kLength) {
    std::fill(data.begin(), data.end(), uint8_t{0xff});
    return;
  }
  data[0] = (offset == kSleepOffset && wak_sts_) ? kWakSts : 0;
}

void AcpiPm::write(uint64_t offset, std::span<const uint8_t> data) {
  bool poweroff = false, reset = false;
  {
    std::lock_guard lock(mu_);
    if (data.size() != 1 || offset >= kLength) {
      ++ignored_;
      return;
    }
    const uint8_t v = data[0];
    if (offset == kResetOffset) {
      if (v == reset_value_) {
        reset = true;
      } else {
        ++ignored_;
      }
    } else {
      if (v & kWakSts) wak_sts_ = false;  // write 1 to clear, done before sleeping and after waking
      if (v & kSlpEn) {
        wak_sts_ = true;
        if (((v >> 2) & 7) == kSlpTypS5) {
          poweroff = true;
        } else {
          ++ignored_;
        }
      } else if (!(v & kWakSts)) {
        ++ignored_;
      }
    }
  }
  if (poweroff && on_poweroff_) on_poweroff_();
  if (reset && on_reset_) on_reset_();
}

uint64_t AcpiPm::ignored() const {
  std::lock_guard lock(mu_);
  return ignored_;
}

}  // namespace tandem
