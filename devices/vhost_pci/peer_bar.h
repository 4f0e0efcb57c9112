// devices/vhost_pci/peer_bar.h: the size rule of vhost-pci-net 2.0's peer-memory BAR (BAR 2,
// docs/vhost-pci-net.md §2), shared by the device and the command line that configures it.
#pragma once

#include <cstdint>

namespace tandem::vhost_pci {

// A power of two from 4 GiB to 32 GiB (the 64-bit MMIO window must hold it), 16 GiB by default.
constexpr uint64_t kMinPeerBarSize = 4ULL << 30, kMaxPeerBarSize = 32ULL << 30, kDefaultPeerBarSize = 16ULL << 30;

constexpr bool valid_peer_bar_size(uint64_t size) {
  return size >= kMinPeerBarSize && size <= kMaxPeerBarSize && (size & (size - 1)) == 0;
}

}  // namespace tandem::vhost_pci
