// devices/testing/host_frames.h: a unit test's frames into a tap, sent by the host on the tap's
// interface (AF_PACKET): the tap's fd then reads them, as from a bridge.
#pragma once

#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace tandem::testing {

// Sends `n` 64-byte frames to `dst` (EtherType 0x88b5, local experimental) on `ifname`. False,
// with errno, when the socket or a send fails.
inline bool send_host_frames(const std::string& ifname, const std::array<uint8_t, 6>& dst, int n) {
  UniqueFd sock(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!sock) return false;
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
  to.sll_halen = 6;
  std::memcpy(to.sll_addr, dst.data(), 6);
  std::vector<uint8_t> f(64, 0x5a);
  std::memcpy(f.data(), dst.data(), 6);
  f[12] = 0x88, f[13] = 0xb5;
  for (int i = 0; i < n; ++i) {
    if (::sendto(sock.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) != static_cast<ssize_t>(f.size())) return false;
  }
  return true;
}

}  // namespace tandem::testing
