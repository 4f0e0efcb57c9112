// devices/vhost_pci/symmetric_device.cc: vhost-pci-net 2.1: the output sections, the link between
// the two tandems, KVM-routed doorbells, refused writes into the peer's section
// (docs/vhost-pci-net.md §9).
#include "devices/vhost_pci/symmetric_device.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "base/eventfd.h"
#include "base/hex.h"
#include "base/le.h"
#include "base/log.h"
#include "base/worker_thread.h"

namespace tandem::vhost_pci {

namespace {

constexpr uint8_t kCapKindSymmetric = 0x02;
constexpr auto kSendTimeout = std::chrono::milliseconds(5000);
constexpr auto kByeTimeout = std::chrono::milliseconds(200);
constexpr uint32_t kRoWriteLogLimit = 4;  // the first few refused writes are logged, all are counted

PciIds ids() {
  PciIds i;
  i.vendor = 0x1af4;
  i.device = 0x10fa;
  i.revision = kSymmetricRevision;
  i.class_code = 0x02;
  i.subclass = 0x80;
  i.subsystem_vendor = 0x1af4;
  i.subsystem = 0x10fa;
  return i;
}

}  // namespace

// Behind both sections. The guest's own section is a read-write memslot and never exits; the
// peer's is a read-only memslot while a peer is installed. What reaches here: writes into the
// peer's section (refused: counted, dropped) and any access while no peer is installed (reads see
// all-ones).
class SymmetricDevice::Window : public BusDevice {
 public:
  Window(SymmetricDevice& owner, uint64_t section_size) : owner_(owner), section_size_(section_size) {}
  void read(uint64_t, std::span<uint8_t> data) override { std::memset(data.data(), 0xff, data.size()); }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset < section_size_) return;  // own section without its memslot: cannot happen; dropped
    uint32_t n = owner_.ro_writes_.fetch_add(1) + 1;
    if (n <= kRoWriteLogLimit) {
      owner_.log("the guest wrote " + std::to_string(data.size()) + " bytes into the peer's read-only section at +" +
                 hex(offset - section_size_) + "; refused" + (n == kRoWriteLogLimit ? " (further ones are only counted in RO_WRITES)" : ""));
    }
  }
  std::string name() const override { return "vhost-pci-net shared sections"; }

 private:
  SymmetricDevice& owner_;
  const uint64_t section_size_;
};

// The output section: a memfd sealed so that neither side can shrink or grow it under the other
// (a shrunk file would fault the peer's KVM on its next access), then, once our own writable
// mapping exists, against any new writable mapping or write (F_SEAL_FUTURE_WRITE): the peer gets
// a read-only file description, and even a reopen of it through /proc/self/fd (which would give
// back write access to a plain file) cannot map it writable.
Result<SymmetricDevice::OutputSection> SymmetricDevice::OutputSection::create(uint64_t size) {
  OutputSection s;
  s.fd.reset(::memfd_create("tandem-vhost-pci-section", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!s.fd) return errno_error("memfd_create for the output section");
  if (::ftruncate(s.fd.get(), static_cast<off_t>(size)) != 0) return errno_error("sizing the output section");
  if (::fcntl(s.fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) return errno_error("sealing the output section's size");
  auto map = Mapping::map(size, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd.get(), 0);
  if (!map) return Error{"output section: " + map.message()};
  s.map = std::move(map).value();
  if (::fcntl(s.fd.get(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) return errno_error("sealing the output section against writers");
  const std::string self = "/proc/self/fd/" + std::to_string(s.fd.get());
  s.peer_fd.reset(::open(self.c_str(), O_RDONLY | O_CLOEXEC));
  if (!s.peer_fd) return errno_error("a read-only descriptor of the output section (" + self + ")");
  return s;
}

SymmetricDevice::SymmetricDevice(const SymmetricConfig& cfg, std::shared_ptr<VmServices> vm, uint64_t shm_base)
    : cfg_(cfg), vm_(std::move(vm)), shm_base_(shm_base), fn_(ids(), *vm_, name()) {}

Result<std::shared_ptr<SymmetricDevice>> SymmetricDevice::create(const SymmetricConfig& cfg, std::shared_ptr<VmServices> vm,
                                                                 uint64_t bar0, uint64_t shm_base) {
  if (auto ok = link::check_section_size(cfg.section_size); !ok) return Error{"vhost-pci-net (symmetric): " + ok.message()};
  if (shm_base % cfg.section_size) return Error{"vhost-pci-net (symmetric): shm_base " + hex(shm_base) + " is not aligned to the section size"};
  std::shared_ptr<SymmetricDevice> d(new SymmetricDevice(cfg, std::move(vm), shm_base));
  const std::string who = d->name();
  d->wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!d->wake_) return errno_error(who + ": eventfd");

  // PCI identity, BAR 0, MSI-X, and the capability that says where the sections are (§9.2).
  TANDEM_TRY(d->fn_.add_bar(0, BarKind::kMem64, kBar0Size, bar0));
  TANDEM_TRY(d->fn_.add_msix(kSymmetricVectors, 0, kMsixTableOffset, kMsixPbaOffset));
  d->fn_.serve_bar(0, d);
  d->fn_.on_bar_moved([raw = d.get()](uint8_t, std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr) {
    raw->move_doorbells_locked(old_addr, new_addr);
  });
  std::array<uint8_t, 30> layout{};  // the capability from its byte 2 on
  layout[0] = 32;                    // cap_len
  layout[1] = kCapKindSymmetric;
  layout[2] = 0;                     // registers in BAR 0
  layout[3] = cfg.listen ? 0 : 1;    // side
  store_le<uint16_t>(layout, 4, 0x0201);
  store_le<uint64_t>(layout, 6, shm_base);
  store_le<uint32_t>(layout, 14, static_cast<uint32_t>(cfg.section_size));
  store_le<uint32_t>(layout, 18, static_cast<uint32_t>(kDoorbellOffset));
  store_le<uint32_t>(layout, 22, 4);
  if (auto c = d->fn_.add_capability(pci::kCapVendor, layout); !c) return c.error();

  auto section = OutputSection::create(cfg.section_size);
  if (!section) return Error{who + ": " + section.message()};
  d->own_ = std::move(section).value();
  d->window_ = std::make_shared<Window>(*d, cfg.section_size);
  if (auto s = d->vm_->map_mmio(d->window_, shm_base, window_size(cfg.section_size)); !s) {
    return Error{who + ": the section window at " + hex(shm_base) + ": " + s.message()};
  }
  d->window_mapped_ = true;
  auto slot = d->vm_->add_memslot(shm_base, cfg.section_size, d->own_.map.data(), false);
  if (!slot) {
    d->unplug();
    return Error{who + ": output section at " + hex(shm_base) + ": " + slot.message()};
  }
  d->own_slot_ = *slot;

  if (cfg.listen) {
    auto listener = vhost_user::Listener::bind(cfg.socket, cfg.peers);
    if (!listener) {
      d->unplug();
      return Error{who + ": " + listener.message()};
    }
    d->listener_.emplace(std::move(listener).value());
  }
  return d;
}

SymmetricDevice::~SymmetricDevice() { unplug(); }

void SymmetricDevice::log(const std::string& what) const { log_line(name(), what); }

void SymmetricDevice::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { serve(); });
}

void SymmetricDevice::stop() {
  stopping_.store(true);
  signal_eventfd(wake_.get());
  if (thread_.joinable()) thread_.join();
}

void SymmetricDevice::unplug() {
  stop();
  withdraw_peer();
  std::lock_guard lock(mu_);
  fn_.disable();  // BAR 0 goes; a config write cannot map it again
  if (own_slot_) (void)vm_->remove_memslot(*own_slot_);
  own_slot_.reset();
  if (window_mapped_) (void)vm_->unmap_mmio(shm_base_);
  window_mapped_ = false;
  listener_.reset();  // removes the socket path
}

uint32_t SymmetricDevice::link_state() const {
  std::lock_guard lock(mu_);
  return link_;
}

uint32_t SymmetricDevice::peer_generation() const {
  std::lock_guard lock(mu_);
  return peer_generation_;
}

// ---- The link thread ---------------------------------------------------------------------------

bool SymmetricDevice::wait_wake(int fd, int timeout_ms) {
  for (;;) {
    pollfd p[2] = {{wake_.get(), POLLIN, 0}, {fd, POLLIN, 0}};
    int n = ::poll(p, fd >= 0 ? 2 : 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (stopping_.load() || p[0].revents) return false;
    if (n < 0) {
      log(errno_error("poll").message);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return false;
    }
    return n > 0;
  }
}

std::optional<vhost_user::Connection> SymmetricDevice::next_connection() {
  if (listener_) {
    while (!stopping_.load()) {
      if (!wait_wake(listener_->fd(), -1)) continue;
      auto conn = listener_->accept(std::chrono::milliseconds(0));
      if (conn) return std::move(conn).value();
      log(conn.message());  // refused (another user), or gone before we took it
    }
    return std::nullopt;
  }
  std::string said;  // the last reason logged: each new one once, not every retry
  while (!stopping_.load()) {
    auto conn = vhost_user::Connection::connect(cfg_.socket);
    std::string why = conn ? std::string() : conn.message();
    // Whoever listens there must be who we expect too (our uid, or peer_uid=/peer_gid=): a socket
    // another user bound first at that path gets neither our HELLO nor our section.
    if (conn) {
      auto ok = check_peer(conn->fd(), cfg_.peers);
      if (ok) return std::move(conn).value();
      why = ok.message();
    }
    if (why != said) log("waiting for the peer at " + cfg_.socket + " (" + why + "); trying every " + std::to_string(cfg_.retry.count()) + " ms");
    said = why;
    wait_wake(-1, static_cast<int>(cfg_.retry.count()));
  }
  return std::nullopt;
}

void SymmetricDevice::serve() {
  begin_worker_thread("vhost-pci-sym");  // the VMM's sandbox (base/worker_thread.h)
  while (!stopping_.load()) {
    auto conn = next_connection();
    if (!conn) break;
    std::string why = session(*conn);
    log("link down: " + why);
    if (!cfg_.listen && !stopping_.load()) wait_wake(-1, static_cast<int>(cfg_.retry.count()));
  }
}

Result<link::Message> SymmetricDevice::receive(vhost_user::Connection& conn, std::chrono::milliseconds timeout) {
  std::vector<uint8_t> wire(link::kHeaderSize);
  std::vector<UniqueFd> fds;
  TANDEM_TRY(conn.read_exact(wire, fds, timeout));
  auto size = link::decode_header(wire);
  if (!size) return size.error();
  wire.resize(link::kHeaderSize + *size);
  if (*size) TANDEM_TRY(conn.read_exact(std::span<uint8_t>(wire).subspan(link::kHeaderSize), fds, timeout));
  return link::decode(wire, std::move(fds));
}

std::string SymmetricDevice::session(vhost_user::Connection& conn) {
  auto bye = [&] { (void)conn.send(link::encode_bye(), {}, kByeTimeout); };
  UniqueFd data_in(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), space_in(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!data_in || !space_in) return errno_error("eventfd for the doorbells").message;
  link::Hello ours;
  ours.section_size = static_cast<uint32_t>(cfg_.section_size);
  auto hello = link::encode_hello(ours);
  if (!hello) return hello.message();
  const int fds[] = {own_.peer_fd.get(), data_in.get(), space_in.get()};  // the peer gets the read-only one
  if (auto s = conn.send(*hello, fds, kSendTimeout); !s) return "sending HELLO: " + s.message();

  auto theirs = receive(conn, cfg_.hello_timeout);
  if (!theirs) {
    bye();
    return "the peer's HELLO: " + theirs.message();
  }
  if (theirs->type != link::Type::kHello) return "the peer said BYE instead of HELLO";
  // The seal before the size (check_hello_fds): once F_SEAL_SHRINK is on, the size it checks stays.
  const int seals = theirs->fds.empty() ? -1 : ::fcntl(theirs->fds[0].get(), F_GET_SEALS);
  Status ok;
  if (seals < 0 || !(seals & F_SEAL_SHRINK)) ok = Error{"HELLO: the peer's section is not a memory file sealed against shrinking (F_SEAL_SHRINK)"};
  if (ok) ok = link::check_hello_fds(*theirs);
  if (ok) ok = link::check_compatible(ours, theirs->hello);
  if (ok) ok = install_peer(std::move(theirs).value(), std::move(data_in), std::move(space_in));
  if (!ok) {
    bye();
    return "refused the peer: " + ok.message();
  }
  log("link up with the peer at " + cfg_.socket + " (generation " + std::to_string(peer_generation()) + ")");
  if (cfg_.on_peer) cfg_.on_peer(true, "generation " + std::to_string(peer_generation()));

  std::string why;
  for (;;) {
    if (!wait_wake(conn.fd(), -1)) {
      if (!stopping_.load()) continue;
      bye();
      why = "tandem is stopping";
      break;
    }
    auto m = receive(conn, std::chrono::milliseconds(1000));
    if (!m) {
      why = m.message();
      break;
    }
    if (m->type == link::Type::kBye) {
      why = "the peer said BYE";
      break;
    }
    bye();
    why = "protocol violation: a second HELLO from the peer";
    break;
  }
  withdraw_peer();
  if (cfg_.on_peer) cfg_.on_peer(false, why);
  return why;
}

Status SymmetricDevice::install_peer(link::Message hello, UniqueFd data_in, UniqueFd space_in) {
  auto map = Mapping::map(cfg_.section_size, PROT_READ, MAP_SHARED, hello.fds[0].get(), 0);
  if (!map) return Error{"mapping the peer's section: " + map.message()};
  std::lock_guard lock(mu_);
  Peer p;
  p.map = std::move(map).value();
  p.data_out = std::move(hello.fds[1]);
  p.space_out = std::move(hello.fds[2]);
  auto slot = vm_->add_memslot(shm_base_ + cfg_.section_size, cfg_.section_size, p.map.data(), true);
  if (!slot) return Error{"the peer's section at " + hex(shm_base_ + cfg_.section_size) + ": " + slot.message()};
  p.slot = *slot;
  {
    std::lock_guard vlock(fn_.msix().mutex());
    Status s = fn_.msix().set_source(2, data_in.get());
    if (s) s = fn_.msix().set_source(1, space_in.get());
    if (!s) {
      (void)fn_.msix().set_source(2, -1);
      (void)fn_.msix().set_source(1, -1);
      (void)vm_->remove_memslot(*p.slot);
      return s;
    }
  }
  p.data_in = std::move(data_in);
  p.space_in = std::move(space_in);
  peer_ = std::move(p);
  wire_doorbells_locked();
  link_ = kUp;
  ++peer_generation_;
  fn_.msix().signal(0);
  return {};
}

void SymmetricDevice::withdraw_peer() {
  std::lock_guard lock(mu_);
  if (!peer_) return;
  unwire_doorbells_locked();
  {
    std::lock_guard vlock(fn_.msix().mutex());
    (void)fn_.msix().set_source(2, -1);
    (void)fn_.msix().set_source(1, -1);
  }
  if (peer_->slot) (void)vm_->remove_memslot(*peer_->slot);
  peer_.reset();
  link_ = kDown;
  fn_.msix().signal(0);
}

void SymmetricDevice::wire_doorbells_locked() {
  const auto bar0 = fn_.bar(0);
  if (!peer_ || !bar0 || peer_->doorbells_wired) return;
  Status s = vm_->set_ioeventfd(peer_->data_out.get(), *bar0 + kDataDoorbell, true);
  if (!s) {
    log("data doorbell: " + s.message());
    return;
  }
  if (s = vm_->set_ioeventfd(peer_->space_out.get(), *bar0 + kSpaceDoorbell, true); !s) {
    (void)vm_->set_ioeventfd(peer_->data_out.get(), *bar0 + kDataDoorbell, false);
    log("space doorbell: " + s.message());
    return;
  }
  peer_->doorbells_wired = true;
}

void SymmetricDevice::unwire_doorbells_at_locked(std::optional<uint64_t> bar0) {
  if (!peer_ || !bar0 || !peer_->doorbells_wired) return;
  (void)vm_->set_ioeventfd(peer_->data_out.get(), *bar0 + kDataDoorbell, false);
  (void)vm_->set_ioeventfd(peer_->space_out.get(), *bar0 + kSpaceDoorbell, false);
  peer_->doorbells_wired = false;
}

void SymmetricDevice::unwire_doorbells_locked() { unwire_doorbells_at_locked(fn_.bar(0)); }

// BAR 0 moved (PciFunction moved its MMIO already): the doorbells follow it.
void SymmetricDevice::move_doorbells_locked(std::optional<uint64_t> old_addr, std::optional<uint64_t>) {
  unwire_doorbells_at_locked(old_addr);
  wire_doorbells_locked();
}

// ---- PCI configuration space and the BAR -------------------------------------------------------

void SymmetricDevice::config_read(uint32_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  fn_.config_read(offset, data);
}

void SymmetricDevice::config_write(uint32_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  fn_.config_write(offset, data);
}

// ---- Registers ---------------------------------------------------------------------------------

void SymmetricDevice::read(uint64_t offset, std::span<uint8_t> data) {
  if (fn_.msix_read(offset, data)) return;
  if (data.size() != 4 || offset % 4) {
    std::memset(data.data(), 0xff, data.size());
    return;
  }
  std::lock_guard lock(mu_);
  uint32_t v = 0;
  switch (offset) {
    case kRegMagic: v = kMagic; break;
    case kRegVersion: v = kSymmetricVersion; break;
    case kRegMaxQueues: v = 2; break;
    case kRegNumVectors: v = kSymmetricVectors; break;
    case kRegDriverStatus: v = driver_ok_ ? 1 : 0; break;
    case kRegLinkState: v = link_; break;
    case kRegRoWrites: v = ro_writes_.load(); break;
    case kRegPeerGeneration: v = peer_generation_; break;
    default: break;  // STOP_* and the rest read 0 (§9.2)
  }
  store_le<uint32_t>(data, 0, v);
}

void SymmetricDevice::write(uint64_t offset, std::span<const uint8_t> data) {
  if (fn_.msix_write(offset, data)) return;
  // Doorbells reach here only while no peer is wired (otherwise KVM takes them): ignored, as are
  // odd widths and every register but DRIVER_STATUS.
  if (data.size() != 4 || offset != kRegDriverStatus) return;
  bool ok = *load_le<uint32_t>(data, 0) & 1;
  std::lock_guard lock(mu_);
  if (ok == driver_ok_) return;
  driver_ok_ = ok;
  // A reset driver has let go of its ring (§9.6): its section says so even if the driver could
  // not, so the peer stops reading it.
  if (!ok) store_le<uint32_t>(own_section(), kSectionReadyOffset, 0);
}

}  // namespace tandem::vhost_pci
