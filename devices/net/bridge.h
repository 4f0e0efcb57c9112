// devices/net/bridge.h: Linux bridges and persistent taps on the host, for `tandem up`'s
// `bridge = "NAME"` backend (the bridge is created when missing; the tap is created, attached and
// brought up; both are removed again afterwards). Plain ioctls (SIOCBRADDBR, TUNSETPERSIST, ...):
// no `ip` or `brctl` processes. All need CAP_NET_ADMIN.
#pragma once

#include <string>

#include "base/result.h"

namespace tandem::net {

// Whether a network interface of this name exists.
bool interface_exists(const std::string& name);
// The kernel driver behind an interface ("bridge", "tun", ...), "" when there is none.
std::string interface_driver(const std::string& name);

// Creates bridge `name` unless it exists (then it must be a bridge) and brings it up. Returns true
// when it created it.
Result<bool> ensure_bridge(const std::string& name);
// Brings bridge `name` down and deletes it.
Status delete_bridge(const std::string& name);

// Creates the persistent tap `tap` (it must not exist yet), adds it to `bridge` and brings it up.
// On any error nothing is left behind.
Status create_bridge_port(const std::string& bridge, const std::string& tap);
// Removes a persistent tap created by create_bridge_port.
Status delete_tap(const std::string& tap);

}  // namespace tandem::net
