// vmm/api/server_test.cc: the API server over a real Unix socket, with the blocking client: replies,
// errors, limits, many clients, clients that misbehave, notifications, the socket file's rules.
#include "vmm/api/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <filesystem>
#include <future>
#include <thread>

#include "vmm/api/client.h"

namespace tandem::api {

namespace {

using namespace std::chrono_literals;

std::string temp_dir() {
  char tmpl[] = "/tmp/tandem-api-test.XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

// A server on its own io thread, with vmm.ping and a method that throws.
struct Running {
  explicit Running(ServerOptions o = {}) : dir(temp_dir()), path(dir + "/api.sock") {
    auto s = Server::create(io, path, o);
    REQUIRE_MESSAGE(s.ok(), s.message());
    server = std::move(s).value();
    server->add_method("vmm.ping", [](const Json&) -> Reply { return Json{{"pong", true}}; });
    server->add_method("test.throw", [](const Json& p) -> Reply { return Json(p.at("missing").get<int>()); });
    server->add_method("test.echo", [](const Json& p) -> Reply { return p; });
    thread = std::thread([this] { io.run(); });
  }
  // Runs f on the io thread and waits for it.
  template <typename F>
  auto run(F f) {
    std::packaged_task<decltype(f())()> task(f);
    auto fut = task.get_future();
    asio::post(io, [&task] { task(); });
    return fut.get();
  }
  ~Running() {
    run([this] { server->close(); });
    guard.reset();
    io.stop();
    thread.join();
    server.reset();
    std::filesystem::remove_all(dir);
  }
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::string dir, path;
  std::unique_ptr<Server> server;
  std::thread thread;
};

// A raw connection for sending bytes the client would never send.
int raw_connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  path.copy(sa.sun_path, path.size());
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  return fd;
}
void send_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    done += static_cast<size_t>(n);
  }
}
std::string read_line(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

}  // namespace

TEST_CASE("a request gets its reply; an unknown method names the known ones") {
  Running r;
  auto c = Client::connect(r.path);
  REQUIRE(c.ok());
  auto rep = c->call("vmm.ping", Json::object(), 5s);
  REQUIRE(rep.ok());
  CHECK((*rep)["result"] == Json{{"pong", true}});
  auto bad = c->call("vm.nope", Json::object(), 5s);
  REQUIRE(bad.ok());
  CHECK((*bad)["error"]["code"] == code::kMethodNotFound);
  CHECK((*bad)["error"]["message"] == "method not found: \"vm.nope\" (known: events.subscribe, test.echo, test.throw, vmm.ping)");
  // A handler that throws is an internal error, and the server goes on.
  auto thr = c->call("test.throw", Json::object(), 5s);
  REQUIRE(thr.ok());
  CHECK((*thr)["error"]["code"] == code::kInternalError);
  CHECK((*c->call("vmm.ping", Json::object(), 5s))["result"]["pong"] == true);
}

TEST_CASE("the socket is owner-only; stale sockets are replaced, live ones and other files are not") {
  Running r;
  struct stat st {};
  REQUIRE(::stat(r.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  asio::io_context io2;
  auto twice = Server::create(io2, r.path);
  REQUIRE(!twice.ok());
  CHECK(twice.message() == "API socket: " + r.path + " is in use by another process");
  // The failed attempt left the live socket alone.
  auto still = Client::connect(r.path);
  REQUIRE(still.ok());
  CHECK(still->call("vmm.ping", Json::object(), 5s).ok());

  std::string dir = temp_dir();
  std::string stale = dir + "/stale.sock";
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    stale.copy(sa.sun_path, stale.size());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    ::close(fd);  // bound, never listened, closed: what a crashed VMM leaves
  }
  auto s = Server::create(io2, stale);
  CHECK_MESSAGE(s.ok(), s.message());
  std::string file = dir + "/plain";
  { std::FILE* f = std::fopen(file.c_str(), "w"); std::fclose(f); }
  auto p = Server::create(io2, file);
  REQUIRE(!p.ok());
  CHECK(p.message() == "API socket: " + file + " exists and is not a socket: tandem leaves it alone (check the socket path)");
  auto l = Server::create(io2, dir + "/" + std::string(120, 'x'));
  REQUIRE(!l.ok());
  CHECK(l.message().find("a Unix socket path has at most 107") != std::string::npos);
  s = Error{""};
  std::filesystem::remove_all(dir);
}

TEST_CASE("bad lines get error replies on the same connection, which stays usable") {
  Running r;
  int fd = raw_connect(r.path);
  send_all(fd, "garbage\n");
  CHECK(read_line(fd) == R"({"error":{"code":-32700,"message":"parse error: the line is not valid JSON"},"id":null,"jsonrpc":"2.0"})");
  send_all(fd, "[1,2]\n");
  CHECK(Json::parse(read_line(fd))["error"]["code"] == code::kInvalidRequest);
  send_all(fd, "\n   \r\n");  // blank lines: ignored
  send_all(fd, R"({"jsonrpc":"2.0","method":"vmm.ping"})" "\n");
  CHECK(Json::parse(read_line(fd))["error"]["code"] == code::kInvalidRequest);
  // Over 1 MiB without a newline: one error, the rest of that line skipped, then business as usual.
  std::string big = R"({"jsonrpc":"2.0","id":1,"method":"test.echo","params":{"x":")" + std::string(kMaxLineBytes + 10, 'a') + "\"}}\n";
  send_all(fd, big);
  Json e = Json::parse(read_line(fd));
  CHECK(e["error"]["code"] == code::kTooLarge);
  CHECK(e["error"]["message"] == "request line longer than 1048576 bytes; skipped up to its end");
  // Two requests in one write, one split across writes: replies in order.
  send_all(fd, R"({"jsonrpc":"2.0","id":2,"method":"vmm.ping"})" "\n" R"({"jsonrpc":"2.0","id":3,"meth)");
  send_all(fd, R"(od":"test.echo","params":{"k":"v"}})" "\n");
  CHECK(Json::parse(read_line(fd))["id"] == 2);
  Json three = Json::parse(read_line(fd));
  CHECK(three["id"] == 3);
  CHECK(three["result"] == Json{{"k", "v"}});
  ::close(fd);
}

TEST_CASE("a client that half-closes after its requests still gets every reply") {
  Running r;
  int fd = raw_connect(r.path);
  send_all(fd, R"({"jsonrpc":"2.0","id":1,"method":"vmm.ping"})" "\n" R"({"jsonrpc":"2.0","id":2,"method":"test.echo","params":{"a":1}})" "\n");
  REQUIRE(::shutdown(fd, SHUT_WR) == 0);
  CHECK(Json::parse(read_line(fd))["id"] == 1);
  CHECK(Json::parse(read_line(fd))["result"] == Json{{"a", 1}});
  char c;
  CHECK(::read(fd, &c, 1) == 0);  // then the server closes
  ::close(fd);
}

TEST_CASE("100 clients at once are all served; one over the limit is told and closed") {
  Running r;
  std::vector<std::future<bool>> done;
  for (int i = 0; i < 100; ++i) {
    done.push_back(std::async(std::launch::async, [&r, i] {
      auto c = Client::connect(r.path);
      if (!c.ok()) return false;
      auto rep = c->call("test.echo", Json{{"i", i}}, 20s);
      return rep.ok() && (*rep)["result"]["i"] == i;
    }));
  }
  int ok = 0;
  for (auto& f : done) ok += f.get() ? 1 : 0;
  CHECK(ok == 100);

  ServerOptions o;
  o.max_clients = 2;
  Running small(o);
  auto a = Client::connect(small.path), b = Client::connect(small.path);
  REQUIRE((a.ok() && b.ok()));
  REQUIRE(a->call("vmm.ping", Json::object(), 5s).ok());
  REQUIRE(b->call("vmm.ping", Json::object(), 5s).ok());
  int fd = raw_connect(small.path);
  Json refused = Json::parse(read_line(fd));
  CHECK(refused["error"]["code"] == code::kTooManyClients);
  char c;
  CHECK(::read(fd, &c, 1) == 0);  // closed
  ::close(fd);
  CHECK(a->call("vmm.ping", Json::object(), 5s).ok());
}

TEST_CASE("a client that disconnects mid-request is forgotten; the others are unaffected") {
  Running r;
  auto keep = Client::connect(r.path);
  REQUIRE(keep.ok());
  REQUIRE(keep->call("vmm.ping", Json::object(), 5s).ok());
  for (int i = 0; i < 20; ++i) {
    int fd = raw_connect(r.path);
    send_all(fd, R"({"jsonrpc":"2.0","id":1,"method":"vmm.pi)");
    ::close(fd);
    int fd2 = raw_connect(r.path);
    send_all(fd2, R"({"jsonrpc":"2.0","id":1,"method":"vmm.ping"})" "\n");
    ::close(fd2);  // gone before the reply
  }
  CHECK(keep->call("vmm.ping", Json::object(), 5s).ok());
  for (int i = 0; i < 100 && r.run([&] { return r.server->clients(); }) != 1; ++i) std::this_thread::sleep_for(10ms);
  CHECK(r.run([&] { return r.server->clients(); }) == 1);
}

TEST_CASE("notifications go to subscribers only; a subscriber that never reads is dropped") {
  ServerOptions o;
  o.max_queued_bytes = 256 * 1024;
  Running r(o);
  auto sub = Client::connect(r.path), other = Client::connect(r.path);
  REQUIRE((sub.ok() && other.ok()));
  auto s = sub->call("events.subscribe", Json::object(), 5s);
  REQUIRE(s.ok());
  CHECK((*s)["result"]["subscribed"] == true);
  auto bad = other->call("events.subscribe", Json{{"x", 1}}, 5s);
  CHECK((*bad)["error"]["code"] == code::kInvalidParams);
  r.run([&] { r.server->notify("peer.connected", Json{{"device", "vpci0"}}); });
  auto n = sub->next(5s);
  REQUIRE(n.ok());
  CHECK(*n == Json{{"jsonrpc", "2.0"}, {"method", "event"}, {"params", {{"event", "peer.connected"}, {"device", "vpci0"}}}});
  // The other client saw nothing: its next line is the reply to its next call.
  auto p = other->call("vmm.ping", Json::object(), 5s, [](const Json&) { FAIL("a notification reached a client that did not subscribe"); });
  CHECK(p.ok());

  // A subscriber that stops reading: once 256 KiB wait for it, it is disconnected, the rest go on.
  int lazy = raw_connect(r.path);
  send_all(lazy, R"({"jsonrpc":"2.0","id":1,"method":"events.subscribe"})" "\n");
  for (int i = 0; i < 100 && r.run([&] { return r.server->clients(); }) != 3; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(100ms);
  std::string blob(16 * 1024, 'z');
  for (int i = 0; i < 200; ++i) r.run([&] { r.server->notify("test.blob", Json{{"blob", blob}}); });
  for (int i = 0; i < 200 && r.run([&] { return r.server->clients(); }) > 2; ++i) std::this_thread::sleep_for(10ms);
  CHECK(r.run([&] { return r.server->clients(); }) <= 2);
  ::close(lazy);
  CHECK(other->call("vmm.ping", Json::object(), 5s).ok());
}

}  // namespace tandem::api
