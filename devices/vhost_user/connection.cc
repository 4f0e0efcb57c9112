// devices/vhost_user/connection.cc: sendmsg/recvmsg with SCM_RIGHTS, deadlines via poll.
#include "devices/vhost_user/connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "base/unix_socket.h"

namespace tandem::vhost_user {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kControlSize = CMSG_SPACE(sizeof(int) * kMaxFds);
const char kPeerClosed[] = "peer closed the connection";

class Deadline {
 public:
  explicit Deadline(Timeout t) : timeout_(t) {
    if (t) at_ = Clock::now() + *t;
  }
  int poll_ms() const {
    if (!at_) return -1;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(*at_ - Clock::now()).count();
    if (left <= 0) return 0;
    return left > INT_MAX ? INT_MAX : static_cast<int>(left);
  }
  std::string describe() const { return std::to_string(timeout_ ? timeout_->count() : 0) + " ms"; }

 private:
  Timeout timeout_;
  std::optional<Clock::time_point> at_;
};

// Waits until `fd` has one of `events`. `waiting_for` completes "no ... within N ms".
Status wait_for(int fd, short events, const Deadline& deadline, const char* waiting_for) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, deadline.poll_ms());
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_error("vhost-user poll");
    }
    if (r == 0) return Error{std::string("no ") + waiting_for + " within " + deadline.describe()};
    return {};
  }
}

// "vhost-user socket path ... is empty or longer than 107 bytes" when the path does not fit.
Result<sockaddr_un> vhost_user_address(const std::string& path) {
  auto a = unix_address(path);
  if (!a) return Error{"vhost-user " + a.message()};
  return a;
}

// Moves every SCM_RIGHTS fd of `msg` into `fds` (so each is closed if the message is refused).
void take_fds(msghdr& msg, std::vector<UniqueFd>& fds) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(c);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, data + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
}

// Reads exactly buf.size() bytes, collecting the fds that come with them.
Status read_exact(int fd, std::span<uint8_t> buf, std::vector<UniqueFd>& fds, const Deadline& deadline,
                  bool message_start) {
  size_t got = 0;
  while (got < buf.size()) {
    TANDEM_TRY(wait_for(fd, POLLIN, deadline, message_start && got == 0 ? "message from the peer" : "rest of the message"));
    iovec iov{buf.data() + got, buf.size() - got};
    alignas(cmsghdr) unsigned char control[kControlSize];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET) return Error{kPeerClosed};
      return errno_error("vhost-user recvmsg");
    }
    take_fds(msg, fds);
    if (msg.msg_flags & MSG_CTRUNC)
      return Error{"the peer sent more than " + std::to_string(kMaxFds) + " fds with one message"};
    if (fds.size() > kMaxFds)
      return Error{"the peer sent " + std::to_string(fds.size()) + " fds with one message, at most " + std::to_string(kMaxFds)};
    if (n == 0) return Error{message_start && got == 0 ? kPeerClosed : std::string(kPeerClosed) + " in the middle of a message"};
    got += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Result<Connection> Connection::connect(const std::string& path) {
  auto address = vhost_user_address(path);
  if (!address) return address.error();
  const sockaddr_un& addr = *address;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("vhost-user socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return errno_error("connect to vhost-user socket " + path);
  return Connection(std::move(fd));
}

Result<std::pair<Connection, Connection>> Connection::pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return errno_error("vhost-user socketpair");
  return std::pair<Connection, Connection>(Connection(UniqueFd(sv[0])), Connection(UniqueFd(sv[1])));
}

Status Connection::send(std::span<const uint8_t> bytes, std::span<const int> fds, Timeout timeout) {
  if (bytes.empty()) return Error{"vhost-user send: empty message"};
  if (fds.size() > kMaxFds)
    return Error{"vhost-user send: " + std::to_string(fds.size()) + " fds, at most " + std::to_string(kMaxFds)};
  Deadline deadline(timeout);
  size_t sent = 0;
  while (sent < bytes.size()) {
    iovec iov{const_cast<uint8_t*>(bytes.data() + sent), bytes.size() - sent};
    alignas(cmsghdr) unsigned char control[kControlSize] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (sent == 0 && !fds.empty()) {  // the fds ride on the first byte
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        TANDEM_TRY(wait_for(fd_.get(), POLLOUT, deadline, "room in the socket for the message"));
        continue;
      }
      if (errno == EPIPE || errno == ECONNRESET) return Error{kPeerClosed};
      return errno_error("vhost-user sendmsg");
    }
    sent += static_cast<size_t>(n);
  }
  return {};
}

Result<RawMessage> Connection::receive(Timeout timeout) {
  Deadline deadline(timeout);
  RawMessage raw;
  std::array<uint8_t, kHeaderSize> header;
  TANDEM_TRY(vhost_user::read_exact(fd_.get(), header, raw.fds, deadline, true));
  raw.header = decode_header(header);
  if (raw.header.size > kMaxPayloadSize)  // refused before reading: a flood cannot grow our buffer
    return Error{"a message (" + request_name(raw.header.request) + ") announces " + std::to_string(raw.header.size) +
                 " payload bytes, more than " + std::to_string(kMaxPayloadSize)};
  raw.payload.resize(raw.header.size);
  TANDEM_TRY(vhost_user::read_exact(fd_.get(), raw.payload, raw.fds, deadline, false));
  return raw;
}

Status Connection::read_exact(std::span<uint8_t> bytes, std::vector<UniqueFd>& fds, Timeout timeout) {
  Deadline deadline(timeout);
  return vhost_user::read_exact(fd_.get(), bytes, fds, deadline, true);
}

Listener::~Listener() {
  if (fd_) ::unlink(path_.c_str());
}

Result<Listener> Listener::bind(const std::string& path, PeerPolicy peers) {
  if (auto address = vhost_user_address(path); !address) return address.error();
  auto fd = listen_private(path, 4);
  if (!fd) return Error{"vhost-user socket: " + fd.message()};
  return Listener(std::move(fd).value(), path, peers);  // from here on the path is removed with the listener
}

Result<Connection> Listener::accept(Timeout timeout) {
  Deadline deadline(timeout);
  for (;;) {
    TANDEM_TRY(wait_for(fd_.get(), POLLIN, deadline, "connection"));
    int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      UniqueFd conn(fd);
      if (auto ok = check_peer(conn.get(), peers_); !ok) return Error{path_ + ": " + ok.message()};
      return Connection(std::move(conn));
    }
    if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
    return errno_error("accept on vhost-user socket " + path_);
  }
}

}  // namespace tandem::vhost_user
