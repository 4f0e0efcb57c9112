// devices/net/tap.h: a TAP interface opened through /dev/net/tun, carrying virtio-net headers.
//
// Tap::open("tp0") attaches to an existing persistent tap of that name or has the kernel create
// one that lives as long as the fd. The fd is opened O_CLOEXEC|O_NONBLOCK with
// IFF_TAP|IFF_NO_PI|IFF_VNET_HDR: every frame read or written is preceded by a virtio_net_hdr of
// vnet_hdr_size() bytes (10 by default; 12 once VIRTIO_F_VERSION_1 or VIRTIO_NET_F_MRG_RXBUF is
// negotiated, see vnet_hdr_size_for). The same fd can be handed to vhost-net as its backend.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace tandem::net {

// The virtio feature bits the tap cares about (virtio 1.2, 5.1.3). <linux/virtio_net.h> does not
// compile as C++ (a member named `class`), hence our own.
inline constexpr unsigned kVirtioNetFGuestCsum = 1;
inline constexpr unsigned kVirtioNetFGuestTso4 = 7;
inline constexpr unsigned kVirtioNetFGuestTso6 = 8;
inline constexpr unsigned kVirtioNetFGuestEcn = 9;
inline constexpr unsigned kVirtioNetFGuestUfo = 10;
inline constexpr unsigned kVirtioNetFMrgRxbuf = 15;
inline constexpr unsigned kVirtioFVersion1 = 32;

// The batching window of a userspace tap datapath (devices/virtio/net_tap.cc), in microseconds:
// while packets keep coming, the rings and the tap are looked at every this often instead of on
// every kick. 0 turns batching off. Here so that the VM's options can check it.
inline constexpr uint32_t kDefaultTapCoalesceUs = 50;
inline constexpr uint32_t kMaxTapCoalesceUs = 10000;

// struct virtio_net_hdr_v1 (== virtio_net_hdr_mrg_rxbuf), little-endian on the wire; the legacy
// header without MRG_RXBUF is its first 10 bytes.
struct VirtioNetHdr {
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  uint16_t num_buffers = 0;
};
static_assert(sizeof(VirtioNetHdr) == 12);

// Checks an interface name the way the kernel does (dev_valid_name): 1..IFNAMSIZ-1 bytes, not
// "." or "..", no '/', ':' or whitespace.
Status validate_ifname(const std::string& name);

// TUNSETOFFLOAD flags for the negotiated virtio-net guest features (VIRTIO_NET_F_GUEST_CSUM,
// _TSO4, _TSO6, _ECN, _UFO). Like QEMU: nothing without GUEST_CSUM (the tap refuses TSO without
// checksum offload), ECN only together with TSO4 or TSO6.
unsigned tap_offloads_for_guest_features(uint64_t features);

// The virtio-net header the device and the tap exchange: 12 bytes (virtio_net_hdr_v1 /
// virtio_net_hdr_mrg_rxbuf) with VIRTIO_F_VERSION_1 or VIRTIO_NET_F_MRG_RXBUF, else 10.
int vnet_hdr_size_for(uint64_t features);

class Tap {
 public:
  static Result<Tap> open(const std::string& name);

  const std::string& name() const { return name_; }  // as the kernel reports it
  int fd() const { return fd_.get(); }

  Status check_vnet_hdr_support() const;  // TUNGETFEATURES lists IFF_VNET_HDR
  Status set_vnet_hdr_size(int size);     // TUNSETVNETHDRSZ
  Result<int> vnet_hdr_size() const;      // TUNGETVNETHDRSZ
  Status set_offloads(unsigned flags);    // TUNSETOFFLOAD, TUN_F_* flags
  Status set_up();                        // IFF_UP via SIOCSIFFLAGS (needs CAP_NET_ADMIN)

  // One frame (with its vnet header) per call. std::nullopt: the tap would block (EAGAIN), poll
  // the fd and retry. EINTR is retried here.
  Result<std::optional<size_t>> readv(std::span<const iovec> iov);
  Result<std::optional<size_t>> writev(std::span<const iovec> iov);

 private:
  Tap(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  Error error(const std::string& what, int err = errno) const;

  UniqueFd fd_;
  std::string name_;
};

}  // namespace tandem::net
