// Unit tests for devices/vhost_user/connection: whole messages with fds over real Unix sockets,
// short reads, oversized announcements, fd floods, silent and vanished peers (an Error, never a hang
// or SIGPIPE), and the listening side in a temp directory.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "devices/vhost_user/connection.h"

using namespace tandem;
using namespace tandem::vhost_user;
using namespace std::chrono_literals;

namespace {

std::pair<Connection, Connection> connected_pair() {
  auto p = Connection::pair();
  REQUIRE(p.ok());
  return std::move(p).value();
}

std::vector<uint8_t> message(Request r, const Payload& p) {
  auto bytes = encode_request(r, p);
  REQUIRE(bytes.ok());
  return std::move(bytes).value();
}

// sendmsg with any number of fds, bypassing Connection's own limit (a hostile peer).
void raw_send(int sock, std::span<const uint8_t> bytes, const std::vector<int>& fds) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  std::vector<unsigned char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  REQUIRE(::sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
}

int open_fd_count() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd)
    if (::fcntl(fd, F_GETFD) != -1) ++n;
  return n;
}

std::string temp_dir() {
  char tmpl[] = "/tmp/tandem-vhost-user-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

}  // namespace

TEST_CASE("a message and its fds arrive whole; the fds are the sender's files, close-on-exec") {
  auto [a, b] = connected_pair();
  UniqueFd kick(::eventfd(0, EFD_CLOEXEC));
  REQUIRE(kick.valid());
  int fds[] = {kick.get()};
  auto bytes = message(Request::kSetVringKick, VringFile{1, false});
  REQUIRE(a.send(bytes, fds).ok());
  auto raw = b.receive(1s);
  REQUIRE(raw.ok());
  CHECK(raw->header == Header{12, kVersion, 8});
  REQUIRE(raw->fds.size() == 1);
  CHECK(raw->fds[0].get() != kick.get());
  CHECK((::fcntl(raw->fds[0].get(), F_GETFD) & FD_CLOEXEC) != 0);
  uint64_t v = 5;
  REQUIRE(::write(kick.get(), &v, 8) == 8);
  uint64_t got = 0;
  REQUIRE(::read(raw->fds[0].get(), &got, 8) == 8);
  CHECK(got == 5);
  auto m = decode_request(std::move(raw).value());
  REQUIRE(m.ok());
  CHECK(std::get<VringFile>(m->payload) == VringFile{1, false});
}

TEST_CASE("back-to-back messages are split at their boundaries, each with its own fds") {
  auto [a, b] = connected_pair();
  UniqueFd e1(::eventfd(0, EFD_CLOEXEC)), e2(::eventfd(0, EFD_CLOEXEC));
  int f1[] = {e1.get()};
  int f2[] = {e2.get(), e1.get()};
  REQUIRE(a.send(message(Request::kSetVringNum, VringState{0, 256})).ok());
  REQUIRE(a.send(message(Request::kSetVringCall, VringFile{0, false}), f1).ok());
  REQUIRE(a.send(message(Request::kSetOwner, {}), f2).ok());
  REQUIRE(a.send(message(Request::kGetFeatures, {})).ok());
  auto m1 = b.receive(1s);
  auto m2 = b.receive(1s);
  auto m3 = b.receive(1s);
  auto m4 = b.receive(1s);
  REQUIRE((m1.ok() && m2.ok() && m3.ok() && m4.ok()));
  CHECK(m1->header.request == 8);
  CHECK(m1->fds.empty());
  CHECK(m2->header.request == 13);
  CHECK(m2->fds.size() == 1);
  CHECK(m3->header.request == 3);
  CHECK(m3->fds.size() == 2);
  CHECK(m4->header.request == 1);
  CHECK(m4->fds.empty());
}

TEST_CASE("a message trickling in byte by byte is reassembled (short reads)") {
  auto [a, b] = connected_pair();
  auto bytes = message(Request::kSetVringAddr, VringAddress{0, 0, 0x1000, 0x3000, 0x2000, 0});
  std::thread writer([&, sock = a.fd()] {
    for (uint8_t byte : bytes) {
      REQUIRE(::send(sock, &byte, 1, MSG_NOSIGNAL) == 1);
      std::this_thread::sleep_for(1ms);
    }
  });
  auto raw = b.receive(5s);
  writer.join();
  REQUIRE(raw.ok());
  CHECK(raw->header.size == 40);
  auto m = decode_request(std::move(raw).value());
  REQUIRE(m.ok());
  CHECK(std::get<VringAddress>(m->payload).used == 0x3000);
}

TEST_CASE("a peer that closes gives an Error, before and in the middle of a message") {
  {
    auto [a, b] = connected_pair();
    { Connection gone = std::move(a); }
    auto r = b.receive(1s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.message() == "peer closed the connection");
  }
  {
    auto [a, b] = connected_pair();
    auto bytes = message(Request::kSetVringNum, VringState{0, 8});
    REQUIRE(::send(a.fd(), bytes.data(), 5, MSG_NOSIGNAL) == 5);  // part of the header
    { Connection gone = std::move(a); }
    CHECK(b.receive(1s).message() == "peer closed the connection in the middle of a message");
  }
  {
    auto [a, b] = connected_pair();
    auto bytes = message(Request::kSetVringNum, VringState{0, 8});
    REQUIRE(::send(a.fd(), bytes.data(), 14, MSG_NOSIGNAL) == 14);  // header and part of the payload
    { Connection gone = std::move(a); }
    CHECK(b.receive(1s).message() == "peer closed the connection in the middle of a message");
  }
}

TEST_CASE("sending to a vanished peer is an Error, not SIGPIPE") {
  auto [a, b] = connected_pair();
  { Connection gone = std::move(b); }
  auto s = a.send(message(Request::kSetOwner, {}));
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "peer closed the connection");
}

TEST_CASE("a silent peer times out; no timeout waits until data comes") {
  auto [a, b] = connected_pair();
  auto start = std::chrono::steady_clock::now();
  auto r = b.receive(50ms);
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "no message from the peer within 50 ms");
  CHECK(took >= 50ms);
  CHECK(took < 2s);

  // Half a message, then silence: the rest must come within the same deadline.
  auto bytes = message(Request::kSetVringNum, VringState{0, 8});
  REQUIRE(::send(a.fd(), bytes.data(), 14, MSG_NOSIGNAL) == 14);
  CHECK(b.receive(50ms).message() == "no rest of the message within 50 ms");

  auto [c, d] = connected_pair();
  std::thread late([&] {
    std::this_thread::sleep_for(50ms);
    REQUIRE(c.send(message(Request::kSetOwner, {})).ok());
  });
  auto waited = d.receive();
  late.join();
  CHECK(waited.ok());
}

TEST_CASE("an announced payload over the limit is refused before it is read") {
  auto [a, b] = connected_pair();
  auto h = encode_header({5, kVersion, 1u << 30});
  REQUIRE(::send(a.fd(), h.data(), h.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(h.size()));
  auto r = b.receive(1s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "a message (SET_MEM_TABLE) announces 1073741824 payload bytes, more than 4096");
}

TEST_CASE("more than 8 fds with one message is refused and none of them leaks") {
  auto [a, b] = connected_pair();
  std::vector<UniqueFd> owned;
  std::vector<int> fds;
  for (int i = 0; i < 12; ++i) {
    owned.emplace_back(::eventfd(0, EFD_CLOEXEC));
    fds.push_back(owned.back().get());
  }
  int before = open_fd_count();
  raw_send(a.fd(), message(Request::kSetOwner, {}), fds);
  auto r = b.receive(1s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "the peer sent more than 8 fds with one message");
  CHECK(open_fd_count() == before);

  int nine[9];
  for (int i = 0; i < 9; ++i) nine[i] = fds[i];
  CHECK(a.send(message(Request::kSetOwner, {}), nine).message() == "vhost-user send: 9 fds, at most 8");
}

TEST_CASE("Listener: bind, accept with timeout, connect, remove the path") {
  std::string dir = temp_dir();
  std::string path = dir + "/backend.sock";
  {
    auto listener = Listener::bind(path);
    REQUIRE(listener.ok());
    struct stat st;
    CHECK(::stat(path.c_str(), &st) == 0);
    CHECK(listener->accept(30ms).message() == "no connection within 30 ms");

    auto again = Listener::bind(path);  // in use: refused, and the path stays ours
    REQUIRE_FALSE(again.ok());
    CHECK(again.message().find("is in use by another process") != std::string::npos);
    CHECK(listener->accept(1s).ok());  // the probe that found it live: a connection that ends at once

    auto client = Connection::connect(path);
    REQUIRE(client.ok());
    auto server = listener->accept(1s);
    REQUIRE(server.ok());
    REQUIRE(client->send(message(Request::kGetFeatures, {})).ok());
    auto raw = server->receive(1s);
    REQUIRE(raw.ok());
    CHECK(raw->header.request == 1);
  }
  struct stat st;
  CHECK(::stat(path.c_str(), &st) != 0);  // removed with the listener
  auto none = Connection::connect(path);
  REQUIRE_FALSE(none.ok());
  CHECK(none.message().find("connect to vhost-user socket " + path) == 0);
  CHECK(Connection::connect(std::string(200, 'x')).message().find("longer than 107 bytes") != std::string::npos);
  ::rmdir(dir.c_str());
}
