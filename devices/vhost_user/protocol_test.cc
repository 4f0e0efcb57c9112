// Unit tests for devices/vhost_user/protocol: exact wire bytes, encode/decode round trips for both
// directions, and every class of hostile message a peer could send (each must be an Error that names
// the request and the field, never a crash or a silently accepted message).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/eventfd.h>

#include "devices/vhost_user/protocol.h"

using namespace tandem;
using namespace tandem::vhost_user;

namespace {

std::vector<UniqueFd> make_fds(size_t n) {
  std::vector<UniqueFd> fds;
  for (size_t i = 0; i < n; ++i) {
    fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    REQUIRE(fds.back().valid());
  }
  return fds;
}

void put32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A message built by hand, the way a hostile peer would: header fields as given, payload as given.
std::vector<uint8_t> wire(uint32_t code, uint32_t flags, const std::vector<uint8_t>& payload, int64_t size = -1) {
  std::vector<uint8_t> b;
  put32(b, code);
  put32(b, flags);
  put32(b, size < 0 ? static_cast<uint32_t>(payload.size()) : static_cast<uint32_t>(size));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Result<Message> decode(const std::vector<uint8_t>& bytes, size_t nfds = 0) {
  auto raw = split_message(bytes, make_fds(nfds));
  if (!raw.ok()) return raw.error();
  return decode_request(std::move(raw).value());
}

Result<Message> decode_as_reply(Request sent, const std::vector<uint8_t>& bytes, size_t nfds = 0) {
  auto raw = split_message(bytes, make_fds(nfds));
  if (!raw.ok()) return raw.error();
  return decode_reply(sent, std::move(raw).value());
}

// The error of a decode that must fail; fails the test if it succeeded.
std::string refused(const Result<Message>& r) {
  REQUIRE_FALSE(r.ok());
  return r.message();
}

std::vector<uint8_t> table_payload(uint32_t nregions, const std::vector<MemRegion>& regions) {
  std::vector<uint8_t> p;
  put32(p, nregions);
  put32(p, 0);
  for (const auto& m : regions) {
    put64(p, m.guest_phys_addr);
    put64(p, m.memory_size);
    put64(p, m.userspace_addr);
    put64(p, m.mmap_offset);
  }
  return p;
}

std::vector<uint8_t> u64_payload(uint64_t v) {
  std::vector<uint8_t> p;
  put64(p, v);
  return p;
}

const MemRegion kLow{0, 0x100000, 0x7f0000000000, 0};
const MemRegion kHigh{0x100000000, 0x200000, 0x7f1000000000, 0x100000};

}  // namespace

TEST_CASE("header and payload bytes are little-endian and exactly the spec's layout") {
  auto h = encode_header({5, kVersion | kFlagNeedReply, 0x28});
  CHECK(std::vector<uint8_t>(h.begin(), h.end()) == std::vector<uint8_t>{5, 0, 0, 0, 9, 0, 0, 0, 0x28, 0, 0, 0});
  CHECK(decode_header(h) == Header{5, 9, 0x28});

  auto num = encode_request(Request::kSetVringNum, VringState{1, 256});
  REQUIRE(num.ok());
  CHECK(*num == std::vector<uint8_t>{8, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0});

  auto kick = encode_request(Request::kSetVringKick, VringFile{3, true});
  REQUIRE(kick.ok());
  CHECK(*kick == wire(12, 1, u64_payload(0x103)));

  auto addr = encode_request(Request::kSetVringAddr, VringAddress{1, 0, 0x1000, 0x3000, 0x2000, 0});
  REQUIRE(addr.ok());
  std::vector<uint8_t> want;
  put32(want, 1);
  put32(want, 0);
  put64(want, 0x1000);  // desc, used, avail, log: the order of struct vhost_vring_addr
  put64(want, 0x3000);
  put64(want, 0x2000);
  put64(want, 0);
  CHECK(*addr == wire(9, 1, want));

  auto table = encode_request(Request::kSetMemTable, MemoryTable{{kLow, kHigh}}, true);
  REQUIRE(table.ok());
  CHECK(table->size() == 12 + 8 + 2 * 32);  // only the regions in use, as QEMU sends it
  CHECK(*table == wire(5, 9, table_payload(2, {kLow, kHigh})));

  auto reply = encode_reply(Request::kGetFeatures, uint64_t{0x140000000});
  REQUIRE(reply.ok());
  CHECK(*reply == wire(1, 5, u64_payload(0x140000000)));
}

TEST_CASE("every supported request round-trips through encode_request and decode_request") {
  struct Case {
    Request r;
    Payload p;
    size_t nfds;
  };
  DeviceConfig cfg{4, 0, {1, 2, 3, 4, 5, 6}};
  std::vector<Case> cases = {
      {Request::kGetFeatures, {}, 0},
      {Request::kSetFeatures, uint64_t{0x1'4000'0000}, 0},
      {Request::kSetOwner, {}, 0},
      {Request::kResetOwner, {}, 0},
      {Request::kSetMemTable, MemoryTable{{kLow, kHigh}}, 2},
      {Request::kSetLogBase, LogArea{0x1000, 0x2000}, 1},
      {Request::kSetLogFd, {}, 1},
      {Request::kSetVringNum, VringState{1, 32768}, 0},
      {Request::kSetVringAddr, VringAddress{2, kVringFlagLog, 0x10, 0x20, 0x30, 0x40}, 0},
      {Request::kSetVringBase, VringState{0, 0x8001'0005}, 0},
      {Request::kGetVringBase, VringState{255, 0}, 0},
      {Request::kSetVringKick, VringFile{0, false}, 1},
      {Request::kSetVringCall, VringFile{255, true}, 0},
      {Request::kSetVringErr, VringFile{7, false}, 1},
      {Request::kGetProtocolFeatures, {}, 0},
      {Request::kSetProtocolFeatures, uint64_t{protocol_feature::kReplyAck}, 0},
      {Request::kGetQueueNum, {}, 0},
      {Request::kSetVringEnable, VringState{1, 1}, 0},
      {Request::kSendRarp, uint64_t{0x525400123456}, 0},
      {Request::kNetSetMtu, uint64_t{1500}, 0},
      {Request::kSetBackendReqFd, {}, 1},
      {Request::kSetVringEndian, VringState{0, 0}, 0},
      {Request::kGetConfig, cfg, 0},
      {Request::kSetConfig, DeviceConfig{0, 1, std::vector<uint8_t>(256, 0xab)}, 0},
      {Request::kResetDevice, {}, 0},
      {Request::kVringKick, VringState{3, 0}, 0},
      {Request::kGetMaxMemSlots, {}, 0},
      {Request::kAddMemReg, SingleMemRegion{kHigh}, 1},
      {Request::kRemMemReg, SingleMemRegion{kHigh}, 0},
      {Request::kSetStatus, uint64_t{0xf}, 0},
      {Request::kGetStatus, {}, 0},
  };
  for (auto& c : cases) {
    CAPTURE(request_name(c.r));
    for (bool need_reply : {false, true}) {
      auto bytes = encode_request(c.r, c.p, need_reply);
      REQUIRE(bytes.ok());
      auto m = decode(*bytes, c.nfds);
      REQUIRE(m.ok());
      CHECK(m->request == c.r);
      CHECK(m->need_reply() == need_reply);
      CHECK(m->payload == c.p);
      CHECK(m->fds.size() == c.nfds);
    }
  }
}

TEST_CASE("replies round-trip through encode_reply and decode_reply") {
  auto check = [](Request r, const Payload& p) {
    CAPTURE(request_name(r));
    auto bytes = encode_reply(r, p);
    REQUIRE(bytes.ok());
    auto m = decode_as_reply(r, *bytes);
    REQUIRE(m.ok());
    CHECK(m->request == r);
    CHECK((m->flags & kFlagReply) != 0);
    CHECK(m->payload == p);
  };
  check(Request::kGetFeatures, uint64_t{0x1'0000'0000});
  check(Request::kGetProtocolFeatures, uint64_t{0x3ff});
  check(Request::kGetQueueNum, uint64_t{4});
  check(Request::kGetVringBase, VringState{1, 77});
  check(Request::kGetConfig, DeviceConfig{0, 0, {0x52, 0x54, 0, 1, 2, 3}});
  check(Request::kSetMemTable, uint64_t{0});  // REPLY_ACK answers
  check(Request::kSetVringEnable, uint64_t{1});
  CHECK(has_own_reply(Request::kGetVringBase));
  CHECK_FALSE(has_own_reply(Request::kSetVringNum));
}

TEST_CASE("request names and codes") {
  CHECK(request_name(Request::kSetMemTable) == "SET_MEM_TABLE");
  CHECK(request_name(Request::kGetConfig) == "GET_CONFIG");
  CHECK(request_name(Request::kGetStatus) == "GET_STATUS");
  CHECK(request_name(0) == "request 0");
  CHECK(request_name(41) == "request 41");
  CHECK(static_cast<uint32_t>(Request::kNetSetMtu) == 20);
  CHECK(static_cast<uint32_t>(Request::kSetConfig) == 25);
  CHECK(kFeatureProtocolFeatures == 0x40000000);
  CHECK(protocol_feature::kConfig == 0x200);
}

TEST_CASE("hostile framing: truncated header, oversized or mismatched size") {
  CHECK(refused(decode({})).find("truncated header") != std::string::npos);
  CHECK(refused(decode({8, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0})).find("truncated header") != std::string::npos);
  // Announces more than kMaxPayloadSize: refused before anything is allocated for it.
  CHECK(refused(decode(wire(5, 1, {}, 4097))).find("SET_MEM_TABLE: payload size 4097 is over 4096") != std::string::npos);
  CHECK(refused(decode(wire(5, 1, {}, 0xffffffff))).find("is over 4096") != std::string::npos);
  // Header size and the bytes that follow disagree.
  CHECK(refused(decode(wire(8, 1, {1, 0, 0, 0}, 8))).find("SET_VRING_NUM: 4 payload bytes, header says 8") != std::string::npos);
  // A RawMessage whose payload does not match its header (a transport bug) is refused too.
  RawMessage raw;
  raw.header = {8, 1, 8};
  raw.payload = {1, 2, 3};
  auto r = decode_request(std::move(raw));
  CHECK(refused(r).find("3 payload bytes, header says 8") != std::string::npos);
}

TEST_CASE("hostile header: unknown and unsupported codes, version, flags") {
  CHECK(refused(decode(wire(0, 1, {}))) == "unknown vhost-user request code 0");
  CHECK(refused(decode(wire(41, 1, {}))) == "unknown vhost-user request code 41");
  CHECK(refused(decode(wire(0xffffffff, 1, {}))) == "unknown vhost-user request code 4294967295");
  CHECK(refused(decode(wire(22, 1, {}))).find("IOTLB_MSG (22): request not supported") != std::string::npos);
  CHECK(refused(decode(wire(3, 0, {}))) == "SET_OWNER: version 0, expected 1");
  CHECK(refused(decode(wire(3, 2, {}))) == "SET_OWNER: version 2, expected 1");
  CHECK(refused(decode(wire(3, 1 | kFlagReply, {}))) == "SET_OWNER: REPLY flag set on a request");
  CHECK(refused(decode(wire(3, 1 | 0x10, {}))) == "SET_OWNER: unknown flag bits 0x10");
  CHECK(refused(decode_request(RawMessage{{99, 1, 0}, {}, {}})) == "unknown vhost-user request code 99");
}

TEST_CASE("hostile sizes: every fixed-size payload must be exactly its size") {
  CHECK(refused(decode(wire(1, 1, u64_payload(0)))) == "GET_FEATURES: payload size 8, expected 0");
  CHECK(refused(decode(wire(2, 1, {1, 2, 3, 4}))) == "SET_FEATURES: payload size 4, expected 8");
  CHECK(refused(decode(wire(8, 1, std::vector<uint8_t>(12)))) == "SET_VRING_NUM: payload size 12, expected 8");
  CHECK(refused(decode(wire(9, 1, std::vector<uint8_t>(32)))) == "SET_VRING_ADDR: payload size 32, expected 40");
  CHECK(refused(decode(wire(12, 1, std::vector<uint8_t>(4)), 1)) == "SET_VRING_KICK: payload size 4, expected 8");
  CHECK(refused(decode(wire(6, 1, std::vector<uint8_t>(8)), 1)) == "SET_LOG_BASE: payload size 8, expected 16");
  CHECK(refused(decode(wire(37, 1, std::vector<uint8_t>(32)), 1)) == "ADD_MEM_REG: payload size 32, expected 40");
}

TEST_CASE("hostile memory tables: region count, size, wrap, overlap") {
  CHECK(refused(decode(wire(5, 1, {1, 0, 0, 0}))).find("less than the 8-byte table header") != std::string::npos);
  CHECK(refused(decode(wire(5, 1, table_payload(0, {})))) == "SET_MEM_TABLE: nregions 0 (a table needs at least one region)");
  CHECK(refused(decode(wire(5, 1, table_payload(9, std::vector<MemRegion>(9, kLow))), 8)) ==
        "SET_MEM_TABLE: nregions 9 is more than 8");
  CHECK(refused(decode(wire(5, 1, table_payload(0xffffffff, {kLow})), 1)) == "SET_MEM_TABLE: nregions 4294967295 is more than 8");
  CHECK(refused(decode(wire(5, 1, table_payload(2, {kLow})), 2)) ==
        "SET_MEM_TABLE: payload size 40 does not match nregions 2 (expected 72)");
  CHECK(refused(decode(wire(5, 1, table_payload(1, {kLow, kHigh})), 1)) ==
        "SET_MEM_TABLE: payload size 72 does not match nregions 1 (expected 40)");

  auto one = [](const MemRegion& m) { return decode(wire(5, 1, table_payload(1, {m})), 1); };
  CHECK(refused(one({0, 0, 0x1000, 0})) == "SET_MEM_TABLE: region 0: memory_size 0");
  CHECK(refused(one({0xfffffffffffff000, 0x2000, 0x1000, 0})) ==
        "SET_MEM_TABLE: region 0: guest_phys_addr 0xfffffffffffff000 + memory_size 0x2000 wraps");
  CHECK(refused(one({0xfffffffffffff000, 0x1000, 0x1000, 0})).find("guest_phys_addr") != std::string::npos);  // ends at 2^64
  CHECK(refused(one({0, 0x2000, 0xffffffffffffffff, 0})) ==
        "SET_MEM_TABLE: region 0: userspace_addr 0xffffffffffffffff + memory_size 0x2000 wraps");
  CHECK(refused(one({0, 0x2000, 0x1000, 0xfffffffffffff001})) ==
        "SET_MEM_TABLE: region 0: mmap_offset 0xfffffffffffff001 + memory_size 0x2000 wraps");

  MemRegion overlapping{0xff000, 0x2000, 0x7f2000000000, 0};
  CHECK(refused(decode(wire(5, 1, table_payload(2, {kLow, overlapping})), 2)) ==
        "SET_MEM_TABLE: region 1: guest-physical [0xff000, 0x101000) overlaps region 0 [0x0, 0x100000)");
  MemRegion inside{0x1000, 0x1000, 0x7f3000000000, 0};
  CHECK(refused(decode(wire(5, 1, table_payload(3, {kHigh, kLow, inside})), 3)).find("region 2: guest-physical") != std::string::npos);
  MemRegion adjacent{0x100000, 0x1000, 0x7f3000000000, 0};  // touching is fine
  CHECK(decode(wire(5, 1, table_payload(2, {kLow, adjacent})), 2).ok());
  CHECK(decode(wire(5, 1, table_payload(8, {kLow, {0x100000, 1, 0, 0}, {0x100001, 1, 0, 0}, {0x100002, 1, 0, 0},
                                             {0x100003, 1, 0, 0}, {0x100004, 1, 0, 0}, {0x100005, 1, 0, 0},
                                             {0x100006, 1, 0, 0}})),
               8)
            .ok());

  std::vector<uint8_t> single;
  put64(single, 0);  // padding
  put64(single, 0xfffffffffffff000);
  put64(single, 0x2000);
  put64(single, 0);
  put64(single, 0);
  CHECK(refused(decode(wire(37, 1, single), 1)).find("ADD_MEM_REG: region 0: guest_phys_addr") != std::string::npos);
}

TEST_CASE("hostile fd counts: missing, extra, NOFD mismatches, more than 8") {
  auto table2 = wire(5, 1, table_payload(2, {kLow, kHigh}));
  CHECK(refused(decode(table2, 1)) == "SET_MEM_TABLE: 1 fds for 2 regions (one per region)");
  CHECK(refused(decode(table2, 3)) == "SET_MEM_TABLE: 3 fds for 2 regions (one per region)");
  CHECK(refused(decode(table2, 0)) == "SET_MEM_TABLE: 0 fds for 2 regions (one per region)");
  CHECK(refused(decode(wire(12, 1, u64_payload(1)), 0)) == "SET_VRING_KICK: 0 fds, expected 1");
  CHECK(refused(decode(wire(13, 1, u64_payload(1)), 2)) == "SET_VRING_CALL: 2 fds, expected 1");
  CHECK(refused(decode(wire(14, 1, u64_payload(0x101)), 1)) == "SET_VRING_ERR: NOFD is set but 1 fds came with it");
  CHECK(decode(wire(14, 1, u64_payload(0x101)), 0).ok());
  CHECK(refused(decode(wire(3, 1, {}), 1)) == "SET_OWNER: 1 fds, expected 0");
  CHECK(refused(decode(wire(7, 1, {}), 0)) == "SET_LOG_FD: 0 fds, expected 1");
  CHECK(refused(decode(wire(38, 1, [] {
                               std::vector<uint8_t> p(8);
                               put64(p, 0x1000);
                               put64(p, 0x1000);
                               put64(p, 0x1000);
                               put64(p, 0);
                               return p;
                             }()),
                       2)) == "REM_MEM_REG: 2 fds, expected at most 1");
  CHECK(refused(decode(wire(5, 1, table_payload(1, {kLow})), 9)) == "SET_MEM_TABLE: 9 fds, at most 8");
}

TEST_CASE("the fds of a refused message are closed") {
  std::vector<UniqueFd> fds = make_fds(2);
  int a = fds[0].get(), b = fds[1].get();
  auto raw = split_message(wire(3, 1, {}), std::move(fds));
  REQUIRE(raw.ok());
  CHECK_FALSE(decode_request(std::move(raw).value()).ok());
  CHECK(::fcntl(a, F_GETFD) == -1);
  CHECK(::fcntl(b, F_GETFD) == -1);
}

TEST_CASE("hostile values: vring indices, sizes, flags, alignment, config ranges") {
  auto state = [](uint32_t index, uint32_t num) {
    std::vector<uint8_t> p;
    put32(p, index);
    put32(p, num);
    return p;
  };
  CHECK(refused(decode(wire(8, 1, state(256, 8)))) == "SET_VRING_NUM: vring index 256 is over 255");
  CHECK(refused(decode(wire(8, 1, state(0, 0)))) == "SET_VRING_NUM: num 0 is outside 1..32768");
  CHECK(refused(decode(wire(8, 1, state(0, 32769)))) == "SET_VRING_NUM: num 32769 is outside 1..32768");
  CHECK(refused(decode(wire(18, 1, state(0, 2)))) == "SET_VRING_ENABLE: num 2 is outside 0..1");
  CHECK(refused(decode(wire(35, 1, state(0, 1)))) == "VRING_KICK: num 1 is outside 0..0");
  CHECK(refused(decode(wire(12, 1, u64_payload(0x200)), 1)) == "SET_VRING_KICK: reserved bits set in 0x200");
  CHECK(refused(decode(wire(20, 1, u64_payload(67)))) == "NET_SET_MTU: mtu 0x43 is outside 0x44..0xffff");
  CHECK(refused(decode(wire(39, 1, u64_payload(0x100)))) == "SET_STATUS: status 0x100 is outside 0x0..0xff");

  auto addr = [](uint32_t index, uint32_t flags, uint64_t desc, uint64_t used, uint64_t avail) {
    std::vector<uint8_t> p;
    put32(p, index);
    put32(p, flags);
    put64(p, desc);
    put64(p, used);
    put64(p, avail);
    put64(p, 0);
    return p;
  };
  CHECK(refused(decode(wire(9, 1, addr(300, 0, 0, 0, 0)))) == "SET_VRING_ADDR: vring index 300 is over 255");
  CHECK(refused(decode(wire(9, 1, addr(0, 2, 0, 0, 0)))) == "SET_VRING_ADDR: unknown vring flags 0x2");
  CHECK(refused(decode(wire(9, 1, addr(0, 0, 0x1008, 0, 0)))) == "SET_VRING_ADDR: descriptor table 0x1008 is not 16-byte aligned");
  CHECK(refused(decode(wire(9, 1, addr(0, 0, 0, 0x1002, 0)))) == "SET_VRING_ADDR: used ring 0x1002 is not 4-byte aligned");
  CHECK(refused(decode(wire(9, 1, addr(0, 0, 0, 0, 0x1001)))) == "SET_VRING_ADDR: available ring 0x1001 is not 2-byte aligned");

  auto config = [](uint32_t offset, uint32_t size, uint32_t flags, size_t data) {
    std::vector<uint8_t> p;
    put32(p, offset);
    put32(p, size);
    put32(p, flags);
    p.resize(p.size() + data);
    return p;
  };
  CHECK(refused(decode(wire(24, 1, std::vector<uint8_t>(8)))).find("less than the 12-byte config header") != std::string::npos);
  CHECK(refused(decode(wire(25, 1, config(0, 257, 0, 257)))) == "SET_CONFIG: config size 257 is over 256");
  CHECK(refused(decode(wire(25, 1, config(0, 8, 0, 4)))) == "SET_CONFIG: payload size 16 does not match config size 8 (expected 20)");
  CHECK(refused(decode(wire(25, 1, config(250, 8, 0, 8)))) == "SET_CONFIG: config offset 250 + size 8 is past the 256-byte config space");
  CHECK(refused(decode(wire(25, 1, config(0xfffffff8, 8, 0, 8)))).find("past the 256-byte config space") != std::string::npos);
  CHECK(refused(decode(wire(25, 1, config(0, 4, 2, 4)))) == "SET_CONFIG: unknown config flags 0x2");

  std::vector<uint8_t> log;
  put64(log, 0x1000);
  put64(log, 0xfffffffffffff800);
  CHECK(refused(decode(wire(6, 1, log), 1)) == "SET_LOG_BASE: log offset 0xfffffffffffff800 + size 0x1000 wraps");
}

TEST_CASE("hostile replies: wrong code, missing REPLY flag, wrong size, fds") {
  CHECK(refused(decode_as_reply(Request::kGetFeatures, wire(15, 5, u64_payload(1)))) ==
        "GET_FEATURES reply: the back-end answered with code 15 (GET_PROTOCOL_FEATURES)");
  CHECK(refused(decode_as_reply(Request::kGetFeatures, wire(1, 1, u64_payload(1)))) == "GET_FEATURES reply: REPLY flag missing");
  CHECK(refused(decode_as_reply(Request::kGetFeatures, wire(1, 4, u64_payload(1)))) == "GET_FEATURES reply: version 0, expected 1");
  CHECK(refused(decode_as_reply(Request::kGetFeatures, wire(1, 5, {1, 2, 3, 4}))) ==
        "GET_FEATURES reply: payload size 4, expected 8");
  CHECK(refused(decode_as_reply(Request::kSetMemTable, wire(5, 5, {}))) == "SET_MEM_TABLE reply: payload size 0, expected 8");
  CHECK(refused(decode_as_reply(Request::kGetVringBase, wire(11, 5, u64_payload(0x1'0000'0100)))) ==
        "GET_VRING_BASE reply: vring index 256 is over 255");
  CHECK(refused(decode_as_reply(Request::kGetFeatures, wire(1, 5, u64_payload(1)), 1)) == "GET_FEATURES reply: 1 unexpected fds");
  CHECK(refused(decode_as_reply(Request::kGetFeatures, wire(1, 5, {}, 5000))).find("is over 4096") != std::string::npos);
}

TEST_CASE("the encoders refuse what the decoders would refuse") {
  CHECK(encode_request(Request::kSetMemTable, uint64_t{1}).message() == "SET_MEM_TABLE: payload must be a memory table");
  CHECK(encode_request(Request::kSetOwner, uint64_t{1}).message() == "SET_OWNER: payload must be empty");
  CHECK(encode_request(Request::kSetMemTable, MemoryTable{}).message() ==
        "SET_MEM_TABLE: nregions 0 (a table needs at least one region)");
  CHECK(encode_request(Request::kSetMemTable, MemoryTable{std::vector<MemRegion>(9, kLow)}).message() ==
        "SET_MEM_TABLE: 9 regions, at most 8");
  CHECK(encode_request(Request::kSetMemTable, MemoryTable{{kLow, kLow}}).message().find("overlaps region 0") != std::string::npos);
  CHECK(encode_request(Request::kSetVringKick, VringFile{256, false}).message() == "SET_VRING_KICK: vring index 256 is over 255");
  CHECK(encode_request(Request::kSetVringNum, VringState{0, 0}).message() == "SET_VRING_NUM: num 0 is outside 1..32768");
  CHECK(encode_request(Request::kSetConfig, DeviceConfig{0, 0, std::vector<uint8_t>(300)}).message() ==
        "SET_CONFIG: config size 300 is over 256");
  CHECK(encode_request(Request::kIotlbMsg, {}).message() == "IOTLB_MSG: not supported by this codec");
  CHECK(encode_request(static_cast<Request>(77), {}).message() == "request 77: unknown request code");
  CHECK(encode_reply(Request::kGetVringBase, uint64_t{1}).message() == "GET_VRING_BASE reply: payload must be a vring state");
  CHECK(validate_regions({}, "X").message() == "X: no memory regions");
}
