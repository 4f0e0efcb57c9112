// Unit tests for base/: Result, UniqueFd, little-endian accessors, eventfd signalling, worker threads,
// owner-only listeners and who may connect to them.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <string>
#include <thread>

#include "base/eventfd.h"
#include "base/le.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "base/worker_thread.h"
#include "tests/unit/skip.h"

using namespace tandem;

namespace {
Result<int> half(int v) {
  if (v % 2) return Error{"half: odd value " + std::to_string(v)};
  return v / 2;
}
Result<int> quarter(int v) {
  auto h = half(v);
  if (!h) return with_context(h, "quarter");
  return half(*h);
}
Status check(int v) {
  TANDEM_TRY(half(v));
  return {};
}
}  // namespace

TEST_CASE("Result carries a value or an error with context") {
  CHECK(half(4).value() == 2);
  CHECK_FALSE(half(3).ok());
  CHECK(half(3).message() == "half: odd value 3");
  CHECK(quarter(8).value() == 2);
  CHECK(quarter(6).message() == "half: odd value 3");
  CHECK(quarter(5).message() == "quarter: half: odd value 5");
  CHECK(check(2).ok());
  CHECK(check(1).message() == "half: odd value 1");
}

TEST_CASE("UniqueFd closes what it owns exactly once") {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(raw >= 0);
  {
    UniqueFd fd(raw);
    CHECK(fd.valid());
    UniqueFd moved(std::move(fd));
    CHECK_FALSE(fd.valid());
    CHECK(moved.get() == raw);
    CHECK(fcntl(raw, F_GETFD) >= 0);
  }
  CHECK(fcntl(raw, F_GETFD) == -1);  // closed by the destructor
  UniqueFd released(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int kept = released.release();
  CHECK(fcntl(kept, F_GETFD) >= 0);
  UniqueFd again(kept);
}

TEST_CASE("signal_eventfd adds one per call; no eventfd and a full counter are ignored") {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  REQUIRE(fd);
  signal_eventfd(fd.get());
  signal_eventfd(fd.get());
  uint64_t v = 0;
  REQUIRE(::read(fd.get(), &v, sizeof v) == static_cast<ssize_t>(sizeof v));
  CHECK(v == 2);
  signal_eventfd(-1);  // no eventfd: nothing to do
  uint64_t almost_full = 0xfffffffffffffffeULL;
  REQUIRE(::write(fd.get(), &almost_full, sizeof almost_full) == static_cast<ssize_t>(sizeof almost_full));
  signal_eventfd(fd.get());  // would overflow: EAGAIN, ignored
  REQUIRE(::read(fd.get(), &v, sizeof v) == static_cast<ssize_t>(sizeof v));
  CHECK(v == almost_full);
}

TEST_CASE("drain_eventfd empties the counter; an empty one and no eventfd are ignored") {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  REQUIRE(fd);
  signal_eventfd(fd.get());
  signal_eventfd(fd.get());
  drain_eventfd(fd.get());
  uint64_t v = 0;
  CHECK(::read(fd.get(), &v, sizeof v) < 0);  // nothing left: EAGAIN
  CHECK(errno == EAGAIN);
  drain_eventfd(fd.get());  // already empty: EAGAIN, ignored
  drain_eventfd(-1);
  signal_eventfd(fd.get());
  REQUIRE(::read(fd.get(), &v, sizeof v) == static_cast<ssize_t>(sizeof v));
  CHECK(v == 1);
}

TEST_CASE("little-endian loads and stores are bounds-checked") {
  std::array<uint8_t, 6> buf{0x78, 0x56, 0x34, 0x12, 0xaa, 0xbb};
  CHECK(load_le<uint32_t>(buf, 0).value() == 0x12345678u);
  CHECK(load_le<uint16_t>(buf, 4).value() == 0xbbaau);
  CHECK_FALSE(load_le<uint32_t>(buf, 3).has_value());
  CHECK_FALSE(load_le<uint64_t>(buf, 0).has_value());
  CHECK_FALSE(load_le<uint8_t>(buf, SIZE_MAX).has_value());
  CHECK(store_le<uint16_t>(buf, 0, 0xbeef));
  CHECK(buf[0] == 0xef);
  CHECK(buf[1] == 0xbe);
  CHECK_FALSE(store_le<uint32_t>(buf, 4, 1));
  CHECK(buf[4] == 0xaa);  // a refused store writes nothing
  std::array<uint8_t, 2> reg{};
  u64_to_le(0x1234abcd, reg);
  CHECK(le_to_u64(reg) == 0xabcd);
}

TEST_CASE("unix_address takes paths up to 107 bytes, and says why it refuses others") {
  using tandem::unix_address;
  auto ok = unix_address(std::string(107, 'a'));
  REQUIRE(ok.ok());
  CHECK(ok->sun_family == AF_UNIX);
  CHECK(std::string(ok->sun_path) == std::string(107, 'a'));
  CHECK(unix_address(std::string(108, 'a')).message() == "socket path \"" + std::string(108, 'a') + "\" is empty or longer than 107 bytes");
  CHECK(unix_address("").message() == "socket path \"\" is empty or longer than 107 bytes");
}

namespace {
std::atomic<int> g_hook_runs{0};
void count_hook() { g_hook_runs.fetch_add(1); }
// begin_worker_thread(name) on a thread of its own; returns the name the thread got.
std::string worker_name(const char* name) {
  char got[32] = {};
  std::thread([&] {
    begin_worker_thread(name);
    pthread_getname_np(pthread_self(), got, sizeof got);
  }).join();
  return got;
}
}  // namespace

TEST_CASE("a worker thread is named and runs the VMM's hook; without a hook it only gets its name") {
  set_worker_thread_hook(nullptr);
  g_hook_runs = 0;
  CHECK(worker_name("vhost-pci") == "vhost-pci");
  CHECK(g_hook_runs == 0);
  set_worker_thread_hook(count_hook);
  CHECK(worker_name("net-tap") == "net-tap");
  CHECK(worker_name("a-name-longer-than-fifteen") == "a-name-longer-t");  // the kernel keeps 15
  CHECK(g_hook_runs == 2);
  set_worker_thread_hook(nullptr);
}

namespace {
std::string temp_dir() {
  char t[] = "/tmp/tandem-base-test.XXXXXX";
  REQUIRE(::mkdtemp(t) != nullptr);
  return t;
}
}  // namespace

TEST_CASE("listen_private: mode 0600; a dead socket is replaced; a live one or a regular file is refused and left alone") {
  const std::string dir = temp_dir(), path = dir + "/s.sock", file = dir + "/notes.txt";
  {
    auto fd = listen_private(path, 4);
    REQUIRE_MESSAGE(fd.ok(), fd.message());
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto live = listen_private(path, 4);
    REQUIRE_FALSE(live.ok());
    CHECK(live.message().find("is in use by another process") != std::string::npos);
  }
  // The listener above is closed but its path stays: a dead socket, taken over.
  CHECK(listen_private(path, 4).ok());
  ::unlink(path.c_str());

  // A mistyped socket path that names a file: refused, the file untouched.
  UniqueFd f(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  REQUIRE(f.valid());
  REQUIRE(::write(f.get(), "keep me", 7) == 7);
  auto onto_file = listen_private(file, 4);
  REQUIRE_FALSE(onto_file.ok());
  CHECK(onto_file.message().find("is not a socket") != std::string::npos);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(st.st_size == 7);
  ::unlink(file.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("check_peer: the same uid is let in; another uid only by peer_uid= or peer_gid=") {
  if (::geteuid() != 0) TANDEM_SKIP("needs root to connect as another uid");
  const std::string dir = temp_dir(), path = dir + "/s.sock";
  auto fd = listen_private(path, 4);
  REQUIRE(fd.ok());
  REQUIRE(::chmod(dir.c_str(), 0711) == 0);   // past the directory's and the file's modes, to reach
  REQUIRE(::chmod(path.c_str(), 0666) == 0);  // the credential check
  // connect_as(uid, gid): a child that connects as that user and waits to be closed.
  auto connect_as = [&](uid_t uid, gid_t gid) {
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      if (::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0) ::_exit(2);
      auto address = unix_address(path);
      int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
      if (::connect(s, reinterpret_cast<const sockaddr*>(&*address), sizeof *address) != 0) ::_exit(3);
      char c;
      ssize_t got = ::read(s, &c, 1);  // until the listener closes it
      (void)got;
      ::_exit(0);
    }
    pollfd p{fd->get(), POLLIN, 0};
    UniqueFd conn(::poll(&p, 1, 5000) == 1 ? ::accept4(fd->get(), nullptr, nullptr, SOCK_CLOEXEC) : -1);
    return std::pair{std::move(conn), child};
  };
  auto exit_code = [](pid_t child) {
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  };
  {
    // Can this process become another user at all (not inside a user namespace that maps only root)?
    pid_t probe = ::fork();
    REQUIRE(probe >= 0);
    if (probe == 0) ::_exit(::setresgid(65534, 65534, 65534) == 0 && ::setresuid(65534, 65534, 65534) == 0 ? 0 : 2);
    if (exit_code(probe) != 0) {
      ::unlink(path.c_str());
      ::rmdir(dir.c_str());
      TANDEM_SKIP("cannot switch to uid 65534 here (a user namespace that maps only root?)");
    }
  }
  auto done = [&](pid_t child) { CHECK(exit_code(child) == 0); };
  {
    auto [conn, child] = connect_as(0, 0);
    REQUIRE(conn.valid());
    CHECK(check_peer(conn.get(), PeerPolicy{}).ok());
    CHECK(check_peer(conn.get(), PeerPolicy{65534u, 65534u}).ok());  // another uid also, ours still
    conn.reset();
    done(child);
  }
  {
    auto [conn, child] = connect_as(65534, 65534);
    REQUIRE(conn.valid());
    auto refused = check_peer(conn.get(), PeerPolicy{});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.message().find("refused a connection from uid 65534 gid 65534") != std::string::npos);
    CHECK(refused.message().find("peer_uid=") != std::string::npos);
    CHECK(check_peer(conn.get(), PeerPolicy{65534u, std::nullopt}).ok());
    CHECK(check_peer(conn.get(), PeerPolicy{std::nullopt, 65534u}).ok());
    CHECK_FALSE(check_peer(conn.get(), PeerPolicy{1000u, 1000u}).ok());
    conn.reset();
    done(child);
  }
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}
