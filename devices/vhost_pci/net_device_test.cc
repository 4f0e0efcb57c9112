// Unit tests for devices/vhost_pci: a real vhost-user front-end (devices/vhost_user/frontend.h)
// connects to the device over its Unix socket with a memfd "peer RAM"; the test checks what the
// device installs (memslots in BAR 2, irqfds from the peer's kickfds, ioeventfds to its callfds),
// the metadata page, the stop handshake (acked by the test acting as the driver, or answered from
// used.idx without one), BAR moves, and the unwinding when the peer goes away. VmServices is the
// recorder from devices/testing (no KVM in unit tests).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "base/le.h"
#include "devices/testing/recording_vm_services.h"
#include "devices/vhost_pci/net_device.h"
#include "devices/vhost_user/frontend.h"
#include "memory/guest_memory.h"
#include "memory/ram.h"

using namespace tandem;
using namespace tandem::vhost_pci;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kBar0 = 0x4000000000ULL, kBar2 = 0x4400000000ULL, kPeerRam = 16 * MiB;
constexpr uint64_t kDesc = 0x10000, kAvail = 0x11000, kUsed = 0x12000;

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/vpci-test.XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() {
    ::unlink((path + "/s.sock").c_str());
    ::rmdir(path.c_str());
  }
};

struct Fixture {
  TempDir dir;
  std::shared_ptr<testing::RecordingVmServices> vm = std::make_shared<testing::RecordingVmServices>();
  std::shared_ptr<NetDevice> dev;
  GuestMemory peer = std::move(GuestMemory::create({{0, kPeerRam}}, "peer-ram")).value();
  UniqueFd kick[2], call[2];
  int peer_fd = peer.fd();  // what the front-end shares (connect_peer)
  uint8_t* peer_host = peer.regions()[0].host;

  explicit Fixture(std::shared_ptr<testing::RecordingVmServices> services = nullptr, std::chrono::milliseconds silent = 10s,
                   bool allow_unsealed = false) {
    if (services) vm = std::move(services);
    Config c;
    c.socket = dir.path + "/s.sock";
    c.stop_timeout = 300ms;
    c.silent_peer_timeout = silent;
    c.allow_unsealed = allow_unsealed;
    auto d = NetDevice::create(c, vm, kBar0, kBar2);
    REQUIRE_MESSAGE(d.ok(), (d.ok() ? "" : d.message()));
    dev = *d;
    for (int i = 0; i < 2; ++i) {
      kick[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      call[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    }
  }
  uint32_t reg(uint64_t off) {
    std::array<uint8_t, 4> b{};
    dev->read(off, b);
    return *load_le<uint32_t>(b, 0);
  }
  void reg_w(uint64_t off, uint32_t v, size_t width = 4) {
    std::array<uint8_t, 4> b{};
    u64_to_le(v, std::span<uint8_t>(b.data(), width));
    dev->write(off, std::span<const uint8_t>(b.data(), width));
  }
  void cfg_w(uint32_t off, uint32_t v, size_t w) {
    std::array<uint8_t, 4> b{};
    u64_to_le(v, std::span<uint8_t>(b.data(), w));
    dev->config_write(off, std::span<const uint8_t>(b.data(), w));
  }
  uint32_t cfg(uint32_t off, size_t w) {
    std::array<uint8_t, 4> b{};
    dev->config_read(off, std::span<uint8_t>(b.data(), w));
    return static_cast<uint32_t>(le_to_u64(std::span<const uint8_t>(b.data(), w)));
  }
  // What the guest driver does first: decode on, MSI-X enabled, vectors unmasked.
  void driver_setup() {
    cfg_w(0x04, 0x6, 2);
    uint32_t cap = 0;
    for (uint32_t p = cfg(0x34, 1); p; p = cfg(p + 1, 1)) {
      if (cfg(p, 1) == 0x11) cap = p;
    }
    REQUIRE(cap != 0);
    for (uint32_t v = 0; v < 3; ++v) {
      reg_w(kMsixTableOffset + 16 * v, 0xfee00000);
      reg_w(kMsixTableOffset + 16 * v + 8, 0x40 + v);
      reg_w(kMsixTableOffset + 16 * v + 12, 0);
    }
    cfg_w(cap + 2, 0x8000, 2);
  }
  // The metadata page as the guest sees it (through the read-only memslot at BAR 2).
  std::span<const uint8_t> meta() {
    std::lock_guard l(vm->mu);
    for (auto& [slot, s] : vm->slots) {
      if (s.read_only) return {static_cast<const uint8_t*>(s.host), kMetaSize};
    }
    return {};
  }
  bool wait_link(uint32_t want) {
    for (int i = 0; i < 300; ++i) {
      if (reg(0x14) == want) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  std::unique_ptr<vhost_user::Frontend> connect_peer(bool enable_rings = true) {
    auto fe = vhost_user::Frontend::connect(dir.path + "/s.sock", 2000ms);
    REQUIRE_MESSAGE(fe.ok(), (fe.ok() ? "" : fe.message()));
    auto& f = **fe;
    REQUIRE(f.set_owner().ok());
    auto feats = f.get_features();
    REQUIRE(feats.ok());
    CHECK((*feats & (1ULL << 32)));
    CHECK((*feats & (1ULL << 15)));
    REQUIRE(f.set_features(1ULL << 32).ok());
    vhost::MemoryRegion r{0, kPeerRam, reinterpret_cast<uint64_t>(peer_host), peer_fd, 0};
    REQUIRE(f.set_mem_table(std::span<const vhost::MemoryRegion>(&r, 1)).ok());
    if (!enable_rings) return std::move(fe).value();
    for (uint32_t i = 0; i < 2; ++i) {
      uint64_t base = reinterpret_cast<uint64_t>(peer_host) + i * 0x100000;
      REQUIRE(f.set_vring_num(i, 256).ok());
      REQUIRE(f.set_vring_base(i, 0).ok());
      REQUIRE(f.set_vring_addr(i, vhost::VringAddr{base + kDesc, base + kAvail, base + kUsed, 0, 0}).ok());
      REQUIRE(f.set_vring_kick(i, kick[i].get()).ok());
      REQUIRE(f.set_vring_call(i, call[i].get()).ok());
      REQUIRE(f.set_vring_enable(i, true).ok());
    }
    return std::move(fe).value();
  }
};

bool readable(int fd) {
  uint64_t v = 0;
  return ::read(fd, &v, sizeof v) == sizeof v && v > 0;
}
void kick_fd(int fd) {
  uint64_t one = 1;
  REQUIRE(::write(fd, &one, sizeof one) == sizeof one);
}

}  // namespace

TEST_CASE("identity, registers and the layout capability") {
  Fixture f;
  CHECK(f.cfg(0x00, 4) == 0x10fa1af4);
  CHECK((f.cfg(0x08, 4) >> 8) == 0x028000);
  CHECK(f.reg(0x00) == kMagic);
  CHECK(f.reg(0x04) == kVersion);
  CHECK(f.reg(0x08) == 2);
  CHECK(f.reg(0x0c) == 3);
  CHECK(f.reg(0x14) == kDown);
  // Odd widths and unknown offsets: all-ones, or zero.
  std::array<uint8_t, 2> two{};
  f.dev->read(0x00, two);
  CHECK(two[0] == 0xff);
  CHECK(f.reg(0x80) == 0);
  f.reg_w(0x20, 0x0100);  // STOP_ACK with bits 8..15 set: ignored, no crash
  // A second device on the same live socket is refused.
  Config c;
  c.socket = f.dir.path + "/s.sock";
  auto second = NetDevice::create(c, f.vm, kBar0, kBar2);
  CHECK_FALSE(second.ok());
}

TEST_CASE("a peer connects: peer RAM in BAR 2, kicks raise vectors, doorbells reach the peer, metadata says UP") {
  Fixture f;
  f.driver_setup();
  {
    std::lock_guard l(f.vm->mu);
    CHECK(f.vm->mmio.count(kBar0));
    CHECK(f.vm->mmio.count(kBar2));
    CHECK(f.vm->slots.size() == 1);  // only the metadata page so far
  }
  f.dev->start();
  auto fe = f.connect_peer();
  REQUIRE(f.wait_link(kUp));
  auto m = f.meta();
  REQUIRE(m.size() == kMetaSize);
  CHECK(*load_le<uint32_t>(m, 0) == kMetaMagic);
  CHECK(*load_le<uint32_t>(m, 0x08) % 2 == 0);  // generation even: stable
  CHECK(*load_le<uint32_t>(m, 0x0c) == kUp);
  CHECK(*load_le<uint32_t>(m, 0x10) == 1);      // session
  CHECK(*load_le<uint32_t>(m, 0x14) == 1);      // nregions
  CHECK(*load_le<uint64_t>(m, 0x20) == (1ULL << 32));
  CHECK(*load_le<uint64_t>(m, 0x40) == 0);               // region 0 gpa
  CHECK(*load_le<uint64_t>(m, 0x48) == kPeerRam);        // size
  CHECK(*load_le<uint64_t>(m, 0x50) == kFirstRegionOffset);
  CHECK(*load_le<uint32_t>(m, 0x140) == 7);              // queue 0: LIVE | KICK_IRQ | CALL_DOORBELL
  CHECK(*load_le<uint16_t>(m, 0x144) == 256);
  CHECK(*load_le<uint64_t>(m, 0x148) == kDesc);
  CHECK(*load_le<uint64_t>(m, 0x140 + 48 + 8) == 0x100000 + kDesc);  // queue 1's rings
  CHECK(*load_le<uint32_t>(m, 0x140 + 48 + 0x24) == 0x1004);
  // The peer's RAM is a memslot at BAR 2 + 2 MiB whose bytes are the peer's.
  uint8_t* host = nullptr;
  {
    std::lock_guard l(f.vm->mu);
    for (auto& [slot, s] : f.vm->slots) {
      if (!s.read_only) {
        CHECK(s.gpa == kBar2 + kFirstRegionOffset);
        CHECK(s.size == kPeerRam);
        host = static_cast<uint8_t*>(s.host);
      }
    }
  }
  REQUIRE(host != nullptr);
  REQUIRE(f.peer.write_le<uint32_t>(0x5000, 0xfeedbeef).ok());
  CHECK(*load_le<uint32_t>(std::span<const uint8_t>(host + 0x5000, 4), 0) == 0xfeedbeef);
  // Kicks: the irqfd for vector 1 (GSI 25) is the peer's vring-0 kickfd.
  int irq_v1 = -1, irq_v2 = -1;
  std::vector<std::pair<int, uint64_t>> bells;
  {
    std::lock_guard l(f.vm->mu);
    for (auto [fd, gsi] : f.vm->irqfds) {
      if (gsi == 25) irq_v1 = fd;
      if (gsi == 26) irq_v2 = fd;
    }
    bells.assign(f.vm->doorbells.begin(), f.vm->doorbells.end());
  }
  REQUIRE(irq_v1 >= 0);
  REQUIRE(irq_v2 >= 0);
  kick_fd(f.kick[0].get());
  CHECK(readable(irq_v1));
  kick_fd(f.kick[1].get());
  CHECK(readable(irq_v2));
  // Doorbells: BAR0 0x1000 + 4i signal the peer's callfd of vring i.
  REQUIRE(bells.size() == 2);
  for (auto [fd, addr] : bells) {
    kick_fd(fd);
    int i = addr == kBar0 + 0x1000 ? 0 : 1;
    CHECK(addr == kBar0 + 0x1000 + 4 * static_cast<uint64_t>(i));
    CHECK(readable(f.call[i].get()));
  }
}

TEST_CASE("GET_VRING_BASE: the driver acknowledges with its last_avail; without a driver, used.idx answers") {
  Fixture f;
  f.driver_setup();
  f.dev->start();
  auto fe = f.connect_peer();
  REQUIRE(f.wait_link(kUp));
  f.reg_w(0x10, 1);  // DRIVER_OK
  std::thread driver([&] {
    for (int i = 0; i < 300; ++i) {
      if (f.reg(0x18) & 1) {
        f.reg_w(0x20, 0 | (42u << 16));
        return;
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  auto base = fe->get_vring_base(0);
  driver.join();
  REQUIRE(base.ok());
  CHECK(*base == 42);
  CHECK(f.reg(0x18) == 0);
  CHECK(f.wait_link(kNegotiating));
  // No driver: the peer's used index is the answer.
  f.reg_w(0x10, 0);
  REQUIRE(f.peer.write_le<uint16_t>(0x100000 + kUsed + 2, 7).ok());
  auto base1 = fe->get_vring_base(1);
  REQUIRE(base1.ok());
  CHECK(*base1 == 7);
  // No live ring: memory withdrawn, doorbells gone.
  CHECK(*load_le<uint32_t>(f.meta(), 0x14) == 0);
  std::lock_guard l(f.vm->mu);
  CHECK(f.vm->slots.size() == 1);
  CHECK(f.vm->doorbells.empty());
}

TEST_CASE("a driver that never acknowledges: the stop times out and used.idx answers") {
  Fixture f;
  f.driver_setup();
  f.dev->start();
  auto fe = f.connect_peer();
  REQUIRE(f.wait_link(kUp));
  f.reg_w(0x10, 1);
  REQUIRE(f.peer.write_le<uint16_t>(kUsed + 2, 3).ok());
  auto t0 = std::chrono::steady_clock::now();
  auto base = fe->get_vring_base(0);
  REQUIRE(base.ok());
  CHECK(*base == 3);
  CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);  // it did wait for the driver
}

TEST_CASE("a peer that connects before the guest enables BAR 2: its regions are listed once the BAR decodes") {
  Fixture f;
  f.dev->start();
  auto fe = f.connect_peer();  // VM2's VMM reconnects while VM1's guest is still booting
  REQUIRE(f.wait_link(kUp));
  {
    std::lock_guard l(f.vm->mu);
    CHECK(f.vm->slots.empty());  // nothing decodes yet: no metadata page, no peer RAM
  }
  f.driver_setup();  // decode on
  auto m = f.meta();
  REQUIRE(m.size() == kMetaSize);
  CHECK(*load_le<uint32_t>(m, 0x08) % 2 == 0);
  CHECK(*load_le<uint32_t>(m, 0x14) == 1);  // nregions: the peer RAM is there
  CHECK(*load_le<uint64_t>(m, 0x48) == kPeerRam);
  CHECK(*load_le<uint32_t>(m, 0x140) == 7);  // and queue 0 is LIVE
  std::lock_guard l(f.vm->mu);
  CHECK(f.vm->slots.size() == 2);
}

TEST_CASE("moving BAR 2 while the peer is live moves the metadata page and the peer's RAM") {
  Fixture f;
  f.driver_setup();
  f.dev->start();
  auto fe = f.connect_peer();
  REQUIRE(f.wait_link(kUp));
  constexpr uint64_t kNew = 0x4800000000ULL;
  f.cfg_w(0x18, static_cast<uint32_t>(kNew), 4);
  f.cfg_w(0x1c, static_cast<uint32_t>(kNew >> 32), 4);
  std::lock_guard l(f.vm->mu);
  CHECK(f.vm->mmio.count(kNew));
  CHECK_FALSE(f.vm->mmio.count(kBar2));
  REQUIRE(f.vm->slots.size() == 2);
  for (auto& [slot, s] : f.vm->slots) CHECK(s.gpa == (s.read_only ? kNew : kNew + kFirstRegionOffset));
}

TEST_CASE("the peer goes away: everything is unwired and the link is DOWN; a new peer gets a new session") {
  Fixture f;
  f.driver_setup();
  f.dev->start();
  {
    auto fe = f.connect_peer();
    REQUIRE(f.wait_link(kUp));
  }
  REQUIRE(f.wait_link(kDown));
  {
    std::lock_guard l(f.vm->mu);
    CHECK(f.vm->slots.size() == 1);
    CHECK(f.vm->doorbells.empty());
    for (auto [fd, gsi] : f.vm->irqfds) CHECK(fd != f.kick[0].get());
  }
  CHECK(*load_le<uint32_t>(f.meta(), 0x14) == 0);
  auto fe = f.connect_peer();
  REQUIRE(f.wait_link(kUp));
  CHECK(*load_le<uint32_t>(f.meta(), 0x10) == 2);
}

TEST_CASE("a peer whose memory does not fit the BAR is refused, the device keeps serving") {
  Fixture f;
  f.dev->start();
  auto fe = vhost_user::Frontend::connect(f.dir.path + "/s.sock", 2000ms);
  REQUIRE(fe.ok());
  REQUIRE((*fe)->set_owner().ok());
  // A 20 GiB region claim over a 16 MiB memfd is refused by the session (fd too short) or by the
  // device (does not fit 16 GiB): either way a failure answer, not a crash.
  vhost::MemoryRegion r{0, 20ULL << 30, reinterpret_cast<uint64_t>(f.peer.regions()[0].host), f.peer.fd(), 0};
  CHECK_FALSE((*fe)->set_mem_table(std::span<const vhost::MemoryRegion>(&r, 1)).ok());
  CHECK(f.reg(0x00) == kMagic);
}

namespace {
// KVM refusing to remove a read-write memslot (the peer's RAM): a fault no real run provokes.
struct StickySlots : testing::RecordingVmServices {
  Status remove_memslot(uint32_t slot) override {
    {
      std::lock_guard l(mu);
      if (slots.count(slot) && !slots[slot].read_only) return Error{"KVM_SET_USER_MEMORY_REGION: Invalid argument (simulated)"};
    }
    return RecordingVmServices::remove_memslot(slot);
  }
};
int peer_ram_mappings() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) n += line.find("/memfd:peer-ram") != std::string::npos;
  return n;
}
}  // namespace

TEST_CASE("a memslot KVM will not remove: the peer's memory stays mapped and the device takes no new peer") {
  Fixture f(std::make_shared<StickySlots>());
  f.driver_setup();
  f.dev->start();
  const int ours = peer_ram_mappings();  // the fixture's own mapping of the peer's RAM
  {
    auto fe = f.connect_peer();
    REQUIRE(f.wait_link(kUp));
    CHECK(peer_ram_mappings() == ours + 1);  // the session's
  }
  REQUIRE(f.wait_link(kDown));
  CHECK(peer_ram_mappings() == ours + 1);  // kept: KVM may still map the BAR onto it
  // A new peer is refused when its rings would need the memory installed again.
  auto fe = vhost_user::Frontend::connect(f.dir.path + "/s.sock", 2000ms);
  REQUIRE(fe.ok());
  REQUIRE((*fe)->set_owner().ok());
  REQUIRE((*fe)->set_features(1ULL << 32).ok());
  vhost::MemoryRegion r{0, kPeerRam, reinterpret_cast<uint64_t>(f.peer.regions()[0].host), f.peer.fd(), 0};
  REQUIRE((*fe)->set_mem_table(std::span<const vhost::MemoryRegion>(&r, 1)).ok());
  uint64_t base = reinterpret_cast<uint64_t>(f.peer.regions()[0].host);
  REQUIRE((*fe)->set_vring_num(0, 256).ok());
  REQUIRE((*fe)->set_vring_addr(0, vhost::VringAddr{base + kDesc, base + kAvail, base + kUsed, 0, 0}).ok());
  REQUIRE((*fe)->set_vring_kick(0, f.kick[0].get()).ok());
  REQUIRE((*fe)->set_vring_call(0, f.call[0].get()).ok());
  CHECK_FALSE((*fe)->set_vring_enable(0, true).ok());
  CHECK_FALSE(f.wait_link(kUp));
}

TEST_CASE("a peer that connects and says nothing is dropped after the timeout; the next one is served") {
  Fixture f(nullptr, 300ms);
  f.dev->start();
  auto silent = vhost_user::Connection::connect(f.dir.path + "/s.sock");
  REQUIRE(silent.ok());
  // tandem closes it: a read sees the end of the stream within the timeout and some slack.
  std::array<uint8_t, 1> b{};
  std::vector<UniqueFd> fds;
  auto r = silent->read_exact(b, fds, 3000ms);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message().find("closed") != std::string::npos);
  auto fe = f.connect_peer();
  CHECK(f.wait_link(kUp));
}

TEST_CASE("the socket is owner-only (0600), and a regular file at its path is refused and left alone") {
  Fixture f;
  struct stat st {};
  REQUIRE(::stat((f.dir.path + "/s.sock").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::string file = f.dir.path + "/typo.sock";
  {
    UniqueFd fd(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    REQUIRE(::write(fd.get(), "data", 4) == 4);
  }
  Config c;
  c.socket = file;
  auto d = NetDevice::create(c, f.vm, 0x4800000000ULL, 0x4c00000000ULL);
  REQUIRE_FALSE(d.ok());
  CHECK(d.message().find("is not a socket") != std::string::npos);
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK(st.st_size == 4);
  ::unlink(file.c_str());
}

namespace {
// A peer whose RAM is an unsealed memfd (the device allows it: allow_unsealed), which it may truncate.
struct ShrinkingPeer {
  UniqueFd fd{::memfd_create("peer-ram-unsealed", MFD_CLOEXEC)};
  Mapping map;
  ShrinkingPeer() {
    REQUIRE(fd);
    REQUIRE(::ftruncate(fd.get(), kPeerRam) == 0);
    auto m = Mapping::map(kPeerRam, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    REQUIRE(m.ok());
    map = std::move(m).value();
  }
};

// The guest's view of the peer's RAM: the host pointer behind the writable memslot in BAR 2.
uint8_t* guest_view(testing::RecordingVmServices& vm) {
  std::lock_guard l(vm.mu);
  for (auto& [slot, s] : vm.slots)
    if (!s.read_only) return static_cast<uint8_t*>(s.host);
  return nullptr;
}

// A device that allows unsealed memory, live with a ShrinkingPeer. With sticky slots the session's
// mapping, which `seen` (the guest's view) points into, outlives the peer's drop; without, a new
// peer can be taken afterwards.
struct LiveShrinkingPeer {
  Fixture f;
  ShrinkingPeer p;
  std::unique_ptr<vhost_user::Frontend> fe;
  uint8_t* seen = nullptr;
  explicit LiveShrinkingPeer(bool sticky = true)
      : f(sticky ? std::make_shared<StickySlots>() : nullptr, 10s, true) {
    f.peer_fd = p.fd.get();
    f.peer_host = p.map.data();
    f.driver_setup();
    f.dev->start();
    fe = f.connect_peer();
    REQUIRE(f.wait_link(kUp));
    seen = guest_view(*f.vm);
    REQUIRE(seen != nullptr);
  }
};

bool peer_dropped(vhost_user::Frontend& fe) {
  for (int i = 0; i < 300; ++i) {
    if (!fe.get_features().ok()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}
}  // namespace

TEST_CASE("a peer truncates its unsealed memory: a vCPU's EFAULT is repaired with zero pages, the link goes down, the peer is dropped") {
  LiveShrinkingPeer live;
  auto& [f, p, fe, seen] = live;
  p.map.data()[0x2000] = 0x77;
  CHECK(seen[0x2000] == 0x77);
  // Nothing is lost yet: the repair changes nothing, but answers true while the peer's unsealed
  // memory is mapped (a file truncated and grown again leaves nothing to repair: run again).
  CHECK(f.vm->repair_memory_fault());
  CHECK(seen[0x2000] == 0x77);
  CHECK(f.reg(0x14) == kUp);
  REQUIRE(::ftruncate(p.fd.get(), 0) == 0);  // a plain load of `seen` would now raise SIGBUS
  CHECK(f.vm->repair_memory_fault());
  CHECK(seen[0x2000] == 0);  // zero pages at the same address: the memslot stays valid
  seen[0x2000] = 1;          // and writable, in private pages
  CHECK(f.wait_link(kDown));
  CHECK(peer_dropped(*fe));
  // Another vCPU that faulted on the same pages runs again too (the repair was done already).
  CHECK(f.vm->repair_memory_fault());
}

TEST_CASE("a peer truncates its unsealed memory before GET_VRING_BASE: the used index read is no SIGBUS") {
  LiveShrinkingPeer live(false);
  auto& [f, p, fe, seen] = live;
  store_le<uint16_t>(std::span<uint8_t>(p.map.data() + kUsed, 4), 2, 9);
  REQUIRE(::ftruncate(p.fd.get(), 0) == 0);
  auto base = fe->get_vring_base(0);  // no driver: the device reads used.idx, which is gone
  if (base.ok()) CHECK(*base == 0);   // the ring's own start, not a number from lost memory
  CHECK(f.wait_link(kDown));
  CHECK(peer_dropped(*fe));
  // The device serves the next peer (sealed memory this time).
  f.peer_fd = f.peer.fd();
  f.peer_host = f.peer.regions()[0].host;
  auto fe2 = f.connect_peer();
  CHECK(f.wait_link(kUp));
}

TEST_CASE("with sealed memory (the default) no repair is registered; unplugging removes one") {
  {
    Fixture f;
    f.dev->start();
    std::lock_guard l(f.vm->mu);
    CHECK(f.vm->repairs.empty());
  }
  Fixture f(nullptr, 10s, true);
  f.dev->start();
  {
    std::lock_guard l(f.vm->mu);
    CHECK(f.vm->repairs.size() == 1);
  }
  f.dev->unplug();
  std::lock_guard l(f.vm->mu);
  CHECK(f.vm->repairs.empty());
}

TEST_CASE("a peer truncates its unsealed memory and nothing touches it: the watched file alone drops the peer") {
  LiveShrinkingPeer live;
  auto& [f, p, fe, seen] = live;
  REQUIRE(::ftruncate(p.fd.get(), 0) == 0);
  CHECK(f.wait_link(kDown));  // the serve thread saw the size change (inotify) and repaired it
  CHECK(peer_dropped(*fe));
  CHECK(seen[0x1000] == 0);  // zero pages: no SIGBUS for whoever touches it next
}
