// devices/net/bridge.cc: bridge and persistent-tap management with ioctls.
#include "devices/net/bridge.h"

#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "base/unique_fd.h"
#include "devices/net/tap.h"

namespace tandem::net {

namespace {

Result<UniqueFd> control_socket() {
  UniqueFd s(::socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return errno_error("socket(AF_LOCAL) for interface ioctls");
  return s;
}

ifreq request_for(const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), sizeof ifr.ifr_name - 1));
  return ifr;
}

Status set_up(int sock, const std::string& name, bool up) {
  ifreq ifr = request_for(name);
  if (::ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) return errno_error("interface '" + name + "': SIOCGIFFLAGS");
  ifr.ifr_flags = static_cast<short>(up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP));
  if (::ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) return errno_error("interface '" + name + "': SIOCSIFFLAGS");
  return {};
}

// The driver behind an interface (ETHTOOL_GDRVINFO: "bridge", "tun", ...); follows this process's
// network namespace, unlike /sys/class/net.
std::string driver_of(int sock, const std::string& name) {
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifreq ifr = request_for(name);
  ifr.ifr_data = reinterpret_cast<char*>(&info);
  if (::ioctl(sock, SIOCETHTOOL, &ifr) < 0) return "";
  return std::string(info.driver, strnlen(info.driver, sizeof info.driver));
}

// Opens tap `name` (creating it when absent, with Tap::open's flags) and sets or clears its
// persistence.
Status set_persist(const std::string& name, bool persist) {
  auto tap = Tap::open(name);
  if (!tap) return tap.error();
  if (::ioctl(tap->fd(), TUNSETPERSIST, persist ? 1UL : 0UL) < 0) return errno_error("tap '" + name + "': TUNSETPERSIST");
  return {};
}

}  // namespace

std::string interface_driver(const std::string& name) {
  auto sock = control_socket();
  return sock ? driver_of(sock->get(), name) : "";
}

bool interface_exists(const std::string& name) { return if_nametoindex(name.c_str()) != 0; }

Result<bool> ensure_bridge(const std::string& name) {
  TANDEM_TRY(validate_ifname(name));
  auto sock = control_socket();
  if (!sock) return sock.error();
  bool created = false;
  if (interface_exists(name)) {
    if (driver_of(sock->get(), name) != "bridge") return Error{"interface '" + name + "' exists and is not a bridge"};
  } else {
    char buf[IFNAMSIZ] = {};
    std::memcpy(buf, name.data(), name.size());
    if (::ioctl(sock->get(), SIOCBRADDBR, buf) < 0) {
      return Error{errno_error("bridge '" + name + "': SIOCBRADDBR").message +
                   (errno == EPERM ? " (creating a bridge needs CAP_NET_ADMIN)" : "")};
    }
    created = true;
  }
  if (auto s = set_up(sock->get(), name, true); !s) {
    if (created) (void)delete_bridge(name);
    return s.error();
  }
  return created;
}

Status delete_bridge(const std::string& name) {
  auto sock = control_socket();
  if (!sock) return sock.error();
  (void)set_up(sock->get(), name, false);
  char buf[IFNAMSIZ] = {};
  std::memcpy(buf, name.data(), std::min(name.size(), sizeof buf - 1));
  if (::ioctl(sock->get(), SIOCBRDELBR, buf) < 0) return errno_error("bridge '" + name + "': SIOCBRDELBR");
  return {};
}

Status create_bridge_port(const std::string& bridge, const std::string& tap) {
  TANDEM_TRY(validate_ifname(tap));
  if (interface_exists(tap)) return Error{"tap '" + tap + "' exists already (left from another run? 'ip link del " + tap + "')"};
  TANDEM_TRY(set_persist(tap, true));
  auto fail = [&](Error e) -> Status {
    (void)delete_tap(tap);
    return e;
  };
  auto sock = control_socket();
  if (!sock) return fail(sock.error());
  ifreq ifr = request_for(bridge);
  ifr.ifr_ifindex = static_cast<int>(if_nametoindex(tap.c_str()));
  if (ifr.ifr_ifindex == 0) return fail(errno_error("tap '" + tap + "': if_nametoindex"));
  if (::ioctl(sock->get(), SIOCBRADDIF, &ifr) < 0) return fail(errno_error("bridge '" + bridge + "': SIOCBRADDIF " + tap));
  if (auto s = set_up(sock->get(), tap, true); !s) return fail(s.error());
  return {};
}

Status delete_tap(const std::string& tap) { return set_persist(tap, false); }

}  // namespace tandem::net
