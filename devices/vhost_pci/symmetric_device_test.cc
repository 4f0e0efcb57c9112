// Unit tests for the symmetric (2.1) vhost-pci-net device: two real devices meet over a Unix
// socket in a temporary directory (one listens, one dials) and the test checks what each installs
// (its own section read-write at shm_base, the peer's read-only after it, doorbells once BAR 0
// decodes), the capability, refused writes into the peer's section, a peer's leaving and a new
// peer's arrival, and the refusals of bad peers (a mismatched section, an unsealed section, a
// malformed message). VmServices is the recorder from devices/testing (no KVM in unit tests).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>

#include "base/le.h"
#include "devices/testing/recording_vm_services.h"
#include "devices/vhost_pci/link_protocol.h"
#include "devices/vhost_pci/symmetric_device.h"
#include "devices/vhost_user/connection.h"
#include "tests/tools/section_write_probe.h"

using namespace tandem;
using namespace tandem::vhost_pci;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kBar0 = 0x4000000000ULL, kShm = 0x5000000000ULL, kSection = 1ULL << 20;

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/vpci-sym-test.XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() {
    ::unlink((path + "/s.sock").c_str());
    ::unlink((path + "/t.sock").c_str());
    ::rmdir(path.c_str());
  }
};

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

struct Side {
  std::shared_ptr<testing::RecordingVmServices> vm = std::make_shared<testing::RecordingVmServices>();
  std::shared_ptr<SymmetricDevice> dev;

  Side(const std::string& socket, bool listen, uint64_t section = kSection) {
    SymmetricConfig c;
    c.socket = socket;
    c.listen = listen;
    c.section_size = section;
    c.retry = 20ms;
    c.hello_timeout = 500ms;
    auto d = SymmetricDevice::create(c, vm, kBar0, kShm);
    REQUIRE_MESSAGE(d.ok(), (d.ok() ? "" : d.message()));
    dev = *d;
  }
  // As a VMM does at exit: the bus (here the recorder) holds the device until it is unplugged.
  ~Side() { dev->unplug(); }
  uint32_t reg(uint64_t off) {
    std::array<uint8_t, 4> b{};
    dev->read(off, b);
    return *load_le<uint32_t>(b, 0);
  }
  void reg_w(uint64_t off, uint32_t v) {
    std::array<uint8_t, 4> b{};
    store_le<uint32_t>(b, 0, v);
    dev->write(off, b);
  }
  uint32_t cfg(uint32_t off, size_t w) {
    std::array<uint8_t, 4> b{};
    dev->config_read(off, std::span<uint8_t>(b.data(), w));
    return static_cast<uint32_t>(le_to_u64(std::span<const uint8_t>(b.data(), w)));
  }
  void enable_bar0() {
    std::array<uint8_t, 2> b{};
    store_le<uint16_t>(b, 0, 0x0006);  // memory space + bus master
    dev->config_write(0x04, b);
  }
  // The memslot at gpa, if any.
  std::optional<testing::RecordingVmServices::Slot> slot_at(uint64_t gpa) {
    std::lock_guard l(vm->mu);
    for (auto& [n, s] : vm->slots) {
      if (s.gpa == gpa) return s;
    }
    return std::nullopt;
  }
  bool doorbell_at(uint64_t addr) {
    std::lock_guard l(vm->mu);
    for (auto& [fd, a] : vm->doorbells) {
      if (a == addr) return true;
    }
    return false;
  }
  std::shared_ptr<BusDevice> window() {
    std::lock_guard l(vm->mu);
    return vm->mmio_devices.count(kShm) ? vm->mmio_devices[kShm] : nullptr;
  }
};

// The vendor capability's offset in config space (walking the list from 0x34).
uint32_t vendor_cap(Side& s) {
  uint32_t at = s.cfg(0x34, 1);
  for (int i = 0; i < 48 && at; ++i) {
    if (s.cfg(at, 1) == 0x09) return at;
    at = s.cfg(at + 1, 1);
  }
  return 0;
}

// A hand-made peer: a sealed section and two eventfds, and its HELLO sent on a fresh connection.
struct RawPeer {
  UniqueFd mem{::memfd_create("peer", MFD_CLOEXEC | MFD_ALLOW_SEALING)};
  UniqueFd ev1{::eventfd(0, EFD_CLOEXEC)}, ev2{::eventfd(0, EFD_CLOEXEC)};
  std::optional<vhost_user::Connection> conn;
  explicit RawPeer(const std::string& sock) {
    REQUIRE(::ftruncate(mem.get(), kSection) == 0);
    REQUIRE(::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SHRINK) == 0);
    auto c = vhost_user::Connection::connect(sock);
    REQUIRE(c);
    conn.emplace(std::move(c).value());
    hello();
  }
  void hello() {
    link::Hello h;
    h.section_size = kSection;
    int fds[] = {mem.get(), ev1.get(), ev2.get()};
    REQUIRE(conn->send(*link::encode_hello(h), fds));
  }
};

}  // namespace

TEST_CASE("a symmetric device shows its identity, capability and own section before any peer") {
  TempDir dir;
  Side a(dir.path + "/s.sock", true);
  CHECK(a.cfg(0x00, 2) == 0x1af4);
  CHECK(a.cfg(0x02, 2) == 0x10fa);
  CHECK(a.cfg(0x08, 1) == kSymmetricRevision);
  CHECK(a.reg(kRegMagic) == kMagic);
  CHECK(a.reg(kRegVersion) == kSymmetricVersion);
  CHECK(a.reg(kRegMaxQueues) == 2);
  CHECK(a.reg(kRegNumVectors) == 3);
  CHECK(a.reg(kRegLinkState) == kDown);
  CHECK(a.reg(kRegPeerGeneration) == 0);
  // No BAR 2: a sized BAR 2 would read back a size mask.
  CHECK(a.cfg(0x18, 4) == 0);
  uint32_t cap = vendor_cap(a);
  REQUIRE(cap != 0);
  CHECK(a.cfg(cap + 2, 1) == 32);
  CHECK(a.cfg(cap + 3, 1) == 0x02);
  CHECK(a.cfg(cap + 5, 1) == 0);  // the listening side
  CHECK(a.cfg(cap + 6, 2) == 0x0201);
  CHECK((a.cfg(cap + 8, 4) | static_cast<uint64_t>(a.cfg(cap + 12, 4)) << 32) == kShm);
  CHECK(a.cfg(cap + 16, 4) == kSection);
  CHECK(a.cfg(cap + 20, 4) == 0x1000);
  CHECK(a.cfg(cap + 24, 4) == 4);
  auto own = a.slot_at(kShm);
  REQUIRE(own);
  CHECK(own->size == kSection);
  CHECK_FALSE(own->read_only);
  CHECK_FALSE(a.slot_at(kShm + kSection));
  // Both sections' range has the window behind it: with no peer, its half reads all-ones and
  // writes are refused and counted.
  auto w = a.window();
  REQUIRE(w);
  std::array<uint8_t, 4> b{};
  w->read(kSection + 0x40, b);
  CHECK(*load_le<uint32_t>(b, 0) == 0xffffffffu);
  w->write(kSection + 0x40, b);
  CHECK(a.reg(kRegRoWrites) == 1);
  // Bad sizes and alignments are refused at creation.
  SymmetricConfig c;
  c.socket = dir.path + "/t.sock";
  c.section_size = 3 << 20;
  CHECK_FALSE(SymmetricDevice::create(c, std::make_shared<testing::RecordingVmServices>(), kBar0, kShm));
  c.section_size = kSection;
  CHECK_FALSE(SymmetricDevice::create(c, std::make_shared<testing::RecordingVmServices>(), kBar0, kShm + 4096));
}

TEST_CASE("two symmetric devices link up, map each other's section read-only, and survive a peer's restart") {
  TempDir dir;
  const std::string sock = dir.path + "/s.sock";
  Side a(sock, true);
  a.enable_bar0();
  a.dev->start();
  auto b = std::make_unique<Side>(sock, false);
  b->dev->start();
  REQUIRE(eventually([&] { return a.reg(kRegLinkState) == kUp && b->reg(kRegLinkState) == kUp; }));
  CHECK(a.reg(kRegPeerGeneration) == 1);
  CHECK(b->cfg(vendor_cap(*b) + 5, 1) == 1);  // the dialling side

  // Each sees the other's section, read-only, right after its own: bytes A writes into its own
  // section appear in B's read-only slot.
  auto peer_in_b = b->slot_at(kShm + kSection);
  REQUIRE(peer_in_b);
  CHECK(peer_in_b->read_only);
  CHECK(peer_in_b->size == kSection);
  std::memcpy(a.dev->own_section().data() + 0x40, "TVPS", 4);
  CHECK(std::memcmp(static_cast<uint8_t*>(peer_in_b->host) + 0x40, "TVPS", 4) == 0);
  CHECK(a.slot_at(kShm + kSection)->read_only);

  // Doorbells: A's BAR 0 decodes, so its two doorbells are ioeventfds; B's does not yet.
  CHECK(a.doorbell_at(kBar0 + kDataDoorbell));
  CHECK(a.doorbell_at(kBar0 + kSpaceDoorbell));
  CHECK_FALSE(b->doorbell_at(kBar0 + kDataDoorbell));
  b->enable_bar0();
  CHECK(b->doorbell_at(kBar0 + kDataDoorbell));
  CHECK(b->doorbell_at(kBar0 + kSpaceDoorbell));

  // B goes away (its VMM unplugs it as at exit): A takes the peer's section and doorbells down,
  // keeps its own.
  b->dev->unplug();
  b.reset();
  REQUIRE(eventually([&] { return a.reg(kRegLinkState) == kDown; }));
  CHECK_FALSE(a.slot_at(kShm + kSection));
  CHECK(a.slot_at(kShm));
  CHECK_FALSE(a.doorbell_at(kBar0 + kDataDoorbell));

  // A new B (a restarted VM) links again: a new generation, its fresh section installed.
  Side b2(sock, false);
  b2.dev->start();
  REQUIRE(eventually([&] { return a.reg(kRegLinkState) == kUp && b2.reg(kRegLinkState) == kUp; }));
  CHECK(a.reg(kRegPeerGeneration) == 2);
  auto fresh = a.slot_at(kShm + kSection);
  REQUIRE(fresh);
  CHECK(static_cast<uint8_t*>(fresh->host)[0x40] == 0);
  CHECK(a.doorbell_at(kBar0 + kDataDoorbell));

  // The listener goes: the dialling side goes down and keeps dialling.
  a.dev->unplug();
  REQUIRE(eventually([&] { return b2.reg(kRegLinkState) == kDown; }));
  CHECK(::access(sock.c_str(), F_OK) != 0);  // the listener's socket path is gone with it
}

TEST_CASE("a driver reset clears its section's ready flag") {
  TempDir dir;
  Side a(dir.path + "/s.sock", true);
  a.reg_w(kRegDriverStatus, 1);
  CHECK(a.reg(kRegDriverStatus) == 1);
  store_le<uint32_t>(a.dev->own_section(), kSectionReadyOffset, 1);
  a.reg_w(kRegDriverStatus, 0);
  CHECK(*load_le<uint32_t>(a.dev->own_section(), kSectionReadyOffset) == 0);
  // Other registers are read-only: writes to them change nothing.
  a.reg_w(kRegLinkState, kUp);
  a.reg_w(kRegRoWrites, 7);
  CHECK(a.reg(kRegLinkState) == kDown);
  CHECK(a.reg(kRegRoWrites) == 0);
}

TEST_CASE("peers with different section sizes refuse each other and stay down") {
  TempDir dir;
  const std::string sock = dir.path + "/s.sock";
  Side a(sock, true, 1ULL << 20);
  a.dev->start();
  Side b(sock, false, 2ULL << 20);
  b.dev->start();
  std::this_thread::sleep_for(300ms);
  CHECK(a.reg(kRegLinkState) == kDown);
  CHECK(b.reg(kRegLinkState) == kDown);
  CHECK(a.reg(kRegPeerGeneration) == 0);
  CHECK_FALSE(a.slot_at(kShm + (1ULL << 20)));
}

TEST_CASE("a hostile peer on the socket is refused: unsealed section, malformed header, silence, second HELLO") {
  TempDir dir;
  const std::string sock = dir.path + "/s.sock";
  Side a(sock, true);
  a.dev->start();

  auto expect_bye_and_down = [&](vhost_user::Connection& c) {
    // A's HELLO first, then its BYE.
    std::array<uint8_t, 16> h{};
    std::vector<UniqueFd> fds;
    REQUIRE(c.read_exact(h, fds, 2000ms));
    auto n = link::decode_header(h);
    REQUIRE(n);
    std::vector<uint8_t> payload(*n);
    REQUIRE(c.read_exact(payload, fds, 2000ms));
    CHECK(fds.size() == 3);
    auto bye = c.read_exact(h, fds, 2000ms);
    REQUIRE(bye);
    CHECK(load_le<uint32_t>(h, 0) == static_cast<uint32_t>(link::Type::kBye));
    CHECK(a.reg(kRegLinkState) == kDown);
  };
  UniqueFd ev1(::eventfd(0, EFD_CLOEXEC)), ev2(::eventfd(0, EFD_CLOEXEC));

  SUBCASE("a section without F_SEAL_SHRINK") {
    UniqueFd mem(::memfd_create("unsealed", MFD_CLOEXEC));
    REQUIRE(::ftruncate(mem.get(), kSection) == 0);
    auto c = vhost_user::Connection::connect(sock);
    REQUIRE(c);
    link::Hello h;
    h.section_size = kSection;
    int fds[] = {mem.get(), ev1.get(), ev2.get()};
    REQUIRE(c->send(*link::encode_hello(h), fds));
    expect_bye_and_down(*c);
  }
  SUBCASE("a header with an unknown type") {
    auto c = vhost_user::Connection::connect(sock);
    REQUIRE(c);
    std::array<uint8_t, 16> h{};
    store_le<uint32_t>(h, 0, 99);
    REQUIRE(c->send(h));
    expect_bye_and_down(*c);
  }
  SUBCASE("a peer that says nothing") {
    auto c = vhost_user::Connection::connect(sock);
    REQUIRE(c);
    expect_bye_and_down(*c);  // after hello_timeout (500 ms)
  }
  SUBCASE("a second HELLO after the link came up") {
    RawPeer peer(sock);
    REQUIRE(eventually([&] { return a.reg(kRegLinkState) == kUp; }));
    peer.hello();
    REQUIRE(eventually([&] { return a.reg(kRegLinkState) == kDown; }));
    CHECK_FALSE(a.slot_at(kShm + kSection));
  }
  // Whatever the bad peer did, a good one links afterwards.
  Side b(sock, false);
  b.dev->start();
  CHECK(eventually([&] { return a.reg(kRegLinkState) == kUp && b.reg(kRegLinkState) == kUp; }));
}

TEST_CASE("the peer's tandem cannot write our section: a read-only descriptor, sealed against new writers") {
  TempDir dir;
  const std::string sock = dir.path + "/s.sock";
  Side a(sock, true);
  a.dev->start();
  RawPeer peer(sock);
  auto& c = peer.conn;
  std::array<uint8_t, 16> hdr{};
  std::vector<UniqueFd> got;
  REQUIRE(c->read_exact(hdr, got, 2000ms));
  std::vector<uint8_t> payload(*link::decode_header(hdr));
  REQUIRE(c->read_exact(payload, got, 2000ms));
  REQUIRE(got.size() == 3);
  CHECK((::fcntl(got[0].get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  CHECK((::fcntl(got[0].get(), F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)) ==
        (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL));
  a.dev->own_section()[100] = 0x11;  // our own mapping stays writable
  for (const auto& attempt : testing::probe_section_writes(got[0].get(), kSection)) {
    INFO(attempt.how << ": " << attempt.error);
    CHECK(attempt.refused);
  }
  CHECK(a.dev->own_section()[0] != 0x5a);  // nothing the probe wrote (it writes 0x5a) reached us
  CHECK(a.dev->own_section()[100] == 0x11);
  CHECK(eventually([&] { return a.reg(kRegLinkState) == kUp; }));
}

TEST_CASE("a hostile peer VMM (tests/tools/link_section_writer, its own process) finds every write path closed") {
  TempDir dir;
  const std::string sock = dir.path + "/s.sock";
  Side a(sock, true);
  a.dev->start();
  const std::string out = dir.path + "/writer.out";
  const std::string cmd = "tests/tools/link_section_writer --socket " + sock + " --section-size " + std::to_string(kSection) + " > " + out + " 2>&1";
  int status = std::system(cmd.c_str());
  std::string text;
  if (FILE* f = std::fopen(out.c_str(), "r")) {
    char buf[4096];
    size_t n = std::fread(buf, 1, sizeof buf, f);
    text.assign(buf, n);
    std::fclose(f);
    ::unlink(out.c_str());
  }
  MESSAGE(text);  // the tool's report, in the test log
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(text.find("its descriptor is read-only") != std::string::npos);
  CHECK(text.find("mmap(PROT_WRITE, MAP_SHARED): refused") != std::string::npos);
  CHECK(text.find("mprotect(PROT_WRITE) of a read-only mapping: refused") != std::string::npos);
  CHECK(text.find("SUCCEEDED") == std::string::npos);
}
