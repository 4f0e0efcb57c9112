// base/hex.h: "0x1f" formatting of addresses and sizes for error messages.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace tandem {

inline std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace tandem
