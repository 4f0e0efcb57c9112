// Unit tests for devices/vhost_user/backend: a BackendSession on a real Unix socket (a listener in a
// temp dir under /tmp) driven by tandem's own Frontend, and by a raw client that sends hostile
// messages built with the encoders or by hand. Checked: a complete virtio-net bring-up (the session
// maps the front-end's memfd and sees its bytes, ring addresses translate to the right
// guest-physical addresses, kick/call eventfds work across), GET_VRING_BASE answering the
// observer's index, memory tables replacing each other (old mappings released), refused requests
// answered with 1 while the session goes on, protocol violations closing it, floods, and no fd
// leaks (counted in /proc/self/fd around every case).
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "base/hex.h"
#include "devices/vhost_user/backend.h"
#include "devices/vhost_user/frontend.h"
#include "devices/vhost_user/testing/fixtures.h"

using namespace tandem;
using namespace tandem::vhost_user;
using namespace tandem::vhost_user::testing;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kVersion1 = 1ULL << 32;
constexpr uint64_t kMrgRxbuf = 1ULL << 15;
constexpr uint64_t kNetFeatures = kVersion1 | kMrgRxbuf;


// Lines of /proc/self/maps that map the memfd called `name`.
int mappings_of(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line))
    if (line.find("/memfd:" + name + " ") != std::string::npos) ++n;
  return n;
}



// The observer: records every call, keeps dup()s of the rings' eventfds.
struct Recorder : BackendObserver {
  std::mutex mu;
  std::vector<std::string> events;
  std::vector<MappedRegion> regions;
  std::map<uint32_t, VringConfig> rings;
  std::map<uint32_t, UniqueFd> kicks, calls;
  std::vector<std::string> logs;
  uint64_t features = 0;
  bool refuse_tables = false;
  bool refuse_rings = false;

  Status on_mem_table(std::span<const MappedRegion> r) override {
    std::lock_guard l(mu);
    events.push_back("mem " + std::to_string(r.size()));
    if (refuse_tables && !r.empty()) return Error{"does not fit the BAR"};
    regions.assign(r.begin(), r.end());
    return {};
  }
  void on_features(uint64_t f) override {
    std::lock_guard l(mu);
    events.push_back("features");
    features = f;
  }
  Status on_vring_ready(const VringConfig& c) override {
    std::lock_guard l(mu);
    events.push_back("ready " + std::to_string(c.index));
    if (refuse_rings) return Error{"no irqfd"};
    rings[c.index] = c;
    kicks[c.index] = UniqueFd(c.kick_fd >= 0 ? ::fcntl(c.kick_fd, F_DUPFD_CLOEXEC, 0) : -1);
    calls[c.index] = UniqueFd(c.call_fd >= 0 ? ::fcntl(c.call_fd, F_DUPFD_CLOEXEC, 0) : -1);
    return {};
  }
  uint16_t on_vring_stop(uint32_t index) override {
    std::lock_guard l(mu);
    events.push_back("stop " + std::to_string(index));
    return static_cast<uint16_t>(1000 + index);
  }
  void on_disconnect() override {
    std::lock_guard l(mu);
    events.push_back("disconnect");
  }
  std::vector<std::string> take() {
    std::lock_guard l(mu);
    return std::exchange(events, {});
  }
  std::vector<std::string> take_logs() {
    std::lock_guard l(mu);
    return std::exchange(logs, {});
  }
};

BackendConfig net_config() {
  BackendConfig c;
  c.name = "test back-end";
  c.features = kNetFeatures | kFeatureProtocolFeatures;
  c.queue_num = 1;
  c.max_vrings = 2;
  c.message_timeout = 300ms;
  return c;
}

// A listening back-end on its own thread: accepts one front-end and runs a session until it ends.
class Server {
 public:
  explicit Server(BackendConfig config = net_config()) {
    char tmpl[] = "/tmp/tandem-vu-backend-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/s.sock";
    auto listener = Listener::bind(path_);
    REQUIRE(listener.ok());
    listener_.emplace(std::move(listener).value());
    config.log = [this](const std::string& m) {
      std::lock_guard l(rec.mu);
      rec.logs.push_back(m);
    };
    thread_ = std::thread([this, config = std::move(config)]() mutable {
      auto conn = listener_->accept(5s);
      if (!conn.ok()) {
        reason_ = conn.message();
        return;
      }
      auto session = BackendSession::create(std::move(conn).value(), std::move(config), rec);
      if (!session.ok()) {
        reason_ = session.message();
        return;
      }
      Status s = (*session)->run();
      clean_ = s.ok();
      reason_ = (*session)->close_reason();
    });
  }
  ~Server() {
    join();
    listener_.reset();
    ::rmdir(dir_.c_str());
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  const std::string& path() const { return path_; }
  // Valid after join().
  bool clean() const { return clean_; }
  const std::string& reason() const { return reason_; }

  Recorder rec;

 private:
  std::string dir_, path_;
  std::optional<Listener> listener_;
  std::thread thread_;
  bool clean_ = false;
  std::string reason_;
};

std::unique_ptr<Frontend> frontend(const Server& s) {
  auto f = Frontend::connect(s.path(), 2s);
  REQUIRE(f.ok());
  return std::move(f).value();
}

Connection raw_client(const Server& s) {
  auto c = Connection::connect(s.path());
  REQUIRE(c.ok());
  return std::move(c).value();
}

void request(Connection& c, Request r, const Payload& p, bool need_reply, std::vector<int> fds = {}) {
  auto bytes = encode_request(r, p, need_reply);
  REQUIRE(bytes.ok());
  REQUIRE(c.send(*bytes, fds, 1000ms).ok());
}

Payload answer(Connection& c, Request r) {
  auto raw = c.receive(2000ms);
  REQUIRE(raw.ok());
  auto m = decode_reply(r, std::move(raw).value());
  REQUIRE(m.ok());
  return m->payload;
}

uint64_t ack(Connection& c, Request r, const Payload& p, std::vector<int> fds = {}) {
  request(c, r, p, true, std::move(fds));
  return std::get<uint64_t>(answer(c, r));
}

// Handcrafted bytes: the codec's encoders refuse what these tests need to send.
void put32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
std::vector<uint8_t> message(uint32_t code, uint32_t flags, const std::vector<uint8_t>& payload, std::optional<uint32_t> size = {}) {
  std::vector<uint8_t> b;
  put32(b, code);
  put32(b, flags);
  put32(b, size.value_or(static_cast<uint32_t>(payload.size())));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
std::vector<uint8_t> table_bytes(const std::vector<MemRegion>& regions) {
  std::vector<uint8_t> b;
  put32(b, static_cast<uint32_t>(regions.size()));
  put32(b, 0);
  for (const auto& r : regions) {
    put64(b, r.guest_phys_addr);
    put64(b, r.memory_size);
    put64(b, r.userspace_addr);
    put64(b, r.mmap_offset);
  }
  return b;
}

bool contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

using Events = std::vector<std::string>;

// The bring-up's memory table: the session's mapping of region 1 is the front-end's memory, not a
// copy.
void check_bringup_mapping(Recorder& rec, Ram& ram) {
  std::lock_guard l(rec.mu);
  REQUIRE(rec.regions.size() == 2);
  const MappedRegion& r1 = rec.regions[1];
  CHECK(r1.gpa == 0x100000000);
  CHECK(r1.size == 0x10000);
  CHECK(r1.userspace_addr == ram.addr(0x10000));
  CHECK(r1.mmap_offset == 0x10000);
  CHECK(std::memcmp(r1.host, "tandem", 6) == 0);
  r1.host[0] = 'T';
  CHECK(ram.base[0x10000] == 'T');
  CHECK(r1.host != ram.base + 0x10000);  // its own mapping
}

// The bring-up's two rings as the device got them: ring 0 in region 0, ring 1 in region 1.
void check_bringup_rings(Recorder& rec) {
  std::lock_guard l(rec.mu);
  const VringConfig& r0 = rec.rings[0];
  CHECK(r0.index == 0);
  CHECK(r0.num == 256);
  CHECK(r0.base == 7);
  CHECK(r0.desc_gpa == 0x1000);
  CHECK(r0.avail_gpa == 0x2000);
  CHECK(r0.used_gpa == 0x3000);
  const VringConfig& r1 = rec.rings[1];
  CHECK(r1.base == 8);
  CHECK(r1.desc_gpa == 0x100001000);
  CHECK(r1.avail_gpa == 0x100002000);
  CHECK(r1.used_gpa == 0x100003000);
  CHECK(rec.features == kNetFeatures);
}

}  // namespace

TEST_CASE("a virtio-net bring-up by tandem's Frontend: memory, ring addresses, eventfds, GET_VRING_BASE") {
  size_t fds_before = open_fds();
  {
    Server server;
    Ram ram("bt-bringup", 2 * 0x10000);
    std::memcpy(ram.base + 0x10000, "tandem", 6);
    UniqueFd kick[2] = {make_eventfd(), make_eventfd()};
    UniqueFd call[2] = {make_eventfd(), make_eventfd()};
    std::string path = server.path();
    {
      auto f = frontend(server);
      CHECK(f->reply_ack());
      CHECK(f->protocol_features() == (protocol_feature::kReplyAck | protocol_feature::kMq));
      REQUIRE(f->set_owner().ok());
      auto features = f->get_features();
      REQUIRE(features.ok());
      CHECK(*features == kNetFeatures);
      REQUIRE(f->set_features(kNetFeatures).ok());
      auto queues = f->get_queue_num();
      REQUIRE(queues.ok());
      CHECK(*queues == 1);
      vhost::MemoryRegion regions[] = {
          {0, 0x10000, ram.addr(), ram.fd.get(), 0},
          {0x100000000, 0x10000, ram.addr(0x10000), ram.fd.get(), 0x10000},
      };
      REQUIRE(f->set_mem_table(regions).ok());
      CHECK(server.rec.take() == Events{"features", "mem 2"});

      check_bringup_mapping(server.rec, ram);

      // Ring 0 in region 0, ring 1 in region 1: desc (4 KiB), avail at +0x1000, used at +0x2000.
      uint64_t ring_addr[2] = {ram.addr(0x1000), ram.addr(0x11000)};
      for (uint32_t q = 0; q < 2; ++q) {
        REQUIRE(f->set_vring_num(q, 256).ok());
        REQUIRE(f->set_vring_base(q, 7 + q).ok());
        uint64_t a = ring_addr[q];
        REQUIRE(f->set_vring_addr(q, {a, a + 0x1000, a + 0x2000, 0, 0}).ok());
        REQUIRE(f->set_vring_kick(q, kick[q].get()).ok());
        REQUIRE(f->set_vring_call(q, call[q].get()).ok());
        CHECK(server.rec.take().empty());  // protocol features taken: rings wait for ENABLE
        REQUIRE(f->set_vring_enable(q, true).ok());
        CHECK(server.rec.take() == Events{"ready " + std::to_string(q)});
      }
      check_bringup_rings(server.rec);
      // Kicks reach the device's fd; the device's calls reach the front-end's.
      notify(kick[0].get(), 3);
      CHECK(drain(server.rec.kicks[0].get()) == 3);
      notify(server.rec.calls[1].get(), 9);
      CHECK(drain(call[1].get()) == 9);

      // A live ring cannot be resized or moved.
      CHECK(f->set_vring_num(0, 128).message() == "vhost-user " + path + ": SET_VRING_NUM: backend answered 1 (failure)");
      CHECK(f->set_vring_base(0, 0).message() == "vhost-user " + path + ": SET_VRING_BASE: backend answered 1 (failure)");

      // GET_VRING_BASE: the observer's index; a stopped ring answers its stored base itself.
      auto base = f->get_vring_base(1);
      REQUIRE(base.ok());
      CHECK(*base == 1001);
      CHECK(server.rec.take() == Events{"stop 1"});
      base = f->get_vring_base(1);
      REQUIRE(base.ok());
      CHECK(*base == 1001);
      CHECK(server.rec.take().empty());
      // The kick/call fds went with the stop: the ring restarts once both come again.
      REQUIRE(f->set_vring_kick(1, kick[1].get()).ok());
      CHECK(server.rec.take().empty());
      REQUIRE(f->set_vring_call(1, -1).ok());  // NOFD: no interrupts
      CHECK(server.rec.take() == Events{"ready 1"});
      {
        std::lock_guard l(server.rec.mu);
        CHECK(server.rec.rings[1].base == 1001);
        CHECK(server.rec.rings[1].call_fd == -1);
        CHECK(server.rec.rings[1].kick_fd >= 0);
      }
      // A new call fd on a live ring reaches the device at once.
      REQUIRE(f->set_vring_call(1, call[1].get()).ok());
      CHECK(server.rec.take() == Events{"ready 1"});
      notify(server.rec.calls[1].get(), 4);
      CHECK(drain(call[1].get()) == 4);
      // Disabling stops it; enabling resumes from the observer's index.
      REQUIRE(f->set_vring_enable(0, false).ok());
      REQUIRE(f->set_vring_enable(0, true).ok());
      CHECK(server.rec.take() == Events{"stop 0", "ready 0"});
      {
        std::lock_guard l(server.rec.mu);
        CHECK(server.rec.rings[0].base == 1000);
      }
    }
    server.join();
    CHECK(server.clean());
    CHECK(server.reason() == "peer closed the connection");
    // The end unwinds through the observer: rings, memory, then the disconnect.
    CHECK(server.rec.take() == Events{"stop 0", "stop 1", "mem 0", "disconnect"});
    CHECK(server.rec.take_logs() == std::vector<std::string>{"SET_VRING_NUM refused: vring 0 is running",
                                                            "SET_VRING_BASE refused: vring 0 is running"});
    server.rec.kicks.clear();
    server.rec.calls.clear();
  }
  CHECK(open_fds() == fds_before);
}

TEST_CASE("a front-end without protocol features: rings start enabled; NOFD kick and call") {
  size_t fds_before = open_fds();
  {
    BackendConfig config = net_config();
    config.features = kNetFeatures;  // no bit 30
    Server server(config);
    Ram ram("bt-noproto", 0x10000);
    {
      auto f = frontend(server);
      CHECK_FALSE(f->reply_ack());
      REQUIRE(f->set_owner().ok());
      REQUIRE(f->set_features(kNetFeatures).ok());
      vhost::MemoryRegion region{0, 0x10000, ram.addr(), ram.fd.get(), 0};
      REQUIRE(f->set_mem_table(std::span(&region, 1)).ok());
      REQUIRE(f->set_vring_num(0, 64).ok());
      REQUIRE(f->set_vring_addr(0, {ram.addr(0x4000), ram.addr(0x5000), ram.addr(0x6000), 0, 0}).ok());
      REQUIRE(f->set_vring_base(0, 0).ok());
      REQUIRE(f->set_vring_kick(0, -1).ok());
      REQUIRE(f->set_vring_call(0, -1).ok());
      auto base = f->get_vring_base(0);  // a round trip: everything before it was handled
      REQUIRE(base.ok());
      CHECK(*base == 1000);
    }
    server.join();
    CHECK(server.clean());
    CHECK(server.rec.take() == Events{"features", "mem 1", "ready 0", "stop 0", "mem 0", "disconnect"});
    std::lock_guard l(server.rec.mu);
    CHECK(server.rec.rings[0].kick_fd == -1);
    CHECK(server.rec.rings[0].call_fd == -1);
    CHECK(server.rec.rings[0].desc_gpa == 0x4000);
  }
  CHECK(open_fds() == fds_before);
}

TEST_CASE("a second SET_MEM_TABLE replaces the first: live rings restart, the old mapping goes") {
  size_t fds_before = open_fds();
  {
    Server server;
    Ram a("bt-alpha", 0x10000), b("bt-beta", 0x10000);
    REQUIRE(mappings_of("bt-alpha") == 1);  // the test's own
    std::string path = server.path();
    {
      auto f = frontend(server);
      REQUIRE(f->set_features(kNetFeatures).ok());
      vhost::MemoryRegion alpha{0, 0x10000, a.addr(), a.fd.get(), 0};
      REQUIRE(f->set_mem_table(std::span(&alpha, 1)).ok());
      CHECK(mappings_of("bt-alpha") == 2);
      UniqueFd kick = make_eventfd(), call = make_eventfd();
      REQUIRE(f->set_vring_num(0, 16).ok());
      REQUIRE(f->set_vring_addr(0, {a.addr(0x1000), a.addr(0x2000), a.addr(0x3000), 0, 0}).ok());
      REQUIRE(f->set_vring_kick(0, kick.get()).ok());
      REQUIRE(f->set_vring_call(0, call.get()).ok());
      REQUIRE(f->set_vring_enable(0, true).ok());
      CHECK(server.rec.take() == Events{"features", "mem 1", "ready 0"});

      // alpha stays (mapped anew), beta is added: the ring stops, the table swaps, the ring resumes.
      vhost::MemoryRegion both[] = {{0, 0x10000, a.addr(), a.fd.get(), 0}, {0x40000, 0x10000, b.addr(), b.fd.get(), 0}};
      std::memcpy(b.base + 0x100, "beta", 4);
      REQUIRE(f->set_mem_table(both).ok());
      CHECK(server.rec.take() == Events{"stop 0", "mem 2", "ready 0"});
      CHECK(mappings_of("bt-alpha") == 2);  // the first mapping was released, the new one is there
      CHECK(mappings_of("bt-beta") == 2);
      {
        std::lock_guard l(server.rec.mu);
        CHECK(server.rec.rings[0].base == 1000);
        CHECK(std::memcmp(server.rec.regions[1].host + 0x100, "beta", 4) == 0);
      }

      // The device refuses a table: the front-end hears it, the old table and the ring stay.
      server.rec.refuse_tables = true;
      vhost::MemoryRegion beta_only{0x40000, 0x10000, b.addr(), b.fd.get(), 0};
      CHECK(f->set_mem_table(std::span(&beta_only, 1)).message() ==
            "vhost-user " + path + ": SET_MEM_TABLE: backend answered 1 (failure)");
      CHECK(server.rec.take() == Events{"stop 0", "mem 1", "ready 0"});
      CHECK(mappings_of("bt-alpha") == 2);
      CHECK(mappings_of("bt-beta") == 2);
      server.rec.refuse_tables = false;

      // A table without the ring's memory: the ring stays stopped, alpha is unmapped.
      REQUIRE(f->set_mem_table(std::span(&beta_only, 1)).ok());
      CHECK(server.rec.take() == Events{"stop 0", "mem 1"});
      CHECK(mappings_of("bt-alpha") == 1);
      CHECK(mappings_of("bt-beta") == 2);
      // Its old address does not come back by itself.
      REQUIRE(f->set_vring_enable(0, false).ok());
      CHECK(f->set_vring_enable(0, true).ok());
      CHECK(server.rec.take().empty());
    }
    server.join();
    CHECK(server.rec.take() == Events{"mem 0", "disconnect"});
    CHECK(mappings_of("bt-beta") == 1);
    CHECK(contains(server.rec.take_logs(), "vring 0 is outside the new memory table: descriptor table: front-end address"));
    server.rec.kicks.clear();
    server.rec.calls.clear();
  }
  CHECK(open_fds() == fds_before);
}

TEST_CASE("refused requests are answered with 1 and the session goes on") {
  size_t fds_before = open_fds();
  {
    Server server;
    Ram ram("bt-refused", 0x10000);
    Ram small("bt-small", 0x1000);
    {
      Connection c = raw_client(server);
      using R = Request;
      request(c, R::kGetFeatures, {}, false);
      CHECK(std::get<uint64_t>(answer(c, R::kGetFeatures)) == (kNetFeatures | kFeatureProtocolFeatures));
      CHECK(ack(c, R::kSetFeatures, kNetFeatures | (1ULL << 40)) == 1);       // not offered
      CHECK(ack(c, R::kSetProtocolFeatures, protocol_feature::kConfig) == 1);  // not offered
      // Out of order: ring addresses before any memory table.
      CHECK(ack(c, R::kSetVringAddr, VringAddress{0, 0, 0x1000, 0x3000, 0x2000, 0}) == 1);

      MemRegion whole{0, 0x10000, ram.addr(), 0};
      int pipefd[2];
      REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
      UniqueFd pipe_r(pipefd[0]), pipe_w(pipefd[1]);
      CHECK(ack(c, R::kSetMemTable, MemoryTable{{whole}}, {pipe_r.get()}) == 1);            // a pipe
      CHECK(ack(c, R::kSetMemTable, MemoryTable{{whole}}, {small.fd.get()}) == 1);          // 4 KiB fd, 64 KiB region
      CHECK(ack(c, R::kSetMemTable, MemoryTable{{{0, 1ULL << 40, ram.addr(), 0}}}, {ram.fd.get()}) == 1);  // huge
      CHECK(ack(c, R::kSetMemTable, MemoryTable{{{0, 0x10000, ram.addr(), 0x8000}}}, {ram.fd.get()}) == 1);  // past the end
      CHECK(ack(c, R::kSetMemTable, MemoryTable{{{0, 0x8000, ram.addr(), 0}, {0x100000, 0x8000, ram.addr(0x4000), 0x8000}}},
                {ram.fd.get(), ram.fd.get()}) == 1);  // front-end addresses overlap
      CHECK(server.rec.take() == Events{});          // the device heard of none of it
      CHECK(ack(c, R::kSetMemTable, MemoryTable{{whole}}, {ram.fd.get()}) == 0);
      CHECK(server.rec.take() == Events{"mem 1"});

      // Rings outside memory, partly outside, or straddling the end.
      CHECK(ack(c, R::kSetVringNum, VringState{0, 256}) == 0);
      CHECK(ack(c, R::kSetVringAddr, VringAddress{0, 0, ram.addr(0x20000), ram.addr(0x3000), ram.addr(0x2000), 0}) == 1);
      CHECK(ack(c, R::kSetVringAddr, VringAddress{0, 0, ram.addr(0xf800), ram.addr(0x3000), ram.addr(0x2000), 0}) == 1);
      CHECK(ack(c, R::kSetVringAddr, VringAddress{0, 0, ram.addr(0x1000), ram.addr(0x3000), ram.addr(0xfff0), 0}) == 1);
      CHECK(ack(c, R::kSetVringAddr, VringAddress{0, 0, 0x1000, 0x3000, 0x2000, 0}) == 1);  // guest-physical, not front-end
      CHECK(ack(c, R::kSetVringAddr, VringAddress{0, kVringFlagLog, ram.addr(0x1000), ram.addr(0x3000), ram.addr(0x2000), 0}) == 1);
      CHECK(ack(c, R::kSetVringAddr, VringAddress{0, 0, ram.addr(0x1000), ram.addr(0x3000), ram.addr(0x2000), 0}) == 0);

      // Ring indices past max_vrings, bad sizes and bases.
      CHECK(ack(c, R::kSetVringNum, VringState{2, 256}) == 1);
      CHECK(ack(c, R::kSetVringNum, VringState{255, 256}) == 1);
      CHECK(ack(c, R::kSetVringNum, VringState{0, 100}) == 1);
      CHECK(ack(c, R::kSetVringBase, VringState{0, 0x10000}) == 1);
      CHECK(ack(c, R::kSetVringEnable, VringState{7, 1}) == 1);
      UniqueFd e = make_eventfd();
      CHECK(ack(c, R::kSetVringKick, VringFile{200, false}, {e.get()}) == 1);
      CHECK(ack(c, R::kSetVringCall, VringFile{1, false}, {pipe_w.get()}) == 1);  // not an eventfd
      // Requests this back-end did not offer.
      CHECK(ack(c, R::kSendRarp, uint64_t{0x5254}) == 1);
      CHECK(ack(c, R::kNetSetMtu, uint64_t{1500}) == 1);
      CHECK(ack(c, R::kSetVringEndian, VringState{0, 0}) == 1);

      // Still serving: a valid ring comes up.
      CHECK(ack(c, R::kSetVringKick, VringFile{0, false}, {e.get()}) == 0);
      CHECK(ack(c, R::kSetVringCall, VringFile{0, true}) == 0);
      CHECK(ack(c, R::kSetVringEnable, VringState{0, 1}) == 0);
      CHECK(server.rec.take() == Events{"ready 0"});
      // A device that cannot wire a ring: the front-end hears it.
      server.rec.refuse_rings = true;
      CHECK(ack(c, R::kSetVringKick, VringFile{0, true}) == 1);
      CHECK(server.rec.take() == Events{"ready 0", "stop 0"});
      server.rec.refuse_rings = false;
    }
    server.join();
    CHECK(server.clean());
    auto logs = server.rec.take_logs();
    CHECK(logs.size() == 24);
    CHECK(contains(logs, "SET_FEATURES refused: features 0x10000000000 were not offered"));
    CHECK(contains(logs, "SET_VRING_ADDR refused: vring 0: no memory table yet (SET_MEM_TABLE comes first)"));
    CHECK(contains(logs, "its fd is not a memory file"));
    CHECK(contains(logs, "mmap_offset 0x0 + size 0x10000 is past the end of its fd (0x1000 bytes)"));
    CHECK(contains(logs, "mmap_offset 0x0 + size 0x10000000000 is past the end of its fd"));
    CHECK(contains(logs, "overlaps region 0"));
    CHECK(contains(logs, "SET_VRING_ADDR refused: vring 0: descriptor table: front-end address"));
    CHECK(contains(logs, "SET_VRING_ADDR refused: vring 0: available ring: front-end address"));
    CHECK(contains(logs, "SET_VRING_NUM refused: vring 2 does not exist (this back-end has 2)"));
    CHECK(contains(logs, "SET_VRING_NUM refused: size 100 is not a power of two"));
    CHECK(contains(logs, "SET_VRING_CALL refused: vring 1: the fd is not an eventfd"));
    CHECK(contains(logs, "SEND_RARP refused: not supported here"));
    CHECK(contains(logs, "SET_VRING_KICK refused: vring 0: the device refused the new fd: no irqfd"));
    server.rec.kicks.clear();
    server.rec.calls.clear();
  }
  CHECK(open_fds() == fds_before);
}

TEST_CASE("protocol violations close the session, with an answer 1 when one was asked for") {
  struct Case {
    const char* what;
    std::function<void(Connection&, Ram&)> send;
    std::vector<uint64_t> acks;  // answers before the hang-up
    const char* reason;
  };
  auto bytes = [](std::vector<uint8_t> b, std::vector<int> fds = {}) {
    return [b = std::move(b), fds](Connection& c, Ram&) { REQUIRE(c.send(b, fds, 1000ms).ok()); };
  };
  constexpr uint32_t ask = kVersion | kFlagNeedReply;
  std::vector<Case> cases = {
      {"overlapping guest-physical regions",
       [&](Connection& c, Ram& ram) {
         auto t = table_bytes({{0, 0x8000, ram.addr(), 0}, {0x4000, 0x8000, ram.addr(0x8000), 0x8000}});
         int fds[] = {ram.fd.get(), ram.fd.get()};
         REQUIRE(c.send(message(5, ask, t), fds, 1000ms).ok());
       },
       {1}, "protocol violation: SET_MEM_TABLE: region 1: guest-physical [0x4000, 0xc000) overlaps region 0"},
      {"a region whose guest-physical range wraps",
       [&](Connection& c, Ram& ram) {
         auto t = table_bytes({{~0ULL - 0xfff, 0x10000, ram.addr(), 0}});
         int fds[] = {ram.fd.get()};
         REQUIRE(c.send(message(5, ask, t), fds, 1000ms).ok());
       },
       {1}, "protocol violation: SET_MEM_TABLE: region 0: guest_phys_addr"},
      {"nine regions", bytes(message(5, ask, table_bytes(std::vector<MemRegion>(9, {0, 0x1000, 0, 0})))), {1},
       "protocol violation: SET_MEM_TABLE: nregions 9 is more than 8"},
      {"GET_VRING_BASE of a ring that does not exist", bytes(message(11, kVersion, {5, 0, 0, 0, 0, 0, 0, 0})), {},
       "protocol violation: GET_VRING_BASE: vring 5 does not exist (this back-end has 2)"},
      {"GET_QUEUE_NUM without MQ negotiated", bytes(message(17, kVersion, {})), {},
       "protocol violation: GET_QUEUE_NUM: protocol feature MQ was not negotiated"},
      {"GET_CONFIG, which was not offered",
       [](Connection& c, Ram&) { request(c, Request::kGetConfig, DeviceConfig{0, 0, {0, 0, 0, 0}}, false); }, {},
       "protocol violation: GET_CONFIG: not supported here"},
      {"a truncated message, then a hang-up",
       [](Connection& c, Ram&) {
         auto m = message(9, kVersion, std::vector<uint8_t>(10, 0), 40);
         REQUIRE(c.send(m, {}, 1000ms).ok());
         ::shutdown(c.fd(), SHUT_WR);
       },
       {}, "peer closed the connection in the middle of a message"},
      {"a truncated message, then silence", bytes(message(8, kVersion, {0, 0, 0, 0}, 8)), {},
       "no rest of the message within 300 ms"},
      {"a short payload", bytes(message(8, ask, {0, 0, 0, 0})), {1}, "protocol violation: SET_VRING_NUM: payload size 4, expected 8"},
      {"an oversized payload", bytes(message(8, kVersion, {}, 5000)), {}, "announces 5000 payload bytes, more than 4096"},
      {"an unknown request", bytes(message(99, ask, {})), {}, "protocol violation: unknown vhost-user request code 99"},
      {"a REPLY flag on a request", bytes(message(3, kVersion | kFlagReply, {})), {},
       "protocol violation: SET_OWNER: REPLY flag set on a request"},
      {"a bad version", bytes(message(3, 2, {})), {}, "protocol violation: SET_OWNER: version 2, expected 1"},
      {"a kick without its fd", bytes(message(12, ask, {0, 0, 0, 0, 0, 0, 0, 0})), {1},
       "protocol violation: SET_VRING_KICK: 0 fds, expected 1"},
      {"an fd on SET_OWNER",
       [](Connection& c, Ram&) {
         UniqueFd e(::eventfd(0, EFD_CLOEXEC));
         int fds[] = {e.get()};
         REQUIRE(c.send(message(3, ask, {}), fds, 1000ms).ok());
       },
       {1}, "protocol violation: SET_OWNER: 1 fds, expected 0"},
  };
  for (auto& tc : cases) {
    std::string what = tc.what;
    CAPTURE(what);
    size_t fds_before = open_fds();
    {
      Server server;
      Ram ram("bt-violation", 0x10000);
      Connection c = raw_client(server);
      request(c, Request::kSetOwner, {}, true);
      CHECK(std::get<uint64_t>(answer(c, Request::kSetOwner)) == 0);
      tc.send(c, ram);
      std::vector<uint64_t> acks;
      for (;;) {  // answers (whatever code they carry) until the hang-up
        auto raw = c.receive(3000ms);
        if (!raw.ok()) {
          CHECK(raw.message() == "peer closed the connection");
          break;
        }
        REQUIRE(raw->payload.size() == 8);
        acks.push_back(raw->payload[0]);
      }
      CHECK(acks == tc.acks);
      server.join();
      CHECK_FALSE(server.clean());
      CAPTURE(server.reason());
      CHECK(server.reason().find(tc.reason) != std::string::npos);
      CHECK(server.rec.take() == Events{"disconnect"});
      CHECK(contains(server.rec.take_logs(), "closing: "));
    }
    CHECK(open_fds() == fds_before);
  }
}

TEST_CASE("floods: many requests are served in order; a front-end that never reads its answers is dropped") {
  size_t fds_before = open_fds();
  SUBCASE("20000 requests without NEED_REPLY, then one with an answer") {
    Server server;
    {
      Connection c = raw_client(server);
      auto one = encode_request(Request::kSetVringNum, VringState{1, 64}, false);
      REQUIRE(one.ok());
      for (int i = 0; i < 20000; ++i) REQUIRE(c.send(*one, {}, 5000ms).ok());
      request(c, Request::kGetFeatures, {}, false);
      CHECK(std::get<uint64_t>(answer(c, Request::kGetFeatures)) == (kNetFeatures | kFeatureProtocolFeatures));
    }
    server.join();
    CHECK(server.clean());
  }
  SUBCASE("answers pile up unread") {
    Server server;
    {
      Connection c = raw_client(server);
      auto one = encode_request(Request::kSetVringNum, VringState{1, 64}, true);
      REQUIRE(one.ok());
      bool refused = false;
      for (int i = 0; i < 1000000 && !refused; ++i) refused = !c.send(*one, {}, 2000ms).ok();
      CHECK(refused);  // the session gave up on us and closed
      server.join();
    }
    CHECK_FALSE(server.clean());
    CHECK(server.reason().find("SET_VRING_NUM reply: no room in the socket for the message within 300 ms") != std::string::npos);
  }
  SUBCASE("a burst of fds") {
    Server server;
    {
      Connection c = raw_client(server);
      std::vector<UniqueFd> efds;
      for (int i = 0; i < 200; ++i) {
        efds.push_back(make_eventfd());
        int fd = efds.back().get();
        request(c, Request::kSetVringKick, VringFile{static_cast<uint32_t>(i % 2), false}, false, {fd});
        request(c, Request::kSetVringErr, VringFile{static_cast<uint32_t>(i % 2), false}, false, {fd});
      }
      CHECK(ack(c, Request::kSetVringCall, VringFile{0, true}) == 0);
    }
    server.join();
    CHECK(server.clean());
  }
  CHECK(open_fds() == fds_before);
}

TEST_CASE("the session API: create() checks its configuration; handle_one() idles; close() unwinds") {
  size_t fds_before = open_fds();
  {
    Recorder rec;
    auto pair = Connection::pair();
    REQUIRE(pair.ok());
    BackendConfig bad = net_config();
    bad.max_vrings = 0;
    CHECK(BackendSession::create(std::move(pair->first), bad, rec).message() == "test back-end: max_vrings 0 is outside 1..256");
    pair = Connection::pair();
    REQUIRE(pair.ok());
    bad = net_config();
    bad.protocol_features |= protocol_feature::kConfig;
    CHECK(BackendSession::create(std::move(pair->first), bad, rec).message() ==
          "test back-end: protocol features 0x200 are not implemented");

    pair = Connection::pair();
    REQUIRE(pair.ok());
    BackendConfig config = net_config();
    std::vector<std::string> logs;
    config.log = [&](const std::string& m) { logs.push_back(m); };
    auto created = BackendSession::create(std::move(pair->first), config, rec);
    REQUIRE(created.ok());
    auto& s = **created;
    Connection& fe = pair->second;
    CHECK(s.fd() >= 0);
    CHECK(s.handle_one(10ms) == BackendSession::Step::kIdle);

    // Driven by hand: each request is one step.
    Ram ram("bt-api", 0x10000);
    request(fe, Request::kSetOwner, {}, false);
    CHECK(s.handle_one(1000ms) == BackendSession::Step::kHandled);
    CHECK(s.owned());
    request(fe, Request::kSetFeatures, kNetFeatures, false);
    CHECK(s.handle_one(1000ms) == BackendSession::Step::kHandled);
    CHECK(s.acked_features() == kNetFeatures);
    request(fe, Request::kSetMemTable, MemoryTable{{{0x100000, 0x10000, ram.addr(), 0}}}, false, {ram.fd.get()});
    CHECK(s.handle_one(1000ms) == BackendSession::Step::kHandled);
    REQUIRE(s.memory().regions().size() == 1);
    // Checked translations, both ways.
    CHECK(*s.memory().gpa_of(ram.addr(0x20), 16) == 0x100020);
    CHECK(s.memory().gpa_of(ram.addr(0xfff8), 16).message() == "front-end address [" + hex(ram.addr(0xfff8)) +
                                                                    ", +0x10) is not inside one memory region");
    CHECK_FALSE(s.memory().gpa_of(ram.addr() - 1, 1).ok());
    CHECK_FALSE(s.memory().gpa_of(~0ULL, ~0ULL).ok());
    ram.base[0x20] = 0x5a;
    CHECK(**s.memory().host(0x100020, 1) == 0x5a);
    CHECK_FALSE(s.memory().host(0x10fff0, 0x20).ok());
    CHECK_FALSE(s.memory().host(0xfffff, 2).ok());
    CHECK(s.memory().host(0x10ffff, 1).ok());
    // No protocol features: the ring is live once it has everything.
    request(fe, Request::kSetVringNum, VringState{1, 8}, false);
    request(fe, Request::kSetVringAddr, VringAddress{1, 0, ram.addr(0x100), ram.addr(0x300), ram.addr(0x200), 0}, false);
    request(fe, Request::kSetVringKick, VringFile{1, true}, false);
    request(fe, Request::kSetVringCall, VringFile{1, true}, false);
    for (int i = 0; i < 4; ++i) CHECK(s.handle_one(1000ms) == BackendSession::Step::kHandled);
    CHECK(s.vring_live(1));
    CHECK_FALSE(s.vring_live(0));
    CHECK_FALSE(s.vring_live(2));
    auto v = s.vring(1);
    REQUIRE(v.has_value());
    CHECK(v->desc_gpa == 0x100100);
    CHECK(v->avail_gpa == 0x100200);
    CHECK(v->used_gpa == 0x100300);
    CHECK_FALSE(s.vring(2).has_value());
    CHECK(rec.take() == Events{"features", "mem 1", "ready 1"});

    // RESET_OWNER: back to the start, the connection stays.
    request(fe, Request::kResetOwner, {}, true);
    CHECK(s.handle_one(1000ms) == BackendSession::Step::kHandled);
    CHECK(std::get<uint64_t>(answer(fe, Request::kResetOwner)) == 0);
    CHECK(rec.take() == Events{"stop 1", "mem 0"});
    CHECK_FALSE(s.owned());
    CHECK(s.memory().empty());
    CHECK_FALSE(s.vring_live(1));

    s.close("the VM is shutting down");
    CHECK(s.closed());
    CHECK(s.fd() == -1);
    CHECK(s.close_reason() == "the VM is shutting down");
    CHECK(s.handle_one(10ms) == BackendSession::Step::kClosed);
    CHECK(rec.take() == Events{"disconnect"});
    CHECK(logs == std::vector<std::string>{"closing: the VM is shutting down"});
    auto gone = fe.receive(1000ms);
    CHECK(gone.message() == "peer closed the connection");
    created = Error{"dropped"};
  }
  CHECK(open_fds() == fds_before);
}

TEST_CASE("memory files: unsealed ones are refused unless allowed, naming the option; mmap_offset must be page-aligned") {
  auto table_for = [](const Ram& ram, uint64_t offset = 0) {
    MemoryTable t;
    t.regions.push_back(MemRegion{0, ram.size - offset, ram.addr(), offset});
    return t;
  };
  auto fds_for = [](const Ram& ram) {
    std::vector<UniqueFd> v;
    v.emplace_back(::dup(ram.fd.get()));
    return v;
  };
  Ram sealed("sealed-ram", 0x10000), unsealed("unsealed-ram", 0x10000, false);
  CHECK(MemoryMap::map(table_for(sealed), fds_for(sealed)).ok());

  auto refused = MemoryMap::map(table_for(unsealed), fds_for(unsealed), MemoryMap::SealPolicy{false, "--vhost-pci ...,allow_unsealed=on"});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.message().find("F_SEAL_SHRINK") != std::string::npos);
  CHECK(refused.message().find("--vhost-pci ...,allow_unsealed=on") != std::string::npos);
  CHECK(mappings_of("unsealed-ram") == 1);  // ours only: nothing stays mapped
  CHECK(MemoryMap::map(table_for(unsealed), fds_for(unsealed), MemoryMap::SealPolicy{true, ""}).ok());

  auto odd = MemoryMap::map(table_for(sealed, 0x100), fds_for(sealed));
  REQUIRE_FALSE(odd.ok());
  CHECK(odd.message().find("not page-aligned") != std::string::npos);
  CHECK(MemoryMap::map(table_for(sealed, 0x1000), fds_for(sealed)).ok());
}

TEST_CASE("SET_FEATURES on live rings: event_idx and the header length flip only with the rings stopped") {
  constexpr uint64_t kEventIdx = 1ULL << 29;
  BackendConfig config = net_config();
  config.features |= kEventIdx;
  Server server(config);
  Ram ram("bt-features", 0x10000);
  {
    auto f = frontend(server);
    REQUIRE(f->set_features(kNetFeatures).ok());
    vhost::MemoryRegion r{0, 0x10000, ram.addr(), ram.fd.get(), 0};
    REQUIRE(f->set_mem_table(std::span(&r, 1)).ok());
    UniqueFd kick = make_eventfd(), call = make_eventfd();
    REQUIRE(f->set_vring_num(0, 16).ok());
    REQUIRE(f->set_vring_addr(0, {ram.addr(0x1000), ram.addr(0x2000), ram.addr(0x3000), 0, 0}).ok());
    REQUIRE(f->set_vring_kick(0, kick.get()).ok());
    REQUIRE(f->set_vring_call(0, call.get()).ok());
    REQUIRE(f->set_vring_enable(0, true).ok());
    CHECK(server.rec.take() == Events{"features", "mem 1", "ready 0"});

    // Mid-stream: event_idx on and the mergeable-buffer header off. The ring stops (the device
    // answers its index), the device sees the new features, the ring resumes where it stopped.
    REQUIRE(f->set_features(kVersion1 | kEventIdx).ok());
    CHECK(server.rec.take() == Events{"stop 0", "features", "ready 0"});
    {
      std::lock_guard l(server.rec.mu);
      CHECK(server.rec.features == (kVersion1 | kEventIdx));
      CHECK(server.rec.rings[0].base == 1000);
    }
    // The same features again: nothing stops.
    REQUIRE(f->set_features(kVersion1 | kEventIdx).ok());
    CHECK(server.rec.take() == Events{"features"});
  }
  server.join();
  server.rec.kicks.clear();
  server.rec.calls.clear();
}
