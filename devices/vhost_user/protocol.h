// devices/vhost_user/protocol.h: the vhost-user wire format (QEMU docs/interop/vhost-user.rst) and
// its codec: request codes, header flags, feature bits, the payload kinds, encoders for both
// directions, and decoders that check everything the peer controls.
//
// A message is a 12-byte header {request u32, flags u32, size u32} followed by `size` payload bytes,
// all little-endian here (the spec says "native", and tandem only runs on x86_64), plus up to 8 file
// descriptors in SCM_RIGHTS ancillary data. Decoding never casts bytes in place: fields are read one
// by one with base/le.h after the size was checked against what the request defines.
//
// What a decoder refuses (an Error naming the request and the field): unknown or unsupported request
// codes, a bad version or flag bits, a payload size other than the request's (exact, or for the
// variable payloads the exact size their own count implies), payloads over kMaxPayloadSize, a memory
// table with 0 or more than 8 regions, regions of size 0, whose gpa/userspace_addr/mmap_offset + size
// wraps, or whose guest-physical ranges overlap, vring indices over 255, vring sizes outside
// 1..32768, misaligned ring addresses, config accesses past 256 bytes, and any fd count other than
// what the request needs (SET_MEM_TABLE one per region, KICK/CALL/ERR one unless NOFD, ...).
// Values whose meaning depends on the device (feature bits, ring addresses inside the table, a
// ring index below the device's queue count) are for the consumer to check.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace tandem::vhost_user {

// Front-end → back-end requests. The replies carry the same code.
enum class Request : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kResetOwner = 4,
  kSetMemTable = 5,
  kSetLogBase = 6,
  kSetLogFd = 7,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kSetVringErr = 14,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
  kSendRarp = 19,
  kNetSetMtu = 20,
  kSetBackendReqFd = 21,
  kIotlbMsg = 22,
  kSetVringEndian = 23,
  kGetConfig = 24,
  kSetConfig = 25,
  kCreateCryptoSession = 26,
  kCloseCryptoSession = 27,
  kPostcopyAdvise = 28,
  kPostcopyListen = 29,
  kPostcopyEnd = 30,
  kGetInflightFd = 31,
  kSetInflightFd = 32,
  kGpuSetSocket = 33,
  kResetDevice = 34,
  kVringKick = 35,
  kGetMaxMemSlots = 36,
  kAddMemReg = 37,
  kRemMemReg = 38,
  kSetStatus = 39,
  kGetStatus = 40,
};

// "SET_MEM_TABLE", or "request 99" for a code the protocol does not define.
std::string request_name(uint32_t code);
inline std::string request_name(Request r) { return request_name(static_cast<uint32_t>(r)); }

// Header.
constexpr size_t kHeaderSize = 12;
constexpr uint32_t kVersion = 0x1;
constexpr uint32_t kVersionMask = 0x3;
constexpr uint32_t kFlagReply = 0x4;
constexpr uint32_t kFlagNeedReply = 0x8;
constexpr uint32_t kKnownFlags = kVersionMask | kFlagReply | kFlagNeedReply;

// Limits. The largest payload the protocol defines is a config access (12 + 256 bytes); anything
// announcing more than kMaxPayloadSize is refused before it is read.
constexpr size_t kMaxPayloadSize = 4096;
constexpr size_t kMaxFds = 8;
constexpr uint32_t kMaxMemRegions = 8;  // VHOST_MEMORY_BASELINE_NREGIONS
constexpr uint32_t kMaxConfigSize = 256;
constexpr uint32_t kMaxVringIndex = 255;  // KICK/CALL/ERR carry the index in 8 bits
constexpr uint32_t kMaxVringSize = 32768;

// u64 payload of SET_VRING_KICK/CALL/ERR.
constexpr uint64_t kVringIndexMask = 0xff;
constexpr uint64_t kVringNoFd = 0x100;

// SET_VRING_ADDR flags.
constexpr uint32_t kVringFlagLog = 0x1;  // VHOST_VRING_F_LOG

// Feature bit (in GET/SET_FEATURES) that says the back-end speaks protocol features.
constexpr uint64_t kFeatureProtocolFeatures = 1ULL << 30;

// Protocol feature bits (GET/SET_PROTOCOL_FEATURES), as masks.
namespace protocol_feature {
constexpr uint64_t kMq = 1ULL << 0;
constexpr uint64_t kLogShmfd = 1ULL << 1;
constexpr uint64_t kRarp = 1ULL << 2;
constexpr uint64_t kReplyAck = 1ULL << 3;
constexpr uint64_t kMtu = 1ULL << 4;
constexpr uint64_t kBackendReq = 1ULL << 5;
constexpr uint64_t kCrossEndian = 1ULL << 6;
constexpr uint64_t kCryptoSession = 1ULL << 7;
constexpr uint64_t kPagefault = 1ULL << 8;
constexpr uint64_t kConfig = 1ULL << 9;
constexpr uint64_t kBackendSendFd = 1ULL << 10;
constexpr uint64_t kHostNotifier = 1ULL << 11;
constexpr uint64_t kInflightShmfd = 1ULL << 12;
constexpr uint64_t kResetDevice = 1ULL << 13;
constexpr uint64_t kInbandNotifications = 1ULL << 14;
constexpr uint64_t kConfigureMemSlots = 1ULL << 15;
constexpr uint64_t kStatus = 1ULL << 16;
}  // namespace protocol_feature

struct Header {
  uint32_t request = 0;
  uint32_t flags = 0;
  uint32_t size = 0;  // payload bytes after the header
  bool operator==(const Header&) const = default;
};

// Payloads.
struct VringState {  // SET_VRING_NUM/BASE/ENABLE/ENDIAN, GET_VRING_BASE, VRING_KICK
  uint32_t index = 0;
  uint32_t num = 0;
  bool operator==(const VringState&) const = default;
};

struct VringAddress {  // SET_VRING_ADDR; addresses are the front-end's virtual addresses
  uint32_t index = 0;
  uint32_t flags = 0;
  uint64_t desc = 0;
  uint64_t used = 0;
  uint64_t avail = 0;
  uint64_t log = 0;
  bool operator==(const VringAddress&) const = default;
};

struct MemRegion {
  uint64_t guest_phys_addr = 0;
  uint64_t memory_size = 0;
  uint64_t userspace_addr = 0;
  uint64_t mmap_offset = 0;  // where the region starts in its fd
  bool operator==(const MemRegion&) const = default;
};

struct MemoryTable {  // SET_MEM_TABLE: one fd per region, in the same order
  std::vector<MemRegion> regions;
  bool operator==(const MemoryTable&) const = default;
};

struct VringFile {  // SET_VRING_KICK/CALL/ERR: one fd unless no_fd
  uint32_t index = 0;
  bool no_fd = false;
  bool operator==(const VringFile&) const = default;
};

struct LogArea {  // SET_LOG_BASE (with LOG_SHMFD): the log lives at [offset, offset+size) of the fd
  uint64_t size = 0;
  uint64_t offset = 0;
  bool operator==(const LogArea&) const = default;
};

struct DeviceConfig {  // GET_CONFIG/SET_CONFIG: data.size() bytes at `offset` of the config space
  uint32_t offset = 0;
  uint32_t flags = 0;  // 0: writable fields, 1: live migration
  std::vector<uint8_t> data;
  bool operator==(const DeviceConfig&) const = default;
};

struct SingleMemRegion {  // ADD_MEM_REG/REM_MEM_REG (8 padding bytes, then one region)
  MemRegion region;
  bool operator==(const SingleMemRegion&) const = default;
};

// uint64_t: features, protocol features, queue count, MTU, status, and every REPLY_ACK answer.
using Payload = std::variant<std::monostate, uint64_t, VringState, VringAddress, MemoryTable, VringFile,
                             LogArea, DeviceConfig, SingleMemRegion>;

// Which payload a request (or its reply) carries, and which fds come with a request.
enum class PayloadKind { kNone, kU64, kVringState, kVringAddress, kMemoryTable, kVringFile, kLogArea, kConfig, kSingleRegion };
enum class FdRule { kNone, kOne, kOnePerRegion, kOneUnlessNoFd, kAtMostOne };

struct RequestInfo {
  const char* name;
  PayloadKind request;
  FdRule fds;
  PayloadKind reply;  // kNone: no reply of its own (only a REPLY_ACK answer when NEED_REPLY is set)
  bool supported;     // false: defined by the protocol, but this codec does not decode it
};

// Nullptr for codes the protocol does not define.
const RequestInfo* request_info(uint32_t code);
bool has_own_reply(Request r);

// The transport's unit: a header, exactly header.size payload bytes, and the fds that came with them.
struct RawMessage {
  Header header;
  std::vector<uint8_t> payload;
  std::vector<UniqueFd> fds;
};

// A decoded, validated message. The fds are in the order the peer sent them.
struct Message {
  Request request{};
  uint32_t flags = 0;
  Payload payload;
  std::vector<UniqueFd> fds;
  bool need_reply() const { return (flags & kFlagNeedReply) != 0; }
};

std::array<uint8_t, kHeaderSize> encode_header(const Header& h);
Header decode_header(std::span<const uint8_t, kHeaderSize> bytes);

// Splits one whole message held in a buffer (header + payload). Refuses a truncated header, a size
// over kMaxPayloadSize and a buffer whose length is not 12 + size.
Result<RawMessage> split_message(std::span<const uint8_t> wire, std::vector<UniqueFd> fds = {});

// Header + payload bytes of a request (front-end → back-end). The payload must be the request's
// kind and pass the same checks the decoder makes, so tandem never sends what it would refuse.
Result<std::vector<uint8_t>> encode_request(Request r, const Payload& payload, bool need_reply = false);
// Header + payload bytes of a reply (back-end → front-end): the request's own reply kind, or a u64
// for a REPLY_ACK answer (0 = success).
Result<std::vector<uint8_t>> encode_reply(Request r, const Payload& payload);

// Back-end side: a request from the front-end, fds checked against the request.
Result<Message> decode_request(RawMessage raw);
// Front-end side: the reply to `sent`. Checks the code matches, REPLY is set, and the payload is
// `sent`'s own reply kind, or (for a request without one) the u64 of a REPLY_ACK answer. Replies
// carry no fds.
Result<Message> decode_reply(Request sent, RawMessage raw);

// The checks SET_MEM_TABLE's decoder makes on its regions (count, sizes, wrap, gpa overlap).
// `what` prefixes the error ("SET_MEM_TABLE").
Status validate_regions(std::span<const MemRegion> regions, const std::string& what);

}  // namespace tandem::vhost_user
