// devices/net/mac.h: Ethernet MAC addresses: parsing, printing, and the stable per-device default.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "base/result.h"

namespace tandem::net {

using Mac = std::array<uint8_t, 6>;

// "52:54:00:12:34:56" -> Mac; errors for bad syntax, multicast or all-zero addresses.
Result<Mac> parse_mac(const std::string& text);
std::string format_mac(const Mac& mac);
// A locally administered unicast MAC derived from `seed` (the same seed gives the same MAC, so a
// VM keeps its address across restarts; different seeds give different addresses).
Mac derive_mac(const std::string& seed);

}  // namespace tandem::net
