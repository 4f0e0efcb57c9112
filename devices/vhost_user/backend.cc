// devices/vhost_user/backend.cc: the back-end session: memory table, rings, answers.
#include "devices/vhost_user/backend.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "base/fd_kind.h"
#include "base/hex.h"

namespace tandem::vhost_user {

namespace {

const char kPeerClosed[] = "peer closed the connection";
const char kDestroyed[] = "session destroyed";

std::string range(uint64_t base, uint64_t size) { return "[" + hex(base) + ", +" + hex(size) + ")"; }

// Whether [addr, addr + len) lies in [base, base + size). len 0 counts as 1 byte.
bool inside(uint64_t addr, uint64_t len, uint64_t base, uint64_t size) {
  if (len == 0) len = 1;
  if (addr < base) return false;
  uint64_t off = addr - base;
  return off < size && len <= size - off;
}

// Ring part sizes of a split virtqueue (with the event-index fields).
uint64_t desc_bytes(uint64_t num) { return 16 * num; }
uint64_t avail_bytes(uint64_t num) { return 6 + 2 * num; }
uint64_t used_bytes(uint64_t num) { return 6 + 8 * num; }

}  // namespace

// ---- MemoryMap ---------------------------------------------------------------------------------

Result<MemoryMap> MemoryMap::map(const MemoryTable& table, std::vector<UniqueFd> fds, const SealPolicy& seals) {
  TANDEM_TRY(validate_regions(table.regions, "memory table"));
  if (fds.size() != table.regions.size())
    return Error{"memory table: " + std::to_string(fds.size()) + " fds for " + std::to_string(table.regions.size()) + " regions"};
  const auto& regions = table.regions;
  for (size_t i = 0; i < regions.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      const MemRegion& a = regions[i];
      const MemRegion& b = regions[j];
      if (a.userspace_addr < b.userspace_addr + b.memory_size && b.userspace_addr < a.userspace_addr + a.memory_size)
        return Error{"memory table: region " + std::to_string(i) + ": userspace " + range(a.userspace_addr, a.memory_size) +
                     " overlaps region " + std::to_string(j) + " " + range(b.userspace_addr, b.memory_size)};
    }

  MemoryMap m;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  for (size_t i = 0; i < regions.size(); ++i) {
    const MemRegion& r = regions[i];
    std::string at = "memory table: region " + std::to_string(i) + " " + range(r.guest_phys_addr, r.memory_size) + ": ";
    int fd = fds[i].get();
    struct stat st{};
    if (::fstat(fd, &st) != 0) return errno_error(at + "fstat");
    if (!S_ISREG(st.st_mode)) return Error{at + "its fd is not a memory file (memfd, tmpfs or hugetlbfs)"};
    // The seal, then the size read again: a file unsealed when its size was read could shrink
    // between the two checks; once F_SEAL_SHRINK is on, it never comes off.
    if (!seals.allow_unsealed) {
      int have = ::fcntl(fd, F_GET_SEALS);
      if (have < 0 || !(have & F_SEAL_SHRINK)) {
        return Error{at + "its memory file is not sealed against shrinking (F_SEAL_SHRINK), so the front-end could truncate it "
                          "under this VM: seal it (QEMU's memory-backend-memfd does by default), or allow unsealed memory with " +
                     seals.hint + " if that peer is trusted"};
      }
    }
    if (::fstat(fd, &st) != 0) return errno_error(at + "fstat");
    if (r.mmap_offset % page) return Error{at + "mmap_offset " + hex(r.mmap_offset) + " is not page-aligned"};
    uint64_t file_size = st.st_size > 0 ? static_cast<uint64_t>(st.st_size) : 0;
    if (r.mmap_offset > file_size || r.memory_size > file_size - r.mmap_offset)
      return Error{at + "mmap_offset " + hex(r.mmap_offset) + " + size " + hex(r.memory_size) + " is past the end of its fd (" +
                   hex(file_size) + " bytes)"};
    uint64_t align = page;
    struct statfs fs{};
    if (::fstatfs(fd, &fs) == 0 && static_cast<uint64_t>(fs.f_type) == HUGETLBFS_MAGIC && st.st_blksize > 0)
      align = static_cast<uint64_t>(st.st_blksize);
    uint64_t start = r.mmap_offset / align * align;
    uint64_t delta = r.mmap_offset - start;
    // file_size fits off_t, so start + delta + size does not wrap. Whole (huge) pages: the kernel
    // maps those anyway, and a later MAP_FIXED over all of it (net_device.cc's repair) must not
    // split a huge page.
    uint64_t length = (delta + r.memory_size + align - 1) / align * align;
    if (length > std::numeric_limits<size_t>::max()) return Error{at + "too large to map"};
    auto mapping = Mapping::map(static_cast<size_t>(length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(start));
    if (!mapping.ok()) return Error{at + mapping.message()};
    auto shared = std::make_shared<Mapping>(std::move(mapping).value());
    MappedRegion placed;
    placed.gpa = r.guest_phys_addr;
    placed.size = r.memory_size;
    placed.userspace_addr = r.userspace_addr;
    placed.mmap_offset = r.mmap_offset;
    placed.host = shared->data() + delta;
    placed.fd = fd;
    placed.map_start = shared->data();
    placed.map_length = length;
    placed.keep_mapped = shared;
    m.regions_.push_back(std::move(placed));
    m.mappings_.push_back(std::move(shared));
  }
  m.fds_ = std::move(fds);
  return m;
}

Result<uint8_t*> MemoryMap::host(uint64_t gpa, uint64_t len) const {
  for (const auto& r : regions_)
    if (inside(gpa, len, r.gpa, r.size)) return r.host + (gpa - r.gpa);
  return Error{"guest-physical " + range(gpa, len) + " is not inside one memory region"};
}

Result<uint64_t> MemoryMap::gpa_of(uint64_t userspace_addr, uint64_t len) const {
  for (const auto& r : regions_)
    if (inside(userspace_addr, len, r.userspace_addr, r.size)) return r.gpa + (userspace_addr - r.userspace_addr);
  return Error{"front-end address " + range(userspace_addr, len) + " is not inside one memory region"};
}

// ---- BackendSession ----------------------------------------------------------------------------

Result<std::unique_ptr<BackendSession>> BackendSession::create(Connection connection, BackendConfig config,
                                                               BackendObserver& observer) {
  if (config.max_vrings == 0 || config.max_vrings > kMaxVringIndex + 1)
    return Error{config.name + ": max_vrings " + std::to_string(config.max_vrings) + " is outside 1.." +
                 std::to_string(kMaxVringIndex + 1)};
  if (config.protocol_features & ~kSupportedProtocolFeatures)
    return Error{config.name + ": protocol features " + hex(config.protocol_features & ~kSupportedProtocolFeatures) +
                 " are not implemented"};
  if (connection.fd() < 0) return Error{config.name + ": no connection"};
  return std::unique_ptr<BackendSession>(new BackendSession(std::move(connection), std::move(config), observer));
}

BackendSession::BackendSession(Connection connection, BackendConfig config, BackendObserver& observer)
    : conn_(std::move(connection)), config_(std::move(config)), observer_(observer), rings_(config_.max_vrings) {}

BackendSession::~BackendSession() { close(kDestroyed); }

void BackendSession::log(const std::string& what) const {
  if (config_.log) config_.log(what);
  else std::fprintf(stderr, "tandem: %s: %s\n", config_.name.c_str(), what.c_str());
}

void BackendSession::close(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  close_reason_ = reason;
  if (reason != kPeerClosed && reason != kDestroyed) log("closing: " + reason);
  unwind();
  observer_.on_disconnect();
  { Connection gone = std::move(conn_); }  // the front-end sees the end
}

void BackendSession::unwind() {
  for (uint32_t i = 0; i < rings_.size(); ++i) stop_ring(i);
  for (auto& r : rings_) r = Ring{};
  if (!mem_.empty()) {
    (void)observer_.on_mem_table({});
    mem_ = MemoryMap{};
  }
}

BackendSession::Step BackendSession::handle_one(std::optional<std::chrono::milliseconds> wait) {
  if (closed_) return Step::kClosed;
  // Wait for the first byte with the caller's patience; the message then has message_timeout.
  for (;;) {
    pollfd p{conn_.fd(), POLLIN, 0};
    int timeout_ms = wait ? static_cast<int>(std::min<int64_t>(wait->count(), std::numeric_limits<int>::max())) : -1;
    int n = ::poll(&p, 1, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(errno_error("poll").message);
      return Step::kClosed;
    }
    if (n == 0) return Step::kIdle;
    break;
  }
  auto raw = conn_.receive(config_.message_timeout);
  if (!raw.ok()) {
    close(raw.message());
    return Step::kClosed;
  }
  Header header = raw->header;
  auto msg = decode_request(std::move(raw).value());  // refused fds are closed with the message
  if (!msg.ok()) {
    // The protocol's only error answer is the REPLY_ACK one; give it if it was asked for.
    if ((header.flags & kFlagNeedReply) && request_info(header.request) && request_info(header.request)->supported &&
        !has_own_reply(static_cast<Request>(header.request)))
      (void)send(static_cast<Request>(header.request), uint64_t{1});
    close("protocol violation: " + msg.message());
    return Step::kClosed;
  }
  Outcome out = dispatch(*msg);
  std::string what = request_name(msg->request);
  if (out.violation) {
    if (msg->need_reply() && !has_own_reply(msg->request)) (void)send(msg->request, uint64_t{1});
    close("protocol violation: " + what + ": " + *out.violation);
    return Step::kClosed;
  }
  if (out.reply) {
    if (!send(msg->request, *out.reply)) return Step::kClosed;
    return Step::kHandled;
  }
  if (!out.status.ok()) log(what + " refused: " + out.status.message());
  if (msg->need_reply() && !send(msg->request, uint64_t{out.status.ok() ? 0u : 1u})) return Step::kClosed;
  return Step::kHandled;
}

Status BackendSession::run() {
  while (handle_one() != Step::kClosed) {
  }
  if (close_reason_ == kPeerClosed) return {};
  return Error{config_.name + ": " + close_reason_};
}

bool BackendSession::send(Request r, const Payload& payload) {
  auto bytes = encode_reply(r, payload);
  if (!bytes.ok()) {  // a bug of ours, not the peer's; the front-end would wait for ever
    close("cannot encode the reply: " + bytes.message());
    return false;
  }
  if (auto s = conn_.send(*bytes, {}, config_.message_timeout); !s.ok()) {
    close(request_name(r) + " reply: " + s.message());
    return false;
  }
  return true;
}

Status BackendSession::check_index(uint32_t index) const {
  if (index >= rings_.size())
    return Error{"vring " + std::to_string(index) + " does not exist (this back-end has " + std::to_string(rings_.size()) + ")"};
  return {};
}

bool BackendSession::ring_enabled(const Ring& r) const {
  // Without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled from the start.
  return r.enabled || !(acked_features_ & kFeatureProtocolFeatures);
}

Result<BackendSession::RingGpas> BackendSession::translate(const VringAddress& a, uint32_t num) const {
  if (mem_.empty()) return Error{"no memory table yet (SET_MEM_TABLE comes first)"};
  uint64_t n = num ? num : 1;  // the size may come later; it is checked again when the ring starts
  auto desc = mem_.gpa_of(a.desc, desc_bytes(n));
  if (!desc.ok()) return Error{"descriptor table: " + desc.message()};
  auto avail = mem_.gpa_of(a.avail, avail_bytes(n));
  if (!avail.ok()) return Error{"available ring: " + avail.message()};
  auto used = mem_.gpa_of(a.used, used_bytes(n));
  if (!used.ok()) return Error{"used ring: " + used.message()};
  return RingGpas{*desc, *avail, *used};
}

Status BackendSession::retranslate(Ring& r) const {
  auto g = translate(r.addr, r.num);
  TANDEM_TRY(g);
  r.desc_gpa = g->desc;
  r.avail_gpa = g->avail;
  r.used_gpa = g->used;
  return {};
}

VringConfig BackendSession::config_of(uint32_t index) const {
  const Ring& r = rings_[index];
  return {index, r.num, r.base, r.desc_gpa, r.avail_gpa, r.used_gpa, r.kick.get(), r.call.get(), r.err.get()};
}

std::optional<VringConfig> BackendSession::vring(uint32_t index) const {
  if (index >= rings_.size()) return std::nullopt;
  return config_of(index);
}

Status BackendSession::maybe_start(uint32_t index) {
  Ring& r = rings_[index];
  if (r.live || r.num == 0 || !r.addr_set || !r.kick_set || !r.call_set || !ring_enabled(r) || mem_.empty()) return {};
  if (auto s = retranslate(r); !s.ok()) return Error{"vring " + std::to_string(index) + ": " + s.message()};
  TANDEM_TRY(observer_.on_vring_ready(config_of(index)));
  r.live = true;
  return {};
}

void BackendSession::stop_ring(uint32_t index) {
  Ring& r = rings_[index];
  if (!r.live) return;
  r.base = observer_.on_vring_stop(index);
  r.live = false;
}

BackendSession::Outcome BackendSession::dispatch(Message& m) {
  using R = Request;
  auto ok = Outcome::ok;
  auto fail = Outcome::fail;
  auto reply = Outcome::answer;
  auto violation = Outcome::violate;
  const bool offers_protocol = (config_.features & kFeatureProtocolFeatures) != 0;

  switch (m.request) {
    case R::kGetFeatures:
      return reply(config_.features);

    case R::kSetFeatures: {
      uint64_t v = std::get<uint64_t>(m.payload);
      if (uint64_t extra = v & ~config_.features) return fail("features " + hex(extra) + " were not offered");
      set_features(v);
      return ok();
    }

    case R::kGetProtocolFeatures:
      if (!offers_protocol) return violation("protocol features were not offered (feature bit 30)");
      return reply(config_.protocol_features);

    case R::kSetProtocolFeatures: {
      if (!offers_protocol) return violation("protocol features were not offered (feature bit 30)");
      uint64_t v = std::get<uint64_t>(m.payload);
      if (uint64_t extra = v & ~config_.protocol_features) return fail("protocol features " + hex(extra) + " were not offered");
      protocol_features_ = v;
      return ok();
    }

    case R::kSetOwner:
      owned_ = true;
      return ok();

    case R::kResetOwner:
      unwind();
      owned_ = false;
      acked_features_ = 0;
      return ok();

    case R::kGetQueueNum:
      if (!(protocol_features_ & protocol_feature::kMq)) return violation("protocol feature MQ was not negotiated");
      return reply(config_.queue_num);

    case R::kSetMemTable:
      return set_mem_table(m);

    case R::kSetVringNum:
    case R::kSetVringAddr:
    case R::kSetVringBase:
    case R::kGetVringBase:
    case R::kSetVringEnable:
      return dispatch_vring(m);

    case R::kSetVringKick:
    case R::kSetVringCall:
    case R::kSetVringErr: {
      auto s = set_vring_file(m);
      if (!s.ok()) return fail(s.message());
      return ok();
    }

    default: {
      const RequestInfo* info = request_info(static_cast<uint32_t>(m.request));
      if (info && info->reply != PayloadKind::kNone)
        return violation("not supported here (its protocol feature was not offered), and it needs an answer");
      return fail("not supported here (its protocol feature was not offered)");
    }
  }
}

BackendSession::Outcome BackendSession::dispatch_vring(Message& m) {
  using R = Request;
  auto ok = Outcome::ok;
  auto fail = Outcome::fail;
  if (m.request == R::kSetVringAddr) {
    auto a = std::get<VringAddress>(m.payload);
    if (auto e = check_index(a.index); !e.ok()) return fail(e.message());
    Ring& r = rings_[a.index];
    if (r.live) return fail("vring " + std::to_string(a.index) + " is running");
    if (a.flags & kVringFlagLog) return fail("dirty logging was not offered");
    auto g = translate(a, r.num);
    if (!g.ok()) return fail("vring " + std::to_string(a.index) + ": " + g.message());
    r.addr = a;
    r.addr_set = true;
    r.desc_gpa = g->desc;
    r.avail_gpa = g->avail;
    r.used_gpa = g->used;
    return ok();
  }
  auto s = std::get<VringState>(m.payload);
  if (auto e = check_index(s.index); !e.ok()) return m.request == R::kGetVringBase ? Outcome::violate(e.message()) : fail(e.message());
  Ring& r = rings_[s.index];
  switch (m.request) {
    case R::kSetVringNum:
      if (r.live) return fail("vring " + std::to_string(s.index) + " is running");
      if (s.num & (s.num - 1)) return fail("size " + std::to_string(s.num) + " is not a power of two");
      r.num = s.num;
      return ok();
    case R::kSetVringBase:
      if (r.live) return fail("vring " + std::to_string(s.index) + " is running");
      if (s.num > 0xffff) return fail("base " + std::to_string(s.num) + " is not a split-ring index (packed rings were not offered)");
      r.base = static_cast<uint16_t>(s.num);
      return ok();
    case R::kGetVringBase:
      stop_ring(s.index);
      r.kick.reset();
      r.call.reset();
      r.err.reset();
      r.kick_set = r.call_set = false;
      return Outcome::answer(VringState{s.index, r.base});
    default:  // kSetVringEnable
      if (s.num == 0) {
        stop_ring(s.index);
        r.enabled = false;
        return ok();
      }
      r.enabled = true;
      if (auto st = maybe_start(s.index); !st.ok()) return fail(st.message());
      return ok();
  }
}

// A driver reads the negotiated features (event index, header length) when a ring goes live: a
// change under live rings stops them first and restarts them after, as a new memory table does.
void BackendSession::set_features(uint64_t features) {
  std::vector<uint32_t> restart;
  if (features != acked_features_) {
    for (uint32_t i = 0; i < rings_.size(); ++i)
      if (rings_[i].live) {
        stop_ring(i);
        restart.push_back(i);
      }
  }
  acked_features_ = features;
  observer_.on_features(features & ~kFeatureProtocolFeatures);
  for (uint32_t i : restart)
    if (auto s = maybe_start(i); !s.ok()) log("vring " + std::to_string(i) + " did not restart: " + s.message());
}

BackendSession::Outcome BackendSession::set_mem_table(Message& m) {
  auto mapped = MemoryMap::map(std::get<MemoryTable>(m.payload), std::move(m.fds), config_.seals);
  if (!mapped.ok()) return Outcome{mapped.error(), {}, {}};
  // Live rings stop while the memory changes under them; they restart against the new table.
  std::vector<uint32_t> restart;
  for (uint32_t i = 0; i < rings_.size(); ++i)
    if (rings_[i].live) {
      stop_ring(i);
      restart.push_back(i);
    }
  Status accepted = observer_.on_mem_table(mapped->regions());
  if (accepted.ok()) {
    mem_ = std::move(mapped).value();  // the previous table is unmapped and its fds closed here
    for (uint32_t i = 0; i < rings_.size(); ++i) {
      Ring& r = rings_[i];
      if (!r.addr_set) continue;
      if (auto s = retranslate(r); !s.ok()) {
        log("vring " + std::to_string(i) + " is outside the new memory table: " + s.message());
        r.addr_set = false;
      }
    }
  }
  for (uint32_t i : restart)
    if (auto s = maybe_start(i); !s.ok()) log("vring " + std::to_string(i) + " did not restart: " + s.message());
  if (!accepted.ok()) return Outcome{Error{"the device refused the memory table: " + accepted.message()}, {}, {}};
  return Outcome{};
}

Status BackendSession::set_vring_file(Message& m) {
  auto f = std::get<VringFile>(m.payload);
  TANDEM_TRY(check_index(f.index));
  UniqueFd fd;
  if (!f.no_fd) {
    fd = std::move(m.fds.at(0));  // the codec checked there is exactly one
    if (!is_eventfd(fd.get())) return Error{"vring " + std::to_string(f.index) + ": the fd is not an eventfd"};
  }
  Ring& r = rings_[f.index];
  UniqueFd old;  // closed after the observer moved to the new one
  switch (m.request) {
    case Request::kSetVringKick:
      old = std::exchange(r.kick, std::move(fd));
      r.kick_set = true;
      break;
    case Request::kSetVringCall:
      old = std::exchange(r.call, std::move(fd));
      r.call_set = true;
      break;
    default:
      old = std::exchange(r.err, std::move(fd));
      break;
  }
  if (r.live) {
    if (auto s = observer_.on_vring_ready(config_of(f.index)); !s.ok()) {
      stop_ring(f.index);
      return Error{"vring " + std::to_string(f.index) + ": the device refused the new fd: " + s.message()};
    }
    return {};
  }
  return maybe_start(f.index);
}

}  // namespace tandem::vhost_user
