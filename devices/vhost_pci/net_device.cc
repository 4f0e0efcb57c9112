// devices/vhost_pci/net_device.cc: vhost-pci-net 2.0: registers, metadata page, peer memory in
// BAR 2, KVM-routed notifications, the stop handshake (docs/vhost-pci-net.md §3–§7).
#include "devices/vhost_pci/net_device.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/eventfd.h"
#include "base/hex.h"
#include "base/le.h"
#include "base/log.h"
#include "base/worker_thread.h"
#include "memory/fallible_read.h"

namespace tandem::vhost_pci {

namespace {

// Metadata page fields.
constexpr size_t kMetaGeneration = 0x08, kMetaLink = 0x0c, kMetaSession = 0x10, kMetaNregions = 0x14,
                 kMetaNqueues = 0x18, kMetaFeatures = 0x20, kMetaStop = 0x30, kMetaBarSize = 0x38,
                 kMetaRegions = 0x40, kMetaQueues = 0x140;
constexpr uint32_t kQueueLive = 1, kQueueKickIrq = 2, kQueueCallDoorbell = 4, kQueueStopRequested = 8;

// BAR 2 outside the memslots: reads all-ones, writes (also to the read-only metadata page) dropped.
class PeerBarHole : public BusDevice {
 public:
  void read(uint64_t, std::span<uint8_t> data) override { std::memset(data.data(), 0xff, data.size()); }
  void write(uint64_t, std::span<const uint8_t>) override {}
  std::string name() const override { return "vhost-pci-net peer BAR"; }
};

PciIds ids() {
  PciIds i;
  i.vendor = 0x1af4;
  i.device = 0x10fa;
  i.revision = 0x20;
  i.class_code = 0x02;
  i.subclass = 0x80;
  i.subsystem_vendor = 0x1af4;
  i.subsystem = 0x10fa;
  return i;
}

uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

}  // namespace

NetDevice::NetDevice(const Config& cfg, std::shared_ptr<VmServices> vm)
    : cfg_(cfg), vm_(std::move(vm)), fn_(ids(), *vm_, name()), bar2_hole_(std::make_shared<PeerBarHole>()) {}

Result<std::shared_ptr<NetDevice>> NetDevice::create(const Config& cfg, std::shared_ptr<VmServices> vm, uint64_t bar0, uint64_t bar2) {
  if (cfg.queue_pairs == 0 || 2 * cfg.queue_pairs > kMaxQueues) return Error{"vhost-pci-net: queue pairs must be 1..32"};
  if (!valid_peer_bar_size(cfg.peer_bar_size)) {
    return Error{"vhost-pci-net: the peer BAR size must be a power of two from 4 GiB to 32 GiB"};
  }
  std::shared_ptr<NetDevice> d(new NetDevice(cfg, std::move(vm)));
  const std::string who = d->name();
  d->wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  d->drop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!d->wake_ || !d->drop_) return errno_error(who + ": eventfd");
  if (cfg.allow_unsealed) {
    d->shrink_watch_ = UniqueFd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!d->shrink_watch_) return errno_error(who + ": inotify_init1");
  }
  d->rings_.resize(d->max_queues());
  TANDEM_TRY(d->fn_.add_bar(0, BarKind::kMem64, kBar0Size, bar0));
  TANDEM_TRY(d->fn_.add_bar(2, BarKind::kMem64, cfg.peer_bar_size, bar2, true));
  TANDEM_TRY(d->fn_.add_msix(static_cast<uint16_t>(1 + d->max_queues()), 0, kMsixTableOffset, kMsixPbaOffset));
  d->fn_.serve_bar(0, d);
  d->fn_.serve_bar(2, d->bar2_hole_);
  d->fn_.on_bar_moved([raw = d.get()](uint8_t bar, std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr) {
    if (bar == 0) raw->move_doorbells_locked(old_addr, new_addr);
    if (bar == 2) raw->move_peer_memory_locked(new_addr);
  });
  std::array<uint8_t, 22> layout{};
  layout[0] = 24;  // cap_len
  layout[1] = 0x01;  // kind: vhost-pci-net layout
  layout[2] = 0;     // regs BAR
  layout[3] = 2;     // peer BAR
  store_le<uint16_t>(layout, 4, 0x0200);
  store_le<uint32_t>(layout, 6, static_cast<uint32_t>(kDoorbellOffset));
  store_le<uint32_t>(layout, 10, 4);
  store_le<uint32_t>(layout, 14, static_cast<uint32_t>(kMetaSize));
  store_le<uint32_t>(layout, 18, d->max_queues());
  if (auto c = d->fn_.add_capability(pci::kCapVendor, layout); !c) return c.error();
  auto meta = Mapping::map(kMetaSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!meta) return Error{who + ": metadata page: " + meta.message()};
  d->meta_ = std::move(meta).value();
  auto listener = vhost_user::Listener::bind(cfg.socket, cfg.peers);
  if (!listener) return Error{who + ": " + listener.message()};
  d->listener_.emplace(std::move(listener).value());
  std::lock_guard lock(d->mu_);
  d->publish_locked();
  return d;
}

void NetDevice::stop() {
  stopping_.store(true);
  cv_.notify_all();
  signal_eventfd(wake_.get());
  if (thread_.joinable()) thread_.join();
}

NetDevice::~NetDevice() { unplug(); }

void NetDevice::unplug() {
  stop();
  {
    std::lock_guard lock(mu_);
    for (uint32_t i = 0; i < rings_.size(); ++i) unwire_locked(i);
    withdraw_memory_locked();
    fn_.disable();  // both BARs and what hangs off them go; a config write cannot map them again
  }
  // No memslot of ours is left for a vCPU to fault on. Waits for a repair in progress (so not under
  // mu_, which the repair takes).
  vm_->remove_fault_repair(this);
}

void NetDevice::park() {
  std::lock_guard lock(mu_);
  fn_.disable();
}

void NetDevice::log(const std::string& what) const { log_line(name(), what); }

void NetDevice::start() {
#ifdef TANDEM_TEST_SPIN_RELAY
  relay_ = std::make_unique<SpinRelay>();
  log("TEST BUILD: notifications go through a spinning user-space relay (spin_relay.h)");
#endif
  // Only a peer allowed unsealed memory can take it away under a memslot (unplug() unregisters).
  if (cfg_.allow_unsealed) vm_->add_fault_repair(this, [this] { return repair_lost_memory(); });
  thread_ = std::thread([self = this] { self->serve(); });
}

// Sleeps in poll() until `fd` stirs, stop() writes wake_, a repair writes drop_, or timeout_ms
// passes (-1: no limit): no periodic wake-ups, so a quiet link (or a flood, which never touches this
// thread) costs no context switches here.
NetDevice::Wait NetDevice::wait_readable(int fd, int timeout_ms) {
  for (;;) {
    pollfd p[4] = {{fd, POLLIN, 0}, {wake_.get(), POLLIN, 0}, {drop_.get(), POLLIN, 0}, {shrink_watch_.get(), POLLIN, 0}};
    int n = ::poll(p, 4, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      log(errno_error("vhost-pci poll").message);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return stopping_.load() ? Wait::kStopping : Wait::kReady;
    }
    if (p[1].revents || stopping_.load()) return Wait::kStopping;
    if (p[2].revents) {
      drain_eventfd(drop_.get());
      return Wait::kDropPeer;
    }
    if (p[3].revents) {  // a peer's memory file changed size: a shrink drops the peer (drop_)
      std::array<uint8_t, 4096> events;
      while (::read(shrink_watch_.get(), events.data(), events.size()) > 0) {
      }
      (void)repair_lost_memory();
      continue;
    }
    return n == 0 ? Wait::kTimeout : Wait::kReady;
  }
}

void NetDevice::serve() {
  begin_worker_thread("vhost-pci");  // the VMM's sandbox (base/worker_thread.h)
  vhost_user::BackendConfig bc;
  bc.name = name();
  bc.features = cfg_.features | vhost_user::kFeatureProtocolFeatures;
  bc.queue_num = cfg_.queue_pairs;
  bc.max_vrings = max_queues();
  bc.seals.allow_unsealed = cfg_.allow_unsealed;
  bc.seals.hint = "--vhost-pci socket=" + cfg_.socket + ",allow_unsealed=on (manifest: allow_unsealed = true)";
  while (!stopping_.load()) {
    Wait w = wait_readable(listener_->fd(), -1);
    if (w == Wait::kStopping) break;
    if (w != Wait::kReady) continue;  // a drop for a peer already gone
    auto conn = listener_->accept(std::chrono::milliseconds(0));
    if (!conn) {  // refused (another user), or gone before we took it: wait again
      log(conn.message());
      continue;
    }
    auto session = vhost_user::BackendSession::create(std::move(conn).value(), bc, *this);
    if (!session) {
      log(session.message());
      continue;
    }
    run_session(**session);
  }
}

// One front-end, from its connection to its end (or tandem's).
void NetDevice::run_session(vhost_user::BackendSession& session) {
  {
    std::lock_guard lock(mu_);
    ++session_;
    link_ = kNegotiating;
    publish_locked();
  }
  log("peer connected (session " + std::to_string(session_) + ")");
  if (cfg_.on_peer) cfg_.on_peer(true, "session " + std::to_string(session_));
  // A front-end speaks at once (QEMU asks GET_FEATURES as it connects); one that stays silent would
  // hold the only session slot for ever.
  Wait first = wait_readable(session.fd(), static_cast<int>(cfg_.silent_peer_timeout.count()));
  if (first == Wait::kTimeout) {
    session.close("it said nothing for " + std::to_string(cfg_.silent_peer_timeout.count()) + " ms after connecting");
  }
  if (first == Wait::kReady && session.handle_one(std::chrono::milliseconds(0)) != vhost_user::BackendSession::Step::kClosed) {
    while (!stopping_.load() && !session.closed()) {
      Wait w = wait_readable(session.fd(), -1);
      if (w == Wait::kStopping) break;
      if (w == Wait::kDropPeer) {
        session.close("its memory shrank under this VM");
        break;
      }
      if (session.handle_one(std::chrono::milliseconds(0)) == vhost_user::BackendSession::Step::kClosed) break;
    }
  }
  if (!session.closed()) session.close("tandem is stopping");
  log("peer gone: " + session.close_reason());
  if (cfg_.on_peer) cfg_.on_peer(false, session.close_reason());
}

// ---- PCI configuration space and BAR moves -----------------------------------------------------

void NetDevice::config_read(uint32_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  fn_.config_read(offset, data);
}

void NetDevice::config_write(uint32_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  fn_.config_write(offset, data);  // a BAR that moved calls the two functions below
}

// BAR 0 moved: the doorbells of the live rings follow it.
void NetDevice::move_doorbells_locked(std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr) {
  for (uint32_t i = 0; i < rings_.size(); ++i) {
    Ring& r = rings_[i];
    if (r.doorbell_wired && old_addr) (void)vm_->set_ioeventfd(r.doorbell, *old_addr + kDoorbellOffset + 4 * i, false);
    r.doorbell_wired = false;
    if (r.doorbell >= 0 && new_addr) {
      if (vm_->set_ioeventfd(r.doorbell, *new_addr + kDoorbellOffset + 4 * i, true)) r.doorbell_wired = true;
    }
  }
}

// BAR 2 moved (its hole moved with it): the metadata page and the peer's RAM follow.
void NetDevice::move_peer_memory_locked(std::optional<uint64_t> new_addr) {
  bool had_memory = memory_installed_;
  withdraw_memory_locked();
  if (meta_slot_) (void)vm_->remove_memslot(*meta_slot_);
  meta_slot_.reset();
  if (new_addr) {
    auto slot = vm_->add_memslot(*new_addr, kMetaSize, meta_.data(), true);
    if (!slot) log("metadata page: " + slot.message());
    else meta_slot_ = *slot;
    if (had_memory || std::any_of(rings_.begin(), rings_.end(), [](const Ring& r) { return r.live; })) {
      if (auto s = install_memory_locked(); !s) log(s.message());
    }
  }
  // The metadata lists the regions only while they are installed: a peer that connected before
  // the guest enabled BAR 2 has its regions listed now (the driver would find its rings outside
  // the peer memory otherwise).
  if (memory_installed_ != had_memory) publish_locked();
}

// ---- Registers ---------------------------------------------------------------------------------

void NetDevice::read(uint64_t offset, std::span<uint8_t> data) {
  if (fn_.msix_read(offset, data)) return;
  if (data.size() != 4 || offset % 4) {
    std::memset(data.data(), 0xff, data.size());
    return;
  }
  std::lock_guard lock(mu_);
  uint32_t v = 0;
  switch (offset) {
    case kRegMagic: v = kMagic; break;
    case kRegVersion: v = kVersion; break;
    case kRegMaxQueues: v = max_queues(); break;
    case kRegNumVectors: v = 1 + max_queues(); break;
    case kRegDriverStatus: v = driver_ok_ ? 1 : 0; break;
    case kRegLinkState: v = link_; break;
    case kRegStopLo: v = static_cast<uint32_t>(stop_request_); break;
    case kRegStopHi: v = static_cast<uint32_t>(stop_request_ >> 32); break;
    case kRegStopTimeout: v = static_cast<uint32_t>(cfg_.stop_timeout.count()); break;
    default: break;
  }
  store_le<uint32_t>(data, 0, v);
}

void NetDevice::write(uint64_t offset, std::span<const uint8_t> data) {
  if (fn_.msix_write(offset, data)) return;
  if (data.size() != 4 || offset % 4 || offset >= kDoorbellOffset) return;  // doorbells without a live ring: ignored
  uint32_t v = *load_le<uint32_t>(data, 0);
  std::lock_guard lock(mu_);
  if (offset == kRegDriverStatus) {
    bool ok = v & 1;
    if (ok == driver_ok_) return;
    driver_ok_ = ok;
    if (!ok) {
      stop_ack_.reset();
      cv_.notify_all();  // outstanding stop requests are answered from used.idx
    }
    publish_locked();
  } else if (offset == kRegStopAck && (v & 0xff00) == 0) {
    stop_ack_ = v;
    cv_.notify_all();
  }
}

// ---- The metadata page -------------------------------------------------------------------------

void NetDevice::update_link_locked() {
  if (link_ == kDown) return;
  if (stop_request_) {
    link_ = kStopping;
    return;
  }
  bool up = false;
  for (uint32_t k = 0; k < cfg_.queue_pairs; ++k) up |= rings_[2 * k].live && rings_[2 * k + 1].live;
  link_ = up ? kUp : kNegotiating;
}

void NetDevice::publish_locked() {
  std::span<uint8_t> page(meta_.data(), kMetaSize);
  ++generation_;  // odd: being updated
  store_le<uint32_t>(page, kMetaGeneration, generation_);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  store_le<uint32_t>(page, 0x00, kMetaMagic);
  store_le<uint32_t>(page, 0x04, kVersion);
  store_le<uint32_t>(page, kMetaLink, link_);
  store_le<uint32_t>(page, kMetaSession, session_);
  uint32_t n = memory_installed_ ? static_cast<uint32_t>(regions_.size()) : 0;
  store_le<uint32_t>(page, kMetaNregions, n);
  store_le<uint32_t>(page, kMetaNqueues, max_queues());
  store_le<uint64_t>(page, kMetaFeatures, peer_features_);
  store_le<uint64_t>(page, 0x28, 0);
  store_le<uint64_t>(page, kMetaStop, stop_request_);
  store_le<uint64_t>(page, kMetaBarSize, cfg_.peer_bar_size);
  for (uint32_t i = 0; i < 8; ++i) {
    size_t at = kMetaRegions + 32 * i;
    bool have = i < n;
    store_le<uint64_t>(page, at, have ? regions_[i].region.gpa : 0);
    store_le<uint64_t>(page, at + 8, have ? regions_[i].region.size : 0);
    store_le<uint64_t>(page, at + 16, have ? regions_[i].bar_offset : 0);
    store_le<uint64_t>(page, at + 24, 0);
  }
  for (uint32_t i = 0; i < kMaxQueues; ++i) {
    size_t at = kMetaQueues + 48 * i;
    std::memset(page.data() + at, 0, 48);
    if (i >= rings_.size() || !rings_[i].live) continue;
    const Ring& r = rings_[i];
    uint32_t flags = kQueueLive | (r.kick ? kQueueKickIrq : 0) | (r.call ? kQueueCallDoorbell : 0) |
                     ((stop_request_ >> i) & 1 ? kQueueStopRequested : 0);
    store_le<uint32_t>(page, at, flags);
    store_le<uint16_t>(page, at + 4, static_cast<uint16_t>(r.cfg.num));
    store_le<uint16_t>(page, at + 6, r.cfg.base);
    store_le<uint64_t>(page, at + 8, r.cfg.desc_gpa);
    store_le<uint64_t>(page, at + 16, r.cfg.avail_gpa);
    store_le<uint64_t>(page, at + 24, r.cfg.used_gpa);
    store_le<uint16_t>(page, at + 32, static_cast<uint16_t>(1 + i));
    store_le<uint32_t>(page, at + 36, static_cast<uint32_t>(kDoorbellOffset + 4 * i));
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  ++generation_;  // even: stable
  store_le<uint32_t>(page, kMetaGeneration, generation_);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  fn_.msix().signal(0);
}

// ---- Peer memory -------------------------------------------------------------------------------

// Memory KVM may still map outlives the device too (a guest-ejected device is destroyed): it is
// kept until the process ends. The device remembers that it stranded some.
void NetDevice::strand(std::shared_ptr<const void> mapping) {
  static std::mutex mu;
  static auto* kept = new std::vector<std::shared_ptr<const void>>();  // never freed, on purpose
  std::lock_guard lock(mu);
  kept->push_back(std::move(mapping));
  stranded_ = true;
}

Status NetDevice::install_memory_locked() {
  if (memory_installed_) return {};
  if (stranded_) return Error{"out of service: a memslot of an earlier peer could not be removed"};
  const auto bar2 = fn_.bar(2);
  if (!bar2) return {};  // the BAR is not decoding yet: installed when the guest enables it
  for (auto& r : regions_) {
    auto slot = vm_->add_memslot(*bar2 + r.bar_offset, r.region.size, r.region.host, false);
    if (!slot) {
      withdraw_memory_locked();
      return Error{"peer region at BAR offset " + hex(r.bar_offset) + ": " + slot.message()};
    }
    r.slot = *slot;
  }
  memory_installed_ = true;
  return {};
}

void NetDevice::withdraw_memory_locked() {
  for (auto& r : regions_) {
    if (!r.slot) continue;
    if (auto s = vm_->remove_memslot(*r.slot); !s) {
      // KVM may still map the guest's BAR onto this memory: unmapping it under KVM would let the
      // guest reach whatever the host maps there next. Keep it, and stop taking peers.
      strand(r.region.keep_mapped);
      log("peer region at BAR offset " + hex(r.bar_offset) + ": removing its memslot failed (" + s.message() +
          "); its memory stays mapped and this device is out of service until tandem restarts");
    }
    r.slot.reset();
  }
  memory_installed_ = false;
}

Status NetDevice::on_mem_table(std::span<const vhost_user::MappedRegion> regions) {
  std::lock_guard lock(mu_);
  std::vector<Placed> placed;
  uint64_t at = kFirstRegionOffset;
  for (const auto& r : regions) {
    if (r.gpa % 4096 || r.size % 4096) return Error{"peer region " + hex(r.gpa) + "+" + hex(r.size) + " is not 4 KiB aligned"};
    if (r.size > cfg_.peer_bar_size || at > cfg_.peer_bar_size - r.size) {
      return Error{"the peer's memory does not fit the " + std::to_string(cfg_.peer_bar_size >> 30) + " GiB peer BAR"};
    }
    placed.push_back(Placed{r, at, std::nullopt, false});
    at = round_up(at + r.size, kRegionAlign);
  }
  withdraw_memory_locked();
  regions_ = std::move(placed);
  watch_sizes_locked();
  publish_locked();
  return {};
}

// The peer's memory files, watched for truncation (allow_unsealed): inotify's IN_MODIFY comes with
// a change of size (ftruncate, fallocate's punches), not with writes through a mapping.
void NetDevice::watch_sizes_locked() {
  if (!shrink_watch_) return;
  for (int wd : watches_) ::inotify_rm_watch(shrink_watch_.get(), wd);
  watches_.clear();
  for (const auto& p : regions_) {
    std::string path = "/proc/self/fd/" + std::to_string(p.region.fd);
    int wd = ::inotify_add_watch(shrink_watch_.get(), path.c_str(), IN_MODIFY);
    if (wd < 0) log(errno_error("peer region at BAR offset " + hex(p.bar_offset) + ": watching its file's size").message);
    else watches_.push_back(wd);
  }
}

void NetDevice::on_features(uint64_t features) {
  std::lock_guard lock(mu_);
  peer_features_ = features;
  publish_locked();
}

// ---- Rings -------------------------------------------------------------------------------------

Status NetDevice::wire_locked(uint32_t index) {
  Ring& r = rings_[index];
  int irq = r.kick ? r.kick.get() : -1;
  r.doorbell = r.call ? r.call.get() : -1;
#ifdef TANDEM_TEST_SPIN_RELAY
  auto relayed = relay_->interpose(index, irq, r.doorbell);  // test-only: spin_relay.h
  irq = relayed.irq;
  r.doorbell = relayed.doorbell;
#endif
  {
    std::lock_guard vlock(fn_.msix().mutex());
    TANDEM_TRY(fn_.msix().set_source(static_cast<uint16_t>(1 + index), irq));
  }
  if (auto bar0 = fn_.bar(0); r.doorbell >= 0 && bar0) {
    TANDEM_TRY(vm_->set_ioeventfd(r.doorbell, *bar0 + kDoorbellOffset + 4 * index, true));
    r.doorbell_wired = true;
  }
  return {};
}

void NetDevice::unwire_locked(uint32_t index) {
  Ring& r = rings_[index];
  {
    std::lock_guard vlock(fn_.msix().mutex());
    (void)fn_.msix().set_source(static_cast<uint16_t>(1 + index), -1);
  }
  if (auto bar0 = fn_.bar(0); r.doorbell_wired && bar0) (void)vm_->set_ioeventfd(r.doorbell, *bar0 + kDoorbellOffset + 4 * index, false);
  r.doorbell_wired = false;
#ifdef TANDEM_TEST_SPIN_RELAY
  relay_->remove(index);
#endif
  r.doorbell = -1;
  r.kick.reset();
  r.call.reset();
}

Status NetDevice::on_vring_ready(const vhost_user::VringConfig& ring) {
  std::lock_guard lock(mu_);
  if (ring.index >= rings_.size()) return Error{"vring " + std::to_string(ring.index) + " is past this device's queues"};
  Ring& r = rings_[ring.index];
  if (r.live) unwire_locked(ring.index);
  r.cfg = ring;
  r.kick.reset(ring.kick_fd >= 0 ? ::dup(ring.kick_fd) : -1);
  r.call.reset(ring.call_fd >= 0 ? ::dup(ring.call_fd) : -1);
  if ((ring.kick_fd >= 0 && !r.kick) || (ring.call_fd >= 0 && !r.call)) return errno_error("dup of a vring eventfd");
  if (auto s = install_memory_locked(); !s) return s;
  if (auto s = wire_locked(ring.index); !s) {
    unwire_locked(ring.index);
    // The memory went in for this ring: with no ring live, it comes out again.
    if (std::none_of(rings_.begin(), rings_.end(), [](const Ring& x) { return x.live; })) withdraw_memory_locked();
    return s;
  }
  r.live = true;
  update_link_locked();
  publish_locked();
  return {};
}

// The peer's used index of ring `index`, read so that a file the peer truncated is no SIGBUS: what
// cannot be read repairs the memory (the link goes down) and the ring resumes where it started.
uint16_t NetDevice::used_index_locked(uint32_t index) {
  const Ring& r = rings_[index];
  for (const auto& placed : regions_) {
    const auto& p = placed.region;
    if (r.cfg.used_gpa >= p.gpa && r.cfg.used_gpa + 4 <= p.gpa + p.size) {
      std::array<uint8_t, 4> used{};
      const uint8_t* at = p.host + (r.cfg.used_gpa - p.gpa);
      if (!cfg_.allow_unsealed) {  // sealed: the file cannot shrink under us
        std::copy(at, at + used.size(), used.begin());
      } else if (!read_fallible(used, at)) {
        if (errno != EFAULT) log(errno_error("vring " + std::to_string(index) + ": reading its used index").message);
        repair_lost_memory_locked();
        return r.cfg.base;
      }
      return load_le<uint16_t>(used, 2).value_or(r.cfg.base);
    }
  }
  return r.cfg.base;
}

// The repair a vCPU's EFAULT calls (registered when allow_unsealed). True, so that the vCPU runs
// again, when a region was repaired now, or before (another vCPU, or the used-index read, got there
// first), or while the peer's unsealed memory is mapped at all (a peer that truncated its file and
// grew it again left nothing to repair, and KVM faults the pages in again). A fault that is not
// ours ends the VM after the VcpuSet's few retries.
bool NetDevice::repair_lost_memory() {
  std::lock_guard lock(mu_);
  bool now = repair_lost_memory_locked();
  return now || repaired_any_ || !regions_.empty();
}

// A peer allowed unsealed memory (allow_unsealed=on) truncated a file under this VM: a vCPU's
// KVM_RUN failed with EFAULT (the VMM asks every device that registered), or a read of its ring
// failed. Every region whose file no longer holds it gets zero pages at the same address, so the
// memslots stay valid (the guest reads zeros, its writes land in private pages) and nothing here
// touches the lost pages again; the link goes down with one log line and the serve thread drops
// the peer. True when a region was repaired now.
bool NetDevice::repair_lost_memory_locked() {
  bool any = false;
  for (auto& p : regions_) {
    if (p.zeroed || p.region.fd < 0 || !p.region.map_start) continue;
    struct stat st{};
    if (::fstat(p.region.fd, &st) != 0) continue;
    uint64_t have = st.st_size > 0 ? static_cast<uint64_t>(st.st_size) : 0;
    if (have >= p.region.mmap_offset && have - p.region.mmap_offset >= p.region.size) continue;
    void* z = ::mmap(p.region.map_start, p.region.map_length, PROT_READ | PROT_WRITE,
                     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (z == MAP_FAILED) {
      log(errno_error("peer region at BAR offset " + hex(p.bar_offset) + ": zero pages over its lost memory").message);
      continue;
    }
    p.zeroed = true;
    any = true;
    repaired_any_ = true;
    log("the peer's memory shrank under this VM (region at BAR offset " + hex(p.bar_offset) + ": its file has " +
        std::to_string(have) + " bytes, the region needs " + std::to_string(p.region.mmap_offset + p.region.size) +
        "): zero pages stand in for it; link down, dropping the peer");
  }
  if (any) {
    link_ = kDown;
    publish_locked();
    signal_eventfd(drop_.get());
  }
  return any;
}

uint16_t NetDevice::on_vring_stop(uint32_t index) {
  std::unique_lock lock(mu_);
  if (index >= rings_.size() || !rings_[index].live) return 0;
  std::optional<uint16_t> last;
  if (driver_ok_) {
    // Ask the driver to let go of the ring, and wait (bounded) for its answer.
    stop_ack_.reset();
    stop_request_ |= 1ULL << index;
    update_link_locked();
    publish_locked();
    bool acked = cv_.wait_for(lock, cfg_.stop_timeout, [&] {
      return stopping_.load() || !driver_ok_ || (stop_ack_ && (*stop_ack_ & 0xff) == index);
    });
    if (acked && stop_ack_ && (*stop_ack_ & 0xff) == index) last = static_cast<uint16_t>(*stop_ack_ >> 16);
    else log("vring " + std::to_string(index) + ": no STOP_ACK from the driver; resuming the peer at its used index");
    stop_request_ &= ~(1ULL << index);
  }
  uint16_t result = last ? *last : used_index_locked(index);
  unwire_locked(index);
  rings_[index].live = false;
  if (std::none_of(rings_.begin(), rings_.end(), [](const Ring& r) { return r.live; })) withdraw_memory_locked();
  update_link_locked();
  publish_locked();
  return result;
}

void NetDevice::on_disconnect() {
  std::lock_guard lock(mu_);
  for (uint32_t i = 0; i < rings_.size(); ++i) {
    if (rings_[i].live) unwire_locked(i);
    rings_[i] = Ring{};
  }
  withdraw_memory_locked();
  regions_.clear();
  stop_request_ = 0;
  peer_features_ = 0;
  link_ = kDown;
  publish_locked();
}

uint32_t NetDevice::link_state() const {
  std::lock_guard lock(mu_);
  return link_;
}

}  // namespace tandem::vhost_pci
