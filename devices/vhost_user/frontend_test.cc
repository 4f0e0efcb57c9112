// Unit tests for devices/vhost_user/frontend: the Frontend talks over a real Unix socket (a listening
// socket in a temp dir, or a socketpair) to a small back-end written here with the codec's own
// decode_request/encode_reply, a real protocol peer. Checked: the exact message sequence and flags,
// feature negotiation with and without protocol features and REPLY_ACK, the fds the back-end really
// gets (eventfds signal across, a memfd shows the front-end's bytes), failures answered by the
// back-end, hostile replies, a silent back-end, and a back-end that hangs up mid-conversation.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>
#include <thread>

#include "devices/vhost_user/frontend.h"
#include "devices/vhost_user/testing/fixtures.h"

using namespace tandem;
using namespace tandem::vhost_user;
using namespace tandem::vhost_user::testing;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kNetFeatures = (1ULL << 0) | (1ULL << 5) | (1ULL << 32);  // CSUM, MAC, VERSION_1

struct Received {
  Request request;
  uint32_t flags;
  Payload payload;
  std::vector<UniqueFd> fds;
  bool need_reply() const { return (flags & kFlagNeedReply) != 0; }
};

struct Script {
  uint64_t features = kNetFeatures | kFeatureProtocolFeatures;
  uint64_t protocol_features = protocol_feature::kReplyAck | protocol_feature::kMq | protocol_feature::kConfig;
  uint64_t queue_num = 2;
  std::map<Request, uint64_t> answer;    // REPLY_ACK answer per request (default 0)
  std::optional<Request> hang_up_on;     // close the socket when this request arrives
  std::optional<Request> ignore;         // never answer this request
  // Handles a message itself (sends whatever it likes) when it returns true.
  std::function<bool(Connection&, const Message&)> hook;
};

// A vhost-user back-end on its own thread: decodes every request with decode_request, logs it, and
// answers with encode_reply. It ends when the front-end goes away (or on hang_up_on).
class TestBackend {
 public:
  explicit TestBackend(Script script) : script_(std::move(script)) {
    char tmpl[] = "/tmp/tandem-vhost-user-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/backend.sock";
    auto listener = Listener::bind(path_);
    REQUIRE(listener.ok());
    listener_.emplace(std::move(listener).value());
    thread_ = std::thread([this] {
      auto conn = listener_->accept(5s);
      if (!conn.ok()) {
        end_ = conn.message();
        return;
      }
      serve(*conn);
    });
  }
  // Serves an already connected socket instead of listening.
  TestBackend(Script script, Connection conn) : script_(std::move(script)) {
    thread_ = std::thread([this, c = std::move(conn)]() mutable { serve(c); });
  }
  ~TestBackend() {
    join();
    listener_.reset();
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }

  void join() {
    if (thread_.joinable()) thread_.join();
  }
  const std::string& path() const { return path_; }
  // Valid after join().
  std::vector<Received>& log() { return log_; }
  const std::string& end() const { return end_; }
  std::vector<Request> requests() const {
    std::vector<Request> r;
    for (const auto& m : log_) r.push_back(m.request);
    return r;
  }
  const Received& first(Request r) const {
    for (const auto& m : log_)
      if (m.request == r) return m;
    FAIL("no " << request_name(r) << " received");
    return log_.front();
  }

 private:
  void serve(Connection& conn) {
    for (;;) {
      auto raw = conn.receive(10s);
      if (!raw.ok()) {
        end_ = raw.message();
        return;
      }
      auto m = decode_request(std::move(raw).value());
      if (!m.ok()) {
        end_ = "decode: " + m.message();
        return;
      }
      if (script_.hang_up_on == m->request) {
        log_.push_back({m->request, m->flags, m->payload, std::move(m->fds)});
        end_ = "hung up";
        return;
      }
      bool handled = script_.hook && script_.hook(conn, *m);
      if (!handled && script_.ignore != m->request) reply(conn, *m);
      log_.push_back({m->request, m->flags, m->payload, std::move(m->fds)});
    }
  }

  void reply(Connection& conn, const Message& m) {
    Payload answer;
    switch (m.request) {
      case Request::kGetFeatures: answer = script_.features; break;
      case Request::kGetProtocolFeatures: answer = script_.protocol_features; break;
      case Request::kGetQueueNum: answer = script_.queue_num; break;
      case Request::kGetVringBase: {
        auto s = std::get<VringState>(m.payload);
        answer = VringState{s.index, 42 + s.index};
        break;
      }
      default:
        if (!m.need_reply()) return;
        answer = script_.answer.count(m.request) ? script_.answer[m.request] : uint64_t{0};
    }
    auto bytes = encode_reply(m.request, answer);
    CHECK(bytes.ok());
    if (bytes.ok()) CHECK(conn.send(*bytes).ok());
  }

  Script script_;
  std::string dir_, path_;
  std::optional<Listener> listener_;
  std::thread thread_;
  std::vector<Received> log_;
  std::string end_;
};

std::unique_ptr<Frontend> connect(const TestBackend& backend, std::chrono::milliseconds timeout = 2s) {
  auto f = Frontend::connect(backend.path(), timeout);
  REQUIRE(f.ok());
  return std::move(f).value();
}



}  // namespace

TEST_CASE("a virtio-net bring-up with REPLY_ACK: exact sequence, flags, payloads and real fds") {
  TestBackend backend(Script{});
  Ram ram(2 * 0x10000);
  std::memcpy(ram.base + 0x10000, "tandem", 6);
  UniqueFd kick0 = make_eventfd(), call0 = make_eventfd(), kick1 = make_eventfd(), call1 = make_eventfd();
  std::string name;
  {
    auto f = connect(backend);
    name = f->name();
    CHECK(f->reply_ack());
    CHECK(f->protocol_features() == (protocol_feature::kReplyAck | protocol_feature::kMq));
    REQUIRE(f->set_owner().ok());
    auto features = f->get_features();
    REQUIRE(features.ok());
    CHECK(*features == kNetFeatures);  // bit 30 is the transport's
    REQUIRE(f->set_features(kNetFeatures).ok());
    auto queues = f->get_queue_num();
    REQUIRE(queues.ok());
    CHECK(*queues == 2);
    vhost::MemoryRegion regions[] = {
        {0, 0x10000, ram.addr(), ram.fd.get(), 0},
        {0x100000000, 0x10000, ram.addr() + 0x10000, ram.fd.get(), 0x10000},
    };
    REQUIRE(f->set_mem_table(regions).ok());
    UniqueFd* kicks[] = {&kick0, &kick1};
    UniqueFd* calls[] = {&call0, &call1};
    for (uint32_t q = 0; q < 2; ++q) {
      REQUIRE(f->set_vring_num(q, 256).ok());
      REQUIRE(f->set_vring_base(q, 0).ok());
      uint64_t ring = ram.addr() + 0x1000 * (q + 1);
      REQUIRE(f->set_vring_addr(q, {ring, ring + 0x800, ring + 0xc00, 0, 0}).ok());
      REQUIRE(f->set_vring_kick(q, kicks[q]->get()).ok());
      REQUIRE(f->set_vring_call(q, calls[q]->get()).ok());
      REQUIRE(f->set_vring_enable(q, true).ok());
    }
    auto base = f->get_vring_base(1);
    REQUIRE(base.ok());
    CHECK(*base == 43);
  }
  backend.join();
  CHECK(backend.end() == "peer closed the connection");
  CHECK(name == "vhost-user " + backend.path());

  using R = Request;
  std::vector<Request> want = {R::kGetFeatures, R::kGetProtocolFeatures, R::kSetProtocolFeatures, R::kSetOwner,
                               R::kGetFeatures, R::kSetFeatures, R::kGetQueueNum, R::kSetMemTable};
  for (int q = 0; q < 2; ++q)
    for (R r : {R::kSetVringNum, R::kSetVringBase, R::kSetVringAddr, R::kSetVringKick, R::kSetVringCall, R::kSetVringEnable})
      want.push_back(r);
  want.push_back(R::kGetVringBase);
  CHECK(backend.requests() == want);

  // NEED_REPLY on every request without a reply of its own, once REPLY_ACK was negotiated.
  for (const auto& m : backend.log()) {
    CAPTURE(request_name(m.request));
    bool acked_phase = m.request != R::kSetProtocolFeatures && m.request != R::kGetProtocolFeatures &&
                       &m != &backend.log()[0];
    CHECK(m.need_reply() == (acked_phase && !has_own_reply(m.request)));
  }
  CHECK(std::get<uint64_t>(backend.first(R::kSetProtocolFeatures).payload) ==
        (protocol_feature::kReplyAck | protocol_feature::kMq));  // CONFIG was offered, not taken
  CHECK(std::get<uint64_t>(backend.first(R::kSetFeatures).payload) == (kNetFeatures | kFeatureProtocolFeatures));
  CHECK(std::get<VringState>(backend.log()[8].payload) == VringState{0, 256});
  CHECK(std::get<VringAddress>(backend.log()[10].payload) ==
        VringAddress{0, 0, ram.addr() + 0x1000, ram.addr() + 0x1c00, ram.addr() + 0x1800, 0});
  CHECK(std::get<VringState>(backend.log()[13].payload) == VringState{0, 1});
  CHECK(std::get<VringState>(backend.log().back().payload) == VringState{1, 0});

  // The memory table: regions as sent, one fd each, and the memfd shows the front-end's bytes.
  auto& table = backend.first(R::kSetMemTable);
  const auto& regions = std::get<MemoryTable>(table.payload).regions;
  REQUIRE(regions.size() == 2);
  CHECK(regions[1] == MemRegion{0x100000000, 0x10000, ram.addr() + 0x10000, 0x10000});
  REQUIRE(table.fds.size() == 2);
  void* seen = ::mmap(nullptr, 0x10000, PROT_READ, MAP_SHARED, table.fds[1].get(), 0x10000);
  REQUIRE(seen != MAP_FAILED);
  CHECK(std::memcmp(seen, "tandem", 6) == 0);
  ram.base[0x10000] = 'T';  // shared, not a copy
  CHECK(static_cast<const char*>(seen)[0] == 'T');
  ::munmap(seen, 0x10000);

  // Kick: the front-end signals its eventfd, the back-end's fd sees it; call the other way round.
  auto& kick_msg = backend.log()[11];
  REQUIRE(kick_msg.request == R::kSetVringKick);
  CHECK(std::get<VringFile>(kick_msg.payload) == VringFile{0, false});
  REQUIRE(kick_msg.fds.size() == 1);
  notify(kick0.get(), 3);
  CHECK(drain(kick_msg.fds[0].get()) == 3);
  auto& call_msg = backend.log()[18];
  REQUIRE(call_msg.request == R::kSetVringCall);
  CHECK(std::get<VringFile>(call_msg.payload).index == 1);
  notify(call_msg.fds[0].get(), 9);
  CHECK(drain(call1.get()) == 9);
}

TEST_CASE("a back-end without protocol features: no negotiation, no NEED_REPLY, rings start enabled") {
  Script script;
  script.features = kNetFeatures;
  TestBackend backend(script);
  {
    auto f = connect(backend);
    CHECK_FALSE(f->reply_ack());
    CHECK(f->protocol_features() == 0);
    REQUIRE(f->set_owner().ok());
    REQUIRE(f->set_features(kNetFeatures).ok());
    REQUIRE(f->set_vring_num(0, 64).ok());
    CHECK(f->set_vring_enable(0, true).ok());  // nothing to send
    CHECK(f->set_vring_enable(0, false).message() ==
          "vhost-user " + backend.path() + ": SET_VRING_ENABLE: cannot disable a ring: the back-end does not offer protocol features");
    CHECK(f->get_protocol_features().message().find("does not offer protocol features (feature bit 30)") != std::string::npos);
    CHECK(f->get_queue_num().message().find("GET_QUEUE_NUM: protocol feature MQ was not negotiated") != std::string::npos);
    auto base = f->get_vring_base(0);
    REQUIRE(base.ok());
    CHECK(*base == 42);
  }
  backend.join();
  using R = Request;
  CHECK(backend.requests() == std::vector<Request>{R::kGetFeatures, R::kSetOwner, R::kSetFeatures, R::kSetVringNum, R::kGetVringBase});
  for (const auto& m : backend.log()) CHECK_FALSE(m.need_reply());
  CHECK(std::get<uint64_t>(backend.first(R::kSetFeatures).payload) == kNetFeatures);
}

TEST_CASE("REPLY_ACK negotiated but not offered MQ: get_queue_num is refused locally") {
  Script script;
  script.protocol_features = protocol_feature::kReplyAck;
  TestBackend backend(script);
  {
    auto f = connect(backend);
    CHECK(f->protocol_features() == protocol_feature::kReplyAck);
    CHECK_FALSE(f->get_queue_num().ok());
  }
  backend.join();
  CHECK(backend.requests() == std::vector<Request>{Request::kGetFeatures, Request::kGetProtocolFeatures, Request::kSetProtocolFeatures});
}

TEST_CASE("a failure answered by the back-end is an Error naming the request; the connection goes on") {
  Script script;
  script.answer[Request::kSetMemTable] = 1;
  TestBackend backend(script);
  Ram ram(0x10000);
  {
    auto f = connect(backend);
    vhost::MemoryRegion region{0, 0x10000, ram.addr(), ram.fd.get(), 0};
    auto s = f->set_mem_table(std::span(&region, 1));
    REQUIRE_FALSE(s.ok());
    CHECK(s.message() == "vhost-user " + backend.path() + ": SET_MEM_TABLE: backend answered 1 (failure)");
    CHECK(f->set_vring_num(0, 256).ok());
  }
  backend.join();
  CHECK(backend.requests().back() == Request::kSetVringNum);
}

TEST_CASE("a back-end hanging up mid-conversation gives Errors, never SIGPIPE or a crash") {
  SUBCASE("while the front-end waits for an ack") {
    Script script;
    script.hang_up_on = Request::kSetVringAddr;
    TestBackend backend(script);
    auto f = connect(backend);
    REQUIRE(f->set_vring_num(0, 256).ok());
    auto s = f->set_vring_addr(0, {0x1000, 0x2000, 0x3000, 0, 0});
    REQUIRE_FALSE(s.ok());
    CHECK(s.message() == "vhost-user " + backend.path() + ": SET_VRING_ADDR: peer closed the connection");
    auto next = f->set_vring_base(0, 0);
    CHECK(next.message().find("SET_VRING_BASE: connection unusable after an earlier error (vhost-user") != std::string::npos);
    CHECK_FALSE(f->get_vring_base(0).ok());
  }
  SUBCASE("while the front-end sends without waiting (no REPLY_ACK)") {
    Script script;
    script.features = kNetFeatures;
    script.hang_up_on = Request::kSetOwner;
    TestBackend backend(script);
    auto f = connect(backend);
    REQUIRE(f->set_owner().ok());  // fire-and-forget: the back-end reads it, then hangs up
    backend.join();
    pollfd p{f->socket_fd(), POLLRDHUP, 0};  // what a link watcher sees
    REQUIRE(::poll(&p, 1, 1000) == 1);
    CHECK((p.revents & POLLRDHUP) != 0);
    auto s = f->set_vring_num(0, 256);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message() == "vhost-user " + backend.path() + ": SET_VRING_NUM: peer closed the connection");
  }
  SUBCASE("during negotiation") {
    Script script;
    script.hang_up_on = Request::kGetProtocolFeatures;
    TestBackend backend(script);
    auto f = Frontend::connect(backend.path(), 2s);
    REQUIRE_FALSE(f.ok());
    CHECK(f.message() == "vhost-user " + backend.path() + ": GET_PROTOCOL_FEATURES: peer closed the connection");
  }
}

TEST_CASE("a silent back-end times out instead of hanging the front-end") {
  Script script;
  script.ignore = Request::kGetVringBase;
  TestBackend backend(script);
  auto f = connect(backend, 100ms);
  auto start = std::chrono::steady_clock::now();
  auto r = f->get_vring_base(0);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "vhost-user " + backend.path() + ": GET_VRING_BASE: no message from the peer within 100 ms");
  CHECK_FALSE(f->set_vring_num(0, 8).ok());  // the late answer would be out of step: the connection is done
}

TEST_CASE("hostile replies are refused and end the connection") {
  struct Case {
    const char* what;
    std::function<void(Connection&)> send;
    std::string error;
  };
  auto raw = [](uint32_t code, uint32_t flags, std::vector<uint8_t> payload) {
    return [=](Connection& c) {
      auto h = encode_header({code, flags, static_cast<uint32_t>(payload.size())});
      std::vector<uint8_t> b(h.begin(), h.end());
      b.insert(b.end(), payload.begin(), payload.end());
      CHECK(c.send(b).ok());
    };
  };
  std::vector<uint8_t> zero8(8, 0);
  std::vector<Case> cases = {
      {"wrong code", raw(1, kVersion | kFlagReply, zero8), "SET_VRING_NUM reply: the back-end answered with code 1 (GET_FEATURES)"},
      {"no REPLY flag", raw(8, kVersion, zero8), "SET_VRING_NUM reply: REPLY flag missing"},
      {"short ack", raw(8, kVersion | kFlagReply, {0, 0, 0, 0}), "SET_VRING_NUM reply: payload size 4, expected 8"},
      {"flood", raw(8, kVersion | kFlagReply, std::vector<uint8_t>(5000)), "SET_VRING_NUM: a message (SET_VRING_NUM) announces 5000 payload bytes, more than 4096"},
      {"an fd", [](Connection& c) {
         auto b = encode_reply(Request::kSetVringNum, uint64_t{0});
         UniqueFd e(::eventfd(0, EFD_CLOEXEC));
         int fds[] = {e.get()};
         CHECK(c.send(*b, fds).ok());
       },
       "SET_VRING_NUM reply: 1 unexpected fds"},
  };
  for (auto& c : cases) {
    CAPTURE(c.what);
    Script script;
    script.hook = [&](Connection& conn, const Message& m) {
      if (m.request != Request::kSetVringNum) return false;
      c.send(conn);
      return true;
    };
    TestBackend backend(script);
    auto f = connect(backend);
    auto s = f->set_vring_num(0, 256);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message() == "vhost-user " + backend.path() + ": " + c.error);
    CHECK_FALSE(f->set_vring_base(0, 0).ok());
    f.reset();
    backend.join();
  }
}

TEST_CASE("a GET_VRING_BASE reply for another ring is refused") {
  Script script;
  script.hook = [](Connection& conn, const Message& m) {
    if (m.request != Request::kGetVringBase) return false;
    CHECK(conn.send(*encode_reply(Request::kGetVringBase, VringState{5, 1})).ok());
    return true;
  };
  TestBackend backend(script);
  auto f = connect(backend);
  CHECK(f->get_vring_base(2).message() == "vhost-user " + backend.path() + ": GET_VRING_BASE: reply for vring 5, asked for 2");
}

TEST_CASE("the front-end refuses bad arguments before sending anything") {
  TestBackend backend(Script{});
  Ram ram(0x20000);
  {
    auto f = connect(backend);
    std::string prefix = "vhost-user " + backend.path() + ": ";
    vhost::MemoryRegion no_fd{0, 0x10000, ram.addr(), -1, 0};
    CHECK(f->set_mem_table(std::span(&no_fd, 1)).message() == prefix + "SET_MEM_TABLE: region 0 has no fd to share");
    vhost::MemoryRegion overlap[] = {{0, 0x10000, ram.addr(), ram.fd.get(), 0}, {0x8000, 0x10000, ram.addr(), ram.fd.get(), 0}};
    CHECK(f->set_mem_table(overlap).message() ==
          prefix + "SET_MEM_TABLE: region 1: guest-physical [0x8000, 0x18000) overlaps region 0 [0x0, 0x10000)");
    std::vector<vhost::MemoryRegion> nine(9, {0, 0x1000, ram.addr(), ram.fd.get(), 0});
    CHECK(f->set_mem_table(nine).message() == prefix + "SET_MEM_TABLE: 9 regions, at most 8");
    CHECK(f->set_mem_table({}).message() == prefix + "SET_MEM_TABLE: nregions 0 (a table needs at least one region)");
    CHECK(f->set_vring_kick(256, -1).message() == prefix + "SET_VRING_KICK: vring index 256 is over 255");
    CHECK(f->set_vring_num(0, 0).message() == prefix + "SET_VRING_NUM: num 0 is outside 1..32768");
    CHECK(f->set_vring_addr(0, {0x1001, 0, 0, 0, 0}).message() ==
          prefix + "SET_VRING_ADDR: descriptor table 0x1001 is not 16-byte aligned");
    CHECK(f->set_features(1ULL << 40).message() == prefix + "SET_FEATURES: features 0x10000000000 were not offered by the back-end");
    // Still usable: nothing went out.
    REQUIRE(f->set_vring_err(0, -1).ok());
  }
  backend.join();
  auto& log = backend.log();
  REQUIRE(log.size() == 4);
  CHECK(log[3].request == Request::kSetVringErr);
  CHECK(std::get<VringFile>(log[3].payload) == VringFile{0, true});  // fd < 0: NOFD and no fd
  CHECK(log[3].fds.empty());
}

TEST_CASE("over(): a Frontend on a socketpair; connect() to a missing socket") {
  auto pair = Connection::pair();
  REQUIRE(pair.ok());
  TestBackend backend(Script{}, std::move(pair->second));
  {
    auto f = Frontend::over(std::move(pair->first), "test-peer", 2s);
    REQUIRE(f.ok());
    CHECK((*f)->name() == "vhost-user test-peer");
    CHECK((*f)->reply_ack());
    CHECK((*f)->set_owner().ok());
  }
  backend.join();
  CHECK(backend.requests().back() == Request::kSetOwner);

  auto missing = Frontend::connect("/nonexistent/tandem.sock", 100ms);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.message() ==
        "vhost-user /nonexistent/tandem.sock: connect to vhost-user socket /nonexistent/tandem.sock: No such file or directory");
}
