// devices/vhost_user/connection.h: one vhost-user Unix stream socket, message by message.
//
// send() writes a whole message (header + payload) with its fds in SCM_RIGHTS, never raising SIGPIPE
// (MSG_NOSIGNAL). receive() reads exactly one message: the 12-byte header, then, once the announced
// size was checked against kMaxPayloadSize, exactly that many payload bytes; fds arrive close-on-exec
// into UniqueFds, at most kMaxFds of them (more is an error, and every fd received is closed). Short
// reads/writes and EINTR are handled; a peer that closes gives "peer closed the connection"; with a
// timeout, a peer that stays silent gives an Error instead of a hang. After an error mid-message the
// stream is out of step: the owner should drop the connection.
//
// Listener is the back-end's side: a listening socket on a path, accept() with an optional timeout.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "devices/vhost_user/protocol.h"

namespace tandem::vhost_user {

using Timeout = std::optional<std::chrono::milliseconds>;  // nullopt: wait for ever

class Connection {
 public:
  explicit Connection(UniqueFd socket) : fd_(std::move(socket)) {}

  // Connects to a back-end listening on `path`.
  static Result<Connection> connect(const std::string& path);
  // Two connected ends (in-process peers, tests).
  static Result<std::pair<Connection, Connection>> pair();

  // Sends `bytes` (one encoded message) with `fds` attached to its first byte.
  Status send(std::span<const uint8_t> bytes, std::span<const int> fds = {}, Timeout timeout = std::nullopt);
  // Receives one whole message.
  Result<RawMessage> receive(Timeout timeout = std::nullopt);
  // Reads exactly bytes.size() bytes of another framing (the symmetric vhost-pci link), adding the
  // fds that come with them to `fds` (at most kMaxFds in all).
  Status read_exact(std::span<uint8_t> bytes, std::vector<UniqueFd>& fds, Timeout timeout = std::nullopt);

  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

class Listener {
 public:
  // Listens on `path`, mode 0600 (base/unix_socket.h: a dead socket there is replaced; a live one,
  // or a file that is not a socket, is an error). accept() lets in only peers `peers` allows
  // (by default the same uid as ours).
  static Result<Listener> bind(const std::string& path, PeerPolicy peers = {});
  ~Listener();  // removes the socket path
  Listener(Listener&&) = default;
  Listener& operator=(Listener&&) = delete;

  // The next connection. A peer the policy refuses is closed at once and comes back as an error
  // that names it (the caller logs it and accepts again).
  Result<Connection> accept(Timeout timeout = std::nullopt);
  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }

 private:
  Listener(UniqueFd fd, std::string path, PeerPolicy peers) : fd_(std::move(fd)), path_(std::move(path)), peers_(peers) {}
  UniqueFd fd_;
  std::string path_;
  PeerPolicy peers_;
};

}  // namespace tandem::vhost_user
