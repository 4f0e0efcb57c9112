// devices/vhost_user/protocol.cc: the request table, header access, and the vhost-user payload codec.
#include "devices/vhost_user/protocol.h"

#include <limits>

#include "base/hex.h"
#include "base/le.h"

namespace tandem::vhost_user {

namespace {

using K = PayloadKind;
using F = FdRule;

// Indexed by request code; entry 0 is unused.
constexpr RequestInfo kRequests[] = {
    {nullptr, K::kNone, F::kNone, K::kNone, false},
    {"GET_FEATURES", K::kNone, F::kNone, K::kU64, true},
    {"SET_FEATURES", K::kU64, F::kNone, K::kNone, true},
    {"SET_OWNER", K::kNone, F::kNone, K::kNone, true},
    {"RESET_OWNER", K::kNone, F::kNone, K::kNone, true},
    {"SET_MEM_TABLE", K::kMemoryTable, F::kOnePerRegion, K::kNone, true},
    {"SET_LOG_BASE", K::kLogArea, F::kOne, K::kU64, true},
    {"SET_LOG_FD", K::kNone, F::kOne, K::kNone, true},
    {"SET_VRING_NUM", K::kVringState, F::kNone, K::kNone, true},
    {"SET_VRING_ADDR", K::kVringAddress, F::kNone, K::kNone, true},
    {"SET_VRING_BASE", K::kVringState, F::kNone, K::kNone, true},
    {"GET_VRING_BASE", K::kVringState, F::kNone, K::kVringState, true},
    {"SET_VRING_KICK", K::kVringFile, F::kOneUnlessNoFd, K::kNone, true},
    {"SET_VRING_CALL", K::kVringFile, F::kOneUnlessNoFd, K::kNone, true},
    {"SET_VRING_ERR", K::kVringFile, F::kOneUnlessNoFd, K::kNone, true},
    {"GET_PROTOCOL_FEATURES", K::kNone, F::kNone, K::kU64, true},
    {"SET_PROTOCOL_FEATURES", K::kU64, F::kNone, K::kNone, true},
    {"GET_QUEUE_NUM", K::kNone, F::kNone, K::kU64, true},
    {"SET_VRING_ENABLE", K::kVringState, F::kNone, K::kNone, true},
    {"SEND_RARP", K::kU64, F::kNone, K::kNone, true},
    {"NET_SET_MTU", K::kU64, F::kNone, K::kNone, true},
    {"SET_BACKEND_REQ_FD", K::kNone, F::kOne, K::kNone, true},
    {"IOTLB_MSG", K::kNone, F::kNone, K::kNone, false},
    {"SET_VRING_ENDIAN", K::kVringState, F::kNone, K::kNone, true},
    {"GET_CONFIG", K::kConfig, F::kNone, K::kConfig, true},
    {"SET_CONFIG", K::kConfig, F::kNone, K::kNone, true},
    {"CREATE_CRYPTO_SESSION", K::kNone, F::kNone, K::kNone, false},
    {"CLOSE_CRYPTO_SESSION", K::kNone, F::kNone, K::kNone, false},
    {"POSTCOPY_ADVISE", K::kNone, F::kNone, K::kNone, false},
    {"POSTCOPY_LISTEN", K::kNone, F::kNone, K::kNone, false},
    {"POSTCOPY_END", K::kNone, F::kNone, K::kNone, false},
    {"GET_INFLIGHT_FD", K::kNone, F::kNone, K::kNone, false},
    {"SET_INFLIGHT_FD", K::kNone, F::kNone, K::kNone, false},
    {"GPU_SET_SOCKET", K::kNone, F::kNone, K::kNone, false},
    {"RESET_DEVICE", K::kNone, F::kNone, K::kNone, true},
    {"VRING_KICK", K::kVringState, F::kNone, K::kNone, true},
    {"GET_MAX_MEM_SLOTS", K::kNone, F::kNone, K::kU64, true},
    {"ADD_MEM_REG", K::kSingleRegion, F::kOne, K::kNone, true},
    {"REM_MEM_REG", K::kSingleRegion, F::kAtMostOne, K::kNone, true},
    {"SET_STATUS", K::kU64, F::kNone, K::kNone, true},
    {"GET_STATUS", K::kNone, F::kNone, K::kU64, true},
};
constexpr uint32_t kRequestCount = sizeof(kRequests) / sizeof(kRequests[0]);

constexpr size_t kRegionSize = 32;
constexpr size_t kMemTableHeader = 8;
constexpr size_t kConfigHeader = 12;

// Sequential little-endian reads of a payload whose size was already checked.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    auto v = load_le<T>(bytes_, offset_);
    offset_ += sizeof(T);
    return v.value_or(0);
  }
  std::span<const uint8_t> rest() const { return offset_ < bytes_.size() ? bytes_.subspan(offset_) : std::span<const uint8_t>{}; }

 private:
  std::span<const uint8_t> bytes_;
  size_t offset_ = 0;
};

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  size_t at = out.size();
  out.resize(at + sizeof(T));
  (void)store_le<T>(out, at, v);
}

bool wraps(uint64_t base, uint64_t size) { return base > std::numeric_limits<uint64_t>::max() - size; }

std::string range(uint64_t base, uint64_t size) { return "[" + hex(base) + ", " + hex(base + size) + ")"; }

Status expect_size(const std::string& what, size_t got, size_t want) {
  if (got != want)
    return Error{what + ": payload size " + std::to_string(got) + ", expected " + std::to_string(want)};
  return {};
}

MemRegion read_region(Reader& r) {
  MemRegion m;
  m.guest_phys_addr = r.get<uint64_t>();
  m.memory_size = r.get<uint64_t>();
  m.userspace_addr = r.get<uint64_t>();
  m.mmap_offset = r.get<uint64_t>();
  return m;
}

void write_region(std::vector<uint8_t>& out, const MemRegion& m) {
  put(out, m.guest_phys_addr);
  put(out, m.memory_size);
  put(out, m.userspace_addr);
  put(out, m.mmap_offset);
}

// Structure of one payload kind, and the checks that hold whatever the request.
Result<Payload> decode_payload(PayloadKind kind, std::span<const uint8_t> p, const std::string& what) {
  Reader r(p);
  switch (kind) {
    case K::kNone:
      TANDEM_TRY(expect_size(what, p.size(), 0));
      return Payload{};
    case K::kU64:
      TANDEM_TRY(expect_size(what, p.size(), 8));
      return Payload{r.get<uint64_t>()};
    case K::kVringState: {
      TANDEM_TRY(expect_size(what, p.size(), 8));
      VringState s{r.get<uint32_t>(), r.get<uint32_t>()};
      if (s.index > kMaxVringIndex)
        return Error{what + ": vring index " + std::to_string(s.index) + " is over " + std::to_string(kMaxVringIndex)};
      return Payload{s};
    }
    case K::kVringAddress: {
      TANDEM_TRY(expect_size(what, p.size(), 40));
      VringAddress a;
      a.index = r.get<uint32_t>();
      a.flags = r.get<uint32_t>();
      a.desc = r.get<uint64_t>();
      a.used = r.get<uint64_t>();
      a.avail = r.get<uint64_t>();
      a.log = r.get<uint64_t>();
      if (a.index > kMaxVringIndex)
        return Error{what + ": vring index " + std::to_string(a.index) + " is over " + std::to_string(kMaxVringIndex)};
      if (a.flags & ~kVringFlagLog) return Error{what + ": unknown vring flags " + hex(a.flags)};
      if (a.desc % 16) return Error{what + ": descriptor table " + hex(a.desc) + " is not 16-byte aligned"};
      if (a.used % 4) return Error{what + ": used ring " + hex(a.used) + " is not 4-byte aligned"};
      if (a.avail % 2) return Error{what + ": available ring " + hex(a.avail) + " is not 2-byte aligned"};
      return Payload{a};
    }
    case K::kMemoryTable: {
      if (p.size() < kMemTableHeader)
        return Error{what + ": payload size " + std::to_string(p.size()) + ", less than the 8-byte table header"};
      uint32_t n = r.get<uint32_t>();
      (void)r.get<uint32_t>();  // padding
      if (n == 0) return Error{what + ": nregions 0 (a table needs at least one region)"};
      if (n > kMaxMemRegions)
        return Error{what + ": nregions " + std::to_string(n) + " is more than " + std::to_string(kMaxMemRegions)};
      size_t want = kMemTableHeader + size_t{n} * kRegionSize;
      if (p.size() != want)
        return Error{what + ": payload size " + std::to_string(p.size()) + " does not match nregions " +
                     std::to_string(n) + " (expected " + std::to_string(want) + ")"};
      MemoryTable t;
      for (uint32_t i = 0; i < n; ++i) t.regions.push_back(read_region(r));
      TANDEM_TRY(validate_regions(t.regions, what));
      return Payload{std::move(t)};
    }
    case K::kVringFile: {
      TANDEM_TRY(expect_size(what, p.size(), 8));
      uint64_t v = r.get<uint64_t>();
      if (v & ~(kVringIndexMask | kVringNoFd)) return Error{what + ": reserved bits set in " + hex(v)};
      return Payload{VringFile{static_cast<uint32_t>(v & kVringIndexMask), (v & kVringNoFd) != 0}};
    }
    case K::kLogArea: {
      TANDEM_TRY(expect_size(what, p.size(), 16));
      LogArea l{r.get<uint64_t>(), r.get<uint64_t>()};
      if (l.size == 0) return Error{what + ": log size 0"};
      if (wraps(l.offset, l.size)) return Error{what + ": log offset " + hex(l.offset) + " + size " + hex(l.size) + " wraps"};
      return Payload{l};
    }
    case K::kConfig: {
      if (p.size() < kConfigHeader)
        return Error{what + ": payload size " + std::to_string(p.size()) + ", less than the 12-byte config header"};
      DeviceConfig c;
      c.offset = r.get<uint32_t>();
      uint32_t size = r.get<uint32_t>();
      c.flags = r.get<uint32_t>();
      if (size > kMaxConfigSize)
        return Error{what + ": config size " + std::to_string(size) + " is over " + std::to_string(kMaxConfigSize)};
      if (p.size() != kConfigHeader + size)
        return Error{what + ": payload size " + std::to_string(p.size()) + " does not match config size " +
                     std::to_string(size) + " (expected " + std::to_string(kConfigHeader + size) + ")"};
      if (uint64_t{c.offset} + size > kMaxConfigSize)
        return Error{what + ": config offset " + std::to_string(c.offset) + " + size " + std::to_string(size) +
                     " is past the " + std::to_string(kMaxConfigSize) + "-byte config space"};
      if (c.flags > 1) return Error{what + ": unknown config flags " + hex(c.flags)};
      auto data = r.rest();
      c.data.assign(data.begin(), data.end());
      return Payload{std::move(c)};
    }
    case K::kSingleRegion: {
      TANDEM_TRY(expect_size(what, p.size(), 8 + kRegionSize));
      (void)r.get<uint64_t>();  // padding
      SingleMemRegion s{read_region(r)};
      TANDEM_TRY(validate_regions(std::span<const MemRegion>(&s.region, 1), what));
      return Payload{s};
    }
  }
  return Error{what + ": unknown payload kind"};
}

// Values whose range depends on the request, not only on the payload kind.
Status check_request_values(Request req, const Payload& p, const std::string& what) {
  auto num_in = [&](uint32_t lo, uint32_t hi) -> Status {
    uint32_t num = std::get<VringState>(p).num;
    if (num < lo || num > hi)
      return Error{what + ": num " + std::to_string(num) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi)};
    return {};
  };
  auto u64_max = [&](uint64_t lo, uint64_t hi, const char* field) -> Status {
    uint64_t v = std::get<uint64_t>(p);
    if (v < lo || v > hi) return Error{what + ": " + field + " " + hex(v) + " is outside " + hex(lo) + ".." + hex(hi)};
    return {};
  };
  switch (req) {
    case Request::kSetVringNum: return num_in(1, kMaxVringSize);
    case Request::kSetVringEnable:
    case Request::kSetVringEndian: return num_in(0, 1);
    case Request::kVringKick: return num_in(0, 0);
    case Request::kNetSetMtu: return u64_max(68, 65535, "mtu");
    case Request::kSetStatus: return u64_max(0, 0xff, "status");
    case Request::kSendRarp: return u64_max(0, (1ULL << 48) - 1, "mac");
    default: return {};
  }
}

Status check_fds(const RequestInfo& info, const Payload& p, size_t nfds, const std::string& what) {
  auto count = [&](size_t want) -> Status {
    if (nfds != want)
      return Error{what + ": " + std::to_string(nfds) + " fds, expected " + std::to_string(want)};
    return {};
  };
  if (nfds > kMaxFds) return Error{what + ": " + std::to_string(nfds) + " fds, at most " + std::to_string(kMaxFds)};
  switch (info.fds) {
    case F::kNone: return count(0);
    case F::kOne: return count(1);
    case F::kOnePerRegion: {
      size_t n = std::get<MemoryTable>(p).regions.size();
      if (nfds != n)
        return Error{what + ": " + std::to_string(nfds) + " fds for " + std::to_string(n) + " regions (one per region)"};
      return {};
    }
    case F::kOneUnlessNoFd: {
      if (std::get<VringFile>(p).no_fd) {
        if (nfds != 0) return Error{what + ": NOFD is set but " + std::to_string(nfds) + " fds came with it"};
        return {};
      }
      return count(1);
    }
    case F::kAtMostOne:
      if (nfds > 1) return Error{what + ": " + std::to_string(nfds) + " fds, expected at most 1"};
      return {};
  }
  return {};
}

Result<std::vector<uint8_t>> encode_payload(PayloadKind kind, const Payload& p, const std::string& what) {
  std::vector<uint8_t> out;
  auto wrong = [&](const char* want) { return Error{what + ": payload must be " + want}; };
  switch (kind) {
    case K::kNone:
      if (!std::holds_alternative<std::monostate>(p)) return wrong("empty");
      break;
    case K::kU64:
      if (auto* v = std::get_if<uint64_t>(&p)) put(out, *v);
      else return wrong("a u64");
      break;
    case K::kVringState:
      if (auto* s = std::get_if<VringState>(&p)) {
        put(out, s->index);
        put(out, s->num);
      } else {
        return wrong("a vring state");
      }
      break;
    case K::kVringAddress:
      if (auto* a = std::get_if<VringAddress>(&p)) {
        put(out, a->index);
        put(out, a->flags);
        put(out, a->desc);
        put(out, a->used);
        put(out, a->avail);
        put(out, a->log);
      } else {
        return wrong("a vring address");
      }
      break;
    case K::kMemoryTable:
      if (auto* t = std::get_if<MemoryTable>(&p)) {
        if (t->regions.size() > kMaxMemRegions)
          return Error{what + ": " + std::to_string(t->regions.size()) + " regions, at most " + std::to_string(kMaxMemRegions)};
        put(out, static_cast<uint32_t>(t->regions.size()));
        put(out, uint32_t{0});
        for (const auto& m : t->regions) write_region(out, m);
      } else {
        return wrong("a memory table");
      }
      break;
    case K::kVringFile:
      if (auto* f = std::get_if<VringFile>(&p)) {
        if (f->index > kMaxVringIndex)
          return Error{what + ": vring index " + std::to_string(f->index) + " is over " + std::to_string(kMaxVringIndex)};
        put(out, uint64_t{f->index} | (f->no_fd ? kVringNoFd : 0));
      } else {
        return wrong("a vring file");
      }
      break;
    case K::kLogArea:
      if (auto* l = std::get_if<LogArea>(&p)) {
        put(out, l->size);
        put(out, l->offset);
      } else {
        return wrong("a log area");
      }
      break;
    case K::kConfig:
      if (auto* c = std::get_if<DeviceConfig>(&p)) {
        if (c->data.size() > kMaxConfigSize)
          return Error{what + ": config size " + std::to_string(c->data.size()) + " is over " + std::to_string(kMaxConfigSize)};
        put(out, c->offset);
        put(out, static_cast<uint32_t>(c->data.size()));
        put(out, c->flags);
        out.insert(out.end(), c->data.begin(), c->data.end());
      } else {
        return wrong("a device config");
      }
      break;
    case K::kSingleRegion:
      if (auto* s = std::get_if<SingleMemRegion>(&p)) {
        put(out, uint64_t{0});
        write_region(out, s->region);
      } else {
        return wrong("a single memory region");
      }
      break;
  }
  return out;
}

Result<std::vector<uint8_t>> with_header(uint32_t code, uint32_t flags, std::vector<uint8_t> payload) {
  auto h = encode_header({code, flags, static_cast<uint32_t>(payload.size())});
  std::vector<uint8_t> out(h.begin(), h.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Status check_flags(uint32_t flags, const std::string& what) {
  if ((flags & kVersionMask) != kVersion)
    return Error{what + ": version " + std::to_string(flags & kVersionMask) + ", expected " + std::to_string(kVersion)};
  if (flags & ~kKnownFlags) return Error{what + ": unknown flag bits " + hex(flags & ~kKnownFlags)};
  return {};
}

Status check_raw_size(const RawMessage& raw, const std::string& what) {
  if (raw.header.size > kMaxPayloadSize)
    return Error{what + ": payload size " + std::to_string(raw.header.size) + " is over " + std::to_string(kMaxPayloadSize)};
  if (raw.payload.size() != raw.header.size)
    return Error{what + ": " + std::to_string(raw.payload.size()) + " payload bytes, header says " +
                 std::to_string(raw.header.size)};
  return {};
}

}  // namespace

const RequestInfo* request_info(uint32_t code) {
  if (code == 0 || code >= kRequestCount) return nullptr;
  return &kRequests[code];
}

std::string request_name(uint32_t code) {
  if (const RequestInfo* info = request_info(code)) return info->name;
  return "request " + std::to_string(code);
}

bool has_own_reply(Request r) {
  const RequestInfo* info = request_info(static_cast<uint32_t>(r));
  return info && info->reply != K::kNone;
}

std::array<uint8_t, kHeaderSize> encode_header(const Header& h) {
  std::array<uint8_t, kHeaderSize> out{};
  (void)store_le<uint32_t>(out, 0, h.request);
  (void)store_le<uint32_t>(out, 4, h.flags);
  (void)store_le<uint32_t>(out, 8, h.size);
  return out;
}

Header decode_header(std::span<const uint8_t, kHeaderSize> bytes) {
  return {load_le<uint32_t>(bytes, 0).value_or(0), load_le<uint32_t>(bytes, 4).value_or(0),
          load_le<uint32_t>(bytes, 8).value_or(0)};
}

Result<RawMessage> split_message(std::span<const uint8_t> wire, std::vector<UniqueFd> fds) {
  if (wire.size() < kHeaderSize)
    return Error{"vhost-user message of " + std::to_string(wire.size()) + " bytes: truncated header (12 bytes)"};
  RawMessage raw;
  raw.header = decode_header(wire.first<kHeaderSize>());
  std::string what = request_name(raw.header.request);
  if (raw.header.size > kMaxPayloadSize)
    return Error{what + ": payload size " + std::to_string(raw.header.size) + " is over " + std::to_string(kMaxPayloadSize)};
  if (wire.size() - kHeaderSize != raw.header.size)
    return Error{what + ": " + std::to_string(wire.size() - kHeaderSize) + " payload bytes, header says " +
                 std::to_string(raw.header.size)};
  raw.payload.assign(wire.begin() + kHeaderSize, wire.end());
  raw.fds = std::move(fds);
  return raw;
}

Status validate_regions(std::span<const MemRegion> regions, const std::string& what) {
  if (regions.empty()) return Error{what + ": no memory regions"};
  if (regions.size() > kMaxMemRegions)
    return Error{what + ": " + std::to_string(regions.size()) + " regions, at most " + std::to_string(kMaxMemRegions)};
  for (size_t i = 0; i < regions.size(); ++i) {
    const MemRegion& m = regions[i];
    std::string at = what + ": region " + std::to_string(i) + ": ";
    if (m.memory_size == 0) return Error{at + "memory_size 0"};
    if (wraps(m.guest_phys_addr, m.memory_size))
      return Error{at + "guest_phys_addr " + hex(m.guest_phys_addr) + " + memory_size " + hex(m.memory_size) + " wraps"};
    if (wraps(m.userspace_addr, m.memory_size))
      return Error{at + "userspace_addr " + hex(m.userspace_addr) + " + memory_size " + hex(m.memory_size) + " wraps"};
    if (wraps(m.mmap_offset, m.memory_size))
      return Error{at + "mmap_offset " + hex(m.mmap_offset) + " + memory_size " + hex(m.memory_size) + " wraps"};
    for (size_t j = 0; j < i; ++j) {
      const MemRegion& o = regions[j];
      if (m.guest_phys_addr < o.guest_phys_addr + o.memory_size && o.guest_phys_addr < m.guest_phys_addr + m.memory_size)
        return Error{at + "guest-physical " + range(m.guest_phys_addr, m.memory_size) + " overlaps region " +
                     std::to_string(j) + " " + range(o.guest_phys_addr, o.memory_size)};
    }
  }
  return {};
}

Result<std::vector<uint8_t>> encode_request(Request r, const Payload& payload, bool need_reply) {
  const RequestInfo* info = request_info(static_cast<uint32_t>(r));
  if (!info) return Error{request_name(static_cast<uint32_t>(r)) + ": unknown request code"};
  if (!info->supported) return Error{std::string(info->name) + ": not supported by this codec"};
  std::string what = info->name;
  auto bytes = encode_payload(info->request, payload, what);
  TANDEM_TRY(bytes);
  // The same checks a back-end's decoder will make.
  auto decoded = decode_payload(info->request, *bytes, what);
  TANDEM_TRY(decoded);
  TANDEM_TRY(check_request_values(r, *decoded, what));
  return with_header(static_cast<uint32_t>(r), kVersion | (need_reply ? kFlagNeedReply : 0), std::move(*bytes));
}

Result<std::vector<uint8_t>> encode_reply(Request r, const Payload& payload) {
  const RequestInfo* info = request_info(static_cast<uint32_t>(r));
  if (!info) return Error{request_name(static_cast<uint32_t>(r)) + ": unknown request code"};
  std::string what = std::string(info->name) + " reply";
  PayloadKind kind = info->reply != K::kNone ? info->reply : K::kU64;
  auto bytes = encode_payload(kind, payload, what);
  TANDEM_TRY(bytes);
  TANDEM_TRY(decode_payload(kind, *bytes, what));
  return with_header(static_cast<uint32_t>(r), kVersion | kFlagReply, std::move(*bytes));
}

Result<Message> decode_request(RawMessage raw) {
  const RequestInfo* info = request_info(raw.header.request);
  if (!info) return Error{"unknown vhost-user request code " + std::to_string(raw.header.request)};
  std::string what = info->name;
  if (!info->supported)
    return Error{what + " (" + std::to_string(raw.header.request) + "): request not supported"};
  TANDEM_TRY(check_flags(raw.header.flags, what));
  if (raw.header.flags & kFlagReply) return Error{what + ": REPLY flag set on a request"};
  TANDEM_TRY(check_raw_size(raw, what));
  auto payload = decode_payload(info->request, raw.payload, what);
  TANDEM_TRY(payload);
  auto req = static_cast<Request>(raw.header.request);
  TANDEM_TRY(check_request_values(req, *payload, what));
  TANDEM_TRY(check_fds(*info, *payload, raw.fds.size(), what));
  return Message{req, raw.header.flags, std::move(*payload), std::move(raw.fds)};
}

Result<Message> decode_reply(Request sent, RawMessage raw) {
  const RequestInfo* info = request_info(static_cast<uint32_t>(sent));
  if (!info) return Error{request_name(static_cast<uint32_t>(sent)) + ": unknown request code"};
  std::string what = std::string(info->name) + " reply";
  if (raw.header.request != static_cast<uint32_t>(sent))
    return Error{what + ": the back-end answered with code " + std::to_string(raw.header.request) + " (" +
                 request_name(raw.header.request) + ")"};
  TANDEM_TRY(check_flags(raw.header.flags, what));
  if (!(raw.header.flags & kFlagReply)) return Error{what + ": REPLY flag missing"};
  TANDEM_TRY(check_raw_size(raw, what));
  if (!raw.fds.empty()) return Error{what + ": " + std::to_string(raw.fds.size()) + " unexpected fds"};
  auto payload = decode_payload(info->reply != K::kNone ? info->reply : K::kU64, raw.payload, what);
  TANDEM_TRY(payload);
  return Message{sent, raw.header.flags, std::move(*payload), {}};
}

}  // namespace tandem::vhost_user
