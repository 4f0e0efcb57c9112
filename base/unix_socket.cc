// base/unix_socket.cc: taking over a socket path, owner-only listeners, peer credentials.
#include "base/unix_socket.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace tandem {

Status claim_socket_path(const std::string& path) {
  auto address = unix_address(path);
  if (!address) return address.error();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return errno_error(path);
  }
  if (!S_ISSOCK(st.st_mode)) return Error{path + " exists and is not a socket: tandem leaves it alone (check the socket path)"};
  // Someone still listening? Non-blocking, so a stuck listener cannot stall us; only "refused"
  // means nobody is there (EAGAIN is a live listener with a full backlog, EACCES someone else's).
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return errno_error("socket");
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof *address) == 0 || errno == EAGAIN ||
      errno == EINPROGRESS) {
    return Error{path + " is in use by another process"};
  }
  if (errno != ECONNREFUSED) return errno_error(path + ": cannot tell whether the existing socket is in use");
  if (::unlink(path.c_str()) != 0) return errno_error(path + ": cannot remove the stale socket");
  return {};
}

namespace {
// Owner-only from the start, without touching the process's umask (which the VMM's sandbox does not
// allow once it runs, and which other threads share): on Linux the file a Unix socket binds takes
// its mode from the socket's own inode, which fchmod sets.
int bind_owner_only(int fd, const sockaddr_un& address) {
  if (::fchmod(fd, 0600) != 0) return -1;
  return ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
}
}  // namespace

Result<UniqueFd> listen_private(const std::string& path, int backlog) {
  auto address = unix_address(path);
  if (!address) return address.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket for " + path);
  // Bound first: only a path that is taken is looked at (and a live listener there probed).
  int rc = bind_owner_only(fd.get(), *address);
  if (rc != 0 && errno == EADDRINUSE) {
    TANDEM_TRY(claim_socket_path(path));
    rc = bind_owner_only(fd.get(), *address);
  }
  if (rc != 0) return errno_error("bind " + path);
  if (::listen(fd.get(), backlog) != 0) {  // (no chmod of the path: it would follow a swapped-in symlink)
    Error e = errno_error("listen on " + path);
    ::unlink(path.c_str());
    return e;
  }
  return fd;
}

Result<PeerCred> peer_credentials(int fd) {
  ucred c{};
  socklen_t len = sizeof c;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return errno_error("SO_PEERCRED");
  return PeerCred{c.pid, c.uid, c.gid};
}

Status check_peer(int fd, const PeerPolicy& policy) {
  auto cred = peer_credentials(fd);
  if (!cred) return cred.error();
  const uid_t self = policy.self;
  if (cred->uid == self || (policy.uid && cred->uid == *policy.uid) || (policy.gid && cred->gid == *policy.gid)) return {};
  return Error{"refused a connection from uid " + std::to_string(cred->uid) + " gid " + std::to_string(cred->gid) + " (pid " +
               std::to_string(cred->pid) + "): only uid " + std::to_string(self) +
               (policy.uid ? " and uid " + std::to_string(*policy.uid) : std::string()) +
               (policy.gid ? " and gid " + std::to_string(*policy.gid) : std::string()) +
               " may connect (peer_uid=/peer_gid= let others in)"};
}

}  // namespace tandem
