// devices/net/tap.cc: the /dev/net/tun ioctls behind Tap.
#include "devices/net/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cctype>
#include <cstring>

#include "base/hex.h"

namespace tandem::net {

namespace {
constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }
constexpr int kLegacyVnetHdrSize = 10;  // struct virtio_net_hdr, no num_buffers
}  // namespace

Status validate_ifname(const std::string& name) {
  if (name.empty()) return Error{"tap name is empty"};
  if (name.size() > IFNAMSIZ - 1) {
    return Error{"tap name '" + name + "' is " + std::to_string(name.size()) +
                 " bytes; interface names have at most " + std::to_string(IFNAMSIZ - 1)};
  }
  if (name == "." || name == "..") return Error{"tap name '" + name + "' is not a valid interface name"};
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c))) {
      return Error{"tap name '" + name + "' is not a valid interface name (no '/', ':' or whitespace)"};
    }
  }
  return {};
}

unsigned tap_offloads_for_guest_features(uint64_t features) {
  if (!(features & bit(kVirtioNetFGuestCsum))) return 0;
  unsigned flags = TUN_F_CSUM;
  const bool tso4 = features & bit(kVirtioNetFGuestTso4);
  const bool tso6 = features & bit(kVirtioNetFGuestTso6);
  if (tso4) flags |= TUN_F_TSO4;
  if (tso6) flags |= TUN_F_TSO6;
  if ((tso4 || tso6) && (features & bit(kVirtioNetFGuestEcn))) flags |= TUN_F_TSO_ECN;
  if (features & bit(kVirtioNetFGuestUfo)) flags |= TUN_F_UFO;
  return flags;
}

int vnet_hdr_size_for(uint64_t features) {
  if (features & (bit(kVirtioFVersion1) | bit(kVirtioNetFMrgRxbuf))) {
    return sizeof(VirtioNetHdr);
  }
  return kLegacyVnetHdrSize;
}

Error Tap::error(const std::string& what, int err) const {
  return errno_error("tap '" + name_ + "': " + what, err);
}

Result<Tap> Tap::open(const std::string& name) {
  TANDEM_TRY(validate_ifname(name));
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errno_error("tap '" + name + "': open /dev/net/tun");

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    std::string hint;
    if (err == EBUSY) hint = " (is another process attached to it?)";
    if (err == EPERM) hint = " (creating a tap needs CAP_NET_ADMIN; a persistent tap must be owned by this user)";
    if (err == EINVAL) hint = " (an existing interface of this name that is not a single-queue tap?)";
    return Error{errno_error("tap '" + name + "': TUNSETIFF", err).message + hint};
  }
  Tap tap(std::move(fd), std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ)));
  TANDEM_TRY(tap.check_vnet_hdr_support());
  return tap;
}

Status Tap::check_vnet_hdr_support() const {
  unsigned features = 0;
  if (::ioctl(fd_.get(), TUNGETFEATURES, &features) < 0) return error("TUNGETFEATURES");
  if (!(features & IFF_VNET_HDR)) return Error{"tap '" + name_ + "': the kernel's tun lacks IFF_VNET_HDR"};
  return {};
}

Status Tap::set_vnet_hdr_size(int size) {
  if (::ioctl(fd_.get(), TUNSETVNETHDRSZ, &size) < 0) {
    return error("TUNSETVNETHDRSZ " + std::to_string(size));
  }
  return {};
}

Result<int> Tap::vnet_hdr_size() const {
  int size = 0;
  if (::ioctl(fd_.get(), TUNGETVNETHDRSZ, &size) < 0) return error("TUNGETVNETHDRSZ");
  return size;
}

Status Tap::set_offloads(unsigned flags) {
  // TUNSETOFFLOAD takes the flags by value, not through a pointer.
  if (::ioctl(fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(flags)) < 0) {
    return error("TUNSETOFFLOAD " + hex(flags));
  }
  return {};
}

// The interface ioctls work on a socket of any family (the kernel hands what the family does not
// know to the device layer): an AF_UNIX one keeps the seccomp lists to AF_UNIX (vmm/seccomp).
Status Tap::set_up() {
  UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return error("socket(AF_UNIX) for SIOCSIFFLAGS");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name_.data(), name_.size());
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return error("SIOCGIFFLAGS");
  if (ifr.ifr_flags & IFF_UP) return {};
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) return error("SIOCSIFFLAGS IFF_UP");
  return {};
}

Result<std::optional<size_t>> Tap::readv(std::span<const iovec> iov) {
  for (;;) {
    const ssize_t n = ::readv(fd_.get(), iov.data(), static_cast<int>(iov.size()));
    if (n >= 0) return std::optional<size_t>(static_cast<size_t>(n));
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return std::optional<size_t>();
    return error("readv");
  }
}

Result<std::optional<size_t>> Tap::writev(std::span<const iovec> iov) {
  for (;;) {
    const ssize_t n = ::writev(fd_.get(), iov.data(), static_cast<int>(iov.size()));
    if (n >= 0) return std::optional<size_t>(static_cast<size_t>(n));
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return std::optional<size_t>();
    return error("writev");
  }
}

}  // namespace tandem::net
