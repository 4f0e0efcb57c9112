// devices/legacy/pl061.cc: the PL061 GPIO controller's registers and interrupt logic.
#include "devices/legacy/pl061.h"

#include <cstring>

namespace tandem {

namespace {
// PeriphID0-3 (a PL061, revision 0) and PCellID0-3 (a PrimeCell), at 0xFE0-0xFFC.
constexpr uint8_t kIds[8] = {0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
}  // namespace

Pl061::Pl061(std::function<void()> raise) : raise_(std::move(raise)) {}

uint8_t Pl061::raw_status() const {
  std::lock_guard lock(mu_);
  return ris_;
}

uint32_t Pl061::reg_read(uint64_t offset) {
  if (offset < kDataEnd) {
    const uint8_t mask = static_cast<uint8_t>(offset >> 2);  // address bits 9:2 select the lines
    const uint8_t levels = static_cast<uint8_t>((in_ & ~dir_) | (out_ & dir_));
    return levels & mask;
  }
  switch (offset) {
    case kDir: return dir_;
    case kIs: return is_;
    case kIbe: return ibe_;
    case kIev: return iev_;
    case kIe: return ie_;
    case kRis: return ris_;
    case kMis: return ris_ & ie_;
    case kAfsel: return afsel_;
    default: break;
  }
  if (offset >= kIdBase && offset < kSize && offset % 4 == 0) return kIds[(offset - kIdBase) / 4];
  return 0;  // GPIOIC is write-only; the rest of the page reads as zero
}

void Pl061::read(uint64_t offset, std::span<uint8_t> data) {
  std::memset(data.data(), 0, data.size());
  if (offset >= kSize || data.size() > 4 || data.size() > kSize - offset) return;
  uint32_t v;
  {
    std::lock_guard lock(mu_);
    v = reg_read(offset & ~3ULL) >> (8 * (offset & 3));
  }
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(v >> (8 * i));
}

bool Pl061::update_locked(uint8_t old) {
  const uint8_t before = ris_ & ie_;
  const uint8_t rising = static_cast<uint8_t>(in_ & ~old), falling = static_cast<uint8_t>(~in_ & old);
  // Edge-sensitive lines latch: both edges, or the one GPIOIEV names.
  const uint8_t edge = static_cast<uint8_t>(~is_);
  ris_ |= edge & ((ibe_ & (rising | falling)) | (~ibe_ & ((iev_ & rising) | (~iev_ & falling))));
  // Level-sensitive lines follow the level: high when GPIOIEV says high, else low.
  const uint8_t level_active = static_cast<uint8_t>((iev_ & in_) | (~iev_ & ~in_));
  ris_ = static_cast<uint8_t>((ris_ & edge) | (is_ & level_active));
  ris_ &= static_cast<uint8_t>(~dir_);  // output lines do not interrupt
  return (ris_ & ie_ & ~before) != 0;
}

void Pl061::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= kSize || data.empty() || data.size() > 4 || data.size() > kSize - offset) return;
  if (offset % 4 != 0) return;  // the TRM's registers are word-aligned; a misaligned write is dropped
  const uint8_t v = data[0];    // every register holds 8 bits
  bool fire = false;
  {
    std::lock_guard lock(mu_);
    const uint8_t old = in_;
    if (offset < kDataEnd) {
      const uint8_t mask = static_cast<uint8_t>((offset >> 2) & dir_);
      out_ = static_cast<uint8_t>((out_ & ~mask) | (v & mask));
      return;
    }
    switch (offset) {
      case kDir: dir_ = v; break;
      case kIs: is_ = v; break;
      case kIbe: ibe_ = v; break;
      case kIev: iev_ = v; break;
      case kIe: {
        const uint8_t before = ris_ & ie_;
        ie_ = v;
        fire = (ris_ & ie_ & ~before) != 0;  // unmasking a pending line raises it now
        break;
      }
      case kIc: ris_ &= static_cast<uint8_t>(~(v & ~is_)); break;  // clears latched edges only
      case kAfsel: afsel_ = v; break;
      default: return;  // status and ID registers are read-only
    }
    if (offset != kIe && offset != kIc) fire = update_locked(old);
  }
  if (fire && raise_) raise_();
}

void Pl061::set_input(uint32_t line, bool level) {
  if (line >= kLines) return;
  bool fire;
  {
    std::lock_guard lock(mu_);
    const uint8_t old = in_;
    in_ = static_cast<uint8_t>(level ? in_ | (1u << line) : in_ & ~(1u << line));
    fire = update_locked(old);
  }
  if (fire && raise_) raise_();
}

}  // namespace tandem
