// devices/net/mac.cc: MAC parsing, printing and derivation.
#include "devices/net/mac.h"

#include <cctype>
#include <cstdio>

namespace tandem::net {

Result<Mac> parse_mac(const std::string& text) {
  Mac mac{};
  unsigned b[6];
  char tail;
  if (text.size() != 17 || std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6) {
    return Error{"MAC address '" + text + "' is not of the form 52:54:00:12:34:56"};
  }
  for (size_t i = 0; i < 6; ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(text[3 * i])) || !std::isxdigit(static_cast<unsigned char>(text[3 * i + 1])) ||
        (i < 5 && text[3 * i + 2] != ':')) {
      return Error{"MAC address '" + text + "' is not of the form 52:54:00:12:34:56"};
    }
    mac[i] = static_cast<uint8_t>(b[i]);
  }
  if (mac[0] & 1) return Error{"MAC address " + text + " is a multicast address"};
  if (mac == Mac{}) return Error{"MAC address " + text + " is all zeros"};
  return mac;
}

std::string format_mac(const Mac& mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

Mac derive_mac(const std::string& seed) {
  // FNV-1a, 64 bit: stable across runs and builds, spreads similar names ("vm1", "vm2") apart.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : seed) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  // A final avalanche (splitmix64's) so seeds that differ in one character differ in every byte.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  Mac mac{};
  for (size_t i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(h >> (8 * i));
  mac[0] = static_cast<uint8_t>((mac[0] & 0xfc) | 0x02);  // locally administered, unicast
  return mac;
}

}  // namespace tandem::net
