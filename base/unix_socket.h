// base/unix_socket.h: Unix stream sockets on paths, with the rules every listener of tandem follows
// in one place: the path-length rule (sun_path holds 107 bytes and the terminating NUL), taking a
// path over only from a dead socket (never a regular file, never a live listener), binding owner-
// only (0600), and who may connect (SO_PEERCRED: the same uid unless told otherwise).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace tandem {

inline constexpr size_t kUnixPathMax = sizeof(sockaddr_un::sun_path) - 1;

// The sockaddr_un for `path`, or an error when it is empty or too long for sun_path.
inline Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() > kUnixPathMax) {
    return Error{"socket path \"" + path + "\" is empty or longer than " + std::to_string(kUnixPathMax) + " bytes"};
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Makes `path` free for a new listener: nothing there is fine; a socket nobody listens on any more
// (left by a process that died) is removed; a live socket, or anything that is not a socket (a
// mistyped path must never delete a file), is an error that says which.
Status claim_socket_path(const std::string& path);

// A listening socket on `path` with mode 0600 from the moment it exists (never connectable by group
// or others, not even briefly; the process's umask is left alone). When the path is taken,
// claim_socket_path decides: a dead socket is replaced, anything else is an error.
Result<UniqueFd> listen_private(const std::string& path, int backlog);

// Who may connect to a listener: always the uid tandem runs as (`self`, looked up where the policy
// is made: device threads may not call geteuid under their sandbox); also `uid`, and/or any peer
// whose primary gid is `gid`.
struct PeerPolicy {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  uid_t self = ::geteuid();
};
struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
// The connected peer's credentials (SO_PEERCRED).
Result<PeerCred> peer_credentials(int fd);
// Ok when `policy` lets the peer of `fd` in; otherwise an error naming the peer and the options.
Status check_peer(int fd, const PeerPolicy& policy);

}  // namespace tandem
