// tests/tools/vhost_user_scribbler.cc: a hostile vhost-user front-end for tests/e2e/vhost-pci-hostile.sh.
//
// It stands where VM2's VMM would, in front of VM1's vhost-pci-net device (tandem --vhost-pci
// socket=PATH), and misbehaves in the two ways the device and VM1's guest driver must survive:
//
//   --messages   malformed and out-of-order vhost-user requests, each on a fresh connection after a
//                correct handshake (REPLY_ACK negotiated): truncated and oversized messages, an
//                unknown request, memory tables with no, too many, overlapping, empty or fd-less
//                regions, a pipe or an unsealed memfd for memory, an fd where none belongs, ring addresses before any
//                memory table and outside it, and a flood of 20000 requests. Every one must be
//                refused (an answer != 0, or the connection closed); one accepted is a failure.
//   --rings      a correct session whose rings it then scribbles, phase by phase, with the guest
//                driver looking: descriptors outside its memory, wrapping, looping, read-only where
//                the driver must write, heads out of range, bad indirect tables, too short for a
//                header, and finally avail indices jumping. Everything in its memory outside the
//                rings is filled with a canary pattern and checked at the end: the driver may only
//                have written used-ring entries and the few device-writable buffers inside memory
//                that head bad chains (loops, a bad next), never a read-only buffer or anything
//                else.
//   --shrink     a correct session over memory that is not sealed against shrinking (VM1's tandem
//                must allow it: --vhost-pci ...,allow_unsealed=on), with RX buffers VM1's driver
//                fills; once it has written some, the memory file is truncated to 0 under VM1 and
//                both rings are kicked. VM1's tandem must survive it and drop this front-end
//                (tests/e2e/vhost-pci-shrink.sh).
//
//   vhost_user_scribbler --socket PATH (--messages | --rings | --shrink) [--phase-ms N]
//
// Prints "SCRIBBLER ..." lines; exits 0 when every bad request was refused and the canary is
// intact (--shrink: when the device dropped the session after the truncation), 1 otherwise, 2 on
// bad usage.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/le.h"
#include "base/unique_fd.h"
#include "devices/vhost_user/connection.h"
#include "devices/vhost_user/frontend.h"
#include "memory/guest_memory.h"
#include "memory/mapping.h"

namespace {

using namespace tandem;
using namespace std::chrono_literals;

constexpr uint64_t kMem = 64ULL << 20;
constexpr uint16_t kNum = 256;
constexpr uint64_t kRingStride = 0x100000;  // queue i's rings at i * 1 MiB
constexpr uint64_t kDesc = 0x0, kAvail = 0x1000, kUsed = 0x2000, kRingsEnd = 0x3000;
constexpr uint8_t kCanary = 0xa5;
constexpr uint64_t kVersion1 = 1ULL << 32, kProtocolFeatures = 1ULL << 30, kReplyAck = 1ULL << 3;
constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;

void say(const std::string& s) {
  std::printf("SCRIBBLER %s\n", s.c_str());
  std::fflush(stdout);
}

// --- raw messages ---------------------------------------------------------------------------------
std::vector<uint8_t> message(uint32_t request, const std::vector<uint8_t>& payload, bool need_reply = true,
                             uint32_t size_override = UINT32_MAX) {
  std::vector<uint8_t> m(12 + payload.size());
  store_le<uint32_t>(m, 0, request);
  store_le<uint32_t>(m, 4, 0x1 | (need_reply ? 0x8 : 0));
  store_le<uint32_t>(m, 8, size_override == UINT32_MAX ? static_cast<uint32_t>(payload.size()) : size_override);
  std::copy(payload.begin(), payload.end(), m.begin() + 12);
  return m;
}
std::vector<uint8_t> u64_payload(uint64_t v) {
  std::vector<uint8_t> p(8);
  store_le<uint64_t>(p, 0, v);
  return p;
}
struct RegionSpec {
  uint64_t gpa, size, uaddr, offset;
};
std::vector<uint8_t> mem_table(const std::vector<RegionSpec>& regions) {
  std::vector<uint8_t> p(8 + 32 * regions.size());
  store_le<uint32_t>(p, 0, static_cast<uint32_t>(regions.size()));
  for (size_t i = 0; i < regions.size(); ++i) {
    store_le<uint64_t>(p, 8 + 32 * i, regions[i].gpa);
    store_le<uint64_t>(p, 16 + 32 * i, regions[i].size);
    store_le<uint64_t>(p, 24 + 32 * i, regions[i].uaddr);
    store_le<uint64_t>(p, 32 + 32 * i, regions[i].offset);
  }
  return p;
}
std::vector<uint8_t> vring_addr(uint32_t index, uint64_t desc, uint64_t used, uint64_t avail) {
  std::vector<uint8_t> p(40);
  store_le<uint32_t>(p, 0, index);
  store_le<uint64_t>(p, 8, desc);
  store_le<uint64_t>(p, 16, used);
  store_le<uint64_t>(p, 24, avail);
  return p;
}

// Connects and negotiates by hand (features with bit 30, protocol features = REPLY_ACK, owner).
Result<vhost_user::Connection> handshake(const std::string& path) {
  auto c = vhost_user::Connection::connect(path);
  if (!c) return c.error();
  auto ask = [&](uint32_t req) -> Result<uint64_t> {
    TANDEM_TRY(c->send(message(req, {}, false), {}, 5000ms));
    auto r = c->receive(5000ms);
    if (!r) return r.error();
    if (r->payload.size() != 8) return Error{"reply of " + std::to_string(r->payload.size()) + " bytes"};
    return *load_le<uint64_t>(r->payload, 0);
  };
  auto tell = [&](uint32_t req, std::vector<uint8_t> payload) { return c->send(message(req, payload, false), {}, 5000ms); };
  auto features = ask(1);
  if (!features) return Error{"GET_FEATURES: " + features.message()};
  if (!(*features & kProtocolFeatures)) return Error{"the device offers no protocol features"};
  TANDEM_TRY(tell(2, u64_payload(kVersion1 | kProtocolFeatures)));
  auto pf = ask(15);
  if (!pf) return Error{"GET_PROTOCOL_FEATURES: " + pf.message()};
  if (!(*pf & kReplyAck)) return Error{"the device offers no REPLY_ACK"};
  TANDEM_TRY(tell(16, u64_payload(kReplyAck)));
  TANDEM_TRY(tell(3, {}));
  return std::move(c).value();
}

// Sends one bad message; "refused" when answered != 0 or the connection closes.
bool refused(vhost_user::Connection& c, const std::string& what, const std::vector<uint8_t>& bytes,
             std::vector<int> fds = {}) {
  auto s = c.send(bytes, fds, 5000ms);
  std::string verdict;
  bool ok = true;
  if (!s) {
    verdict = "closed while sending (" + s.message() + ")";
  } else {
    auto r = c.receive(5000ms);
    if (!r) {
      verdict = r.message().find("closed") != std::string::npos ? "connection closed" : "no answer: " + r.message();
      ok = r.message().find("closed") != std::string::npos;
    } else if (r->payload.size() == 8 && *load_le<uint64_t>(r->payload, 0) != 0) {
      verdict = "answered " + std::to_string(*load_le<uint64_t>(r->payload, 0));
    } else {
      verdict = "ACCEPTED";
      ok = false;
    }
  }
  say(std::string(ok ? "refused " : "NOT REFUSED ") + what + ": " + verdict);
  return ok;
}

int run_messages(const std::string& path) {
  auto ram = GuestMemory::create({{0, kMem}}, "scribbler-ram");
  if (!ram) { say("error " + ram.message()); return 1; }
  uint64_t ua = reinterpret_cast<uint64_t>(ram->regions()[0].host);
  int memfd = ram->fd();
  struct Case {
    std::string what;
    std::function<bool(vhost_user::Connection&)> run;
  };
  std::vector<Case> cases = {
      {"a truncated header", [](auto& c) {
         std::vector<uint8_t> half(6, 0);
         store_le<uint32_t>(half, 0, 5);
         return refused(c, "a truncated header", half);
       }},
      {"an oversized message", [](auto& c) { return refused(c, "a message announcing 16 MiB", message(5, {}, true, 16u << 20)); }},
      {"an unknown request", [](auto& c) { return refused(c, "request 999", message(999, u64_payload(0))); }},
      {"a memory table without regions", [](auto& c) { return refused(c, "SET_MEM_TABLE with 0 regions", message(5, mem_table({}))); }},
      {"too many regions", [&](auto& c) {
         std::vector<RegionSpec> r;
         for (uint64_t i = 0; i < 9; ++i) r.push_back({i << 20, 1 << 20, ua + (i << 20), i << 20});
         return refused(c, "SET_MEM_TABLE with 9 regions", message(5, mem_table(r)), std::vector<int>(8, memfd));
       }},
      {"overlapping regions", [&](auto& c) {
         return refused(c, "SET_MEM_TABLE with overlapping regions",
                        message(5, mem_table({{0, 32 << 20, ua, 0}, {16 << 20, 32 << 20, ua + (16 << 20), 16 << 20}})),
                        {memfd, memfd});
       }},
      {"an empty region", [&](auto& c) {
         return refused(c, "SET_MEM_TABLE with a zero-sized region", message(5, mem_table({{0, 0, ua, 0}})), {memfd});
       }},
      {"a huge region", [&](auto& c) {
         return refused(c, "SET_MEM_TABLE with a 2^63-byte region", message(5, mem_table({{0, 1ULL << 63, ua, 0}})), {memfd});
       }},
      {"a region without its fd", [&](auto& c) {
         return refused(c, "SET_MEM_TABLE without the fd", message(5, mem_table({{0, kMem, ua, 0}})));
       }},
      {"ring addresses before the memory table", [&](auto& c) {
         return refused(c, "SET_VRING_ADDR before SET_MEM_TABLE", message(9, vring_addr(0, ua, ua + kUsed, ua + kAvail)));
       }},
      {"ring addresses outside memory", [&](auto& c) {
         if (!c.send(message(5, mem_table({{0, kMem, ua, 0}})), std::vector<int>{memfd}, 5000ms)) return false;
         auto ack = c.receive(5000ms);
         if (!ack || ack->payload.size() != 8 || *load_le<uint64_t>(ack->payload, 0) != 0) {
           say("NOT REFUSED-ish: a good SET_MEM_TABLE was not accepted");
           return false;
         }
         return refused(c, "SET_VRING_ADDR outside the memory table",
                        message(9, vring_addr(0, ua + kMem + 0x1000, ua + kMem + 0x3000, ua + kMem + 0x2000)));
       }},
      {"a ring index out of range", [](auto& c) {
         std::vector<uint8_t> p(8);
         store_le<uint32_t>(p, 0, 7);
         store_le<uint32_t>(p, 4, 256);
         return refused(c, "SET_VRING_NUM for vring 7", message(8, p));
       }},
      {"a memory table backed by a pipe", [&](auto& c) {
         int p[2];
         if (::pipe2(p, O_CLOEXEC) != 0) return false;
         UniqueFd r(p[0]), w(p[1]);
         return refused(c, "SET_MEM_TABLE whose fd is a pipe", message(5, mem_table({{0, kMem, ua, 0}})), {r.get()});
       }},
      {"a memory file the front-end could shrink", [&](auto& c) {
         // An unsealed memfd of the right size: tandem refuses it (a front-end that truncates its
         // memory under VM1 would end VM1's tandem with SIGBUS), unless allow_unsealed=on.
         UniqueFd loose(::memfd_create("scribbler-unsealed", MFD_CLOEXEC));
         if (!loose || ::ftruncate(loose.get(), static_cast<off_t>(kMem)) != 0) return false;
         return refused(c, "SET_MEM_TABLE whose memfd is not sealed against shrinking", message(5, mem_table({{0, kMem, ua, 0}})),
                        {loose.get()});
       }},
      {"an fd on a request that takes none", [&](auto& c) {
         return refused(c, "GET_VRING_BASE with an fd attached", message(11, std::vector<uint8_t>(8, 0)), {memfd});
       }},
      {"a flood", [&](auto& c) {
         // 20000 well-formed SET_VRING_NUM (no reply wanted) as fast as the socket takes them, then
         // one that asks for an answer: the device keeps up, or closes, and never stalls or grows.
         std::vector<uint8_t> p(8);
         store_le<uint32_t>(p, 4, 256);
         auto one = message(8, p, false);
         std::vector<uint8_t> burst;
         for (int i = 0; i < 100; ++i) burst.insert(burst.end(), one.begin(), one.end());
         for (int i = 0; i < 200; ++i)
           if (!c.send(burst, {}, 5000ms)) {
             say("refused a flood of 20000 requests: connection closed after " + std::to_string(i * 100));
             return true;
           }
         return refused(c, "SET_VRING_NUM for vring 9 after a flood of 20000 requests",
                        message(8, [] { std::vector<uint8_t> q(8); store_le<uint32_t>(q, 0, 9); return q; }()));
       }},
  };
  int bad = 0;
  for (auto& k : cases) {
    auto c = handshake(path);
    if (!c) { say("error handshake before " + k.what + ": " + c.message()); return 1; }
    if (!k.run(*c)) ++bad;
  }
  // The device still serves a well-behaved front-end.
  auto fe = vhost_user::Frontend::connect(path, 5000ms);
  if (!fe || !(*fe)->set_owner() || !(*fe)->get_features()) {
    say("error the device no longer serves a correct front-end");
    return 1;
  }
  say("messages done: " + std::to_string(cases.size() - bad) + " of " + std::to_string(cases.size()) + " refused");
  return bad == 0 ? 0 : 1;
}

// --- scribbled rings ------------------------------------------------------------------------------
struct Rings {
  const GuestMemory& mem;
  uint64_t base(uint32_t q) const { return q * kRingStride; }
  void desc(uint32_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) const {
    uint64_t d = base(q) + kDesc + 16ULL * i;
    (void)mem.write_le<uint64_t>(d, addr);
    (void)mem.write_le<uint32_t>(d + 8, len);
    (void)mem.write_le<uint16_t>(d + 12, flags);
    (void)mem.write_le<uint16_t>(d + 14, next);
  }
  void post(uint32_t q, uint16_t pos, uint16_t head) const {
    (void)mem.write_le<uint16_t>(base(q) + kAvail + 4 + 2ULL * (pos % kNum), head);
  }
  void publish(uint32_t q, uint16_t idx) const { (void)mem.write_le<uint16_t>(base(q) + kAvail + 2, idx); }
  uint16_t used_idx(uint32_t q) const {
    auto v = mem.read_le<uint16_t>(base(q) + kUsed + 2);
    return v ? *v : 0;
  }
};

void kick(int fd) {
  uint64_t one = 1;
  if (::write(fd, &one, sizeof one) != sizeof one) std::perror("scribbler: kick");
}

// Both rings live at their places in the front-end's memory (queue q's at q * kRingStride, from
// the front-end address `ua`), with their kick and call eventfds.
Status start_rings(vhost_user::Frontend& f, uint64_t ua, const UniqueFd (&kicks)[2], const UniqueFd (&calls)[2]) {
  Status s;
  for (uint32_t q = 0; q < 2 && s; ++q) {
    uint64_t b = ua + q * kRingStride;
    s = f.set_vring_num(q, kNum);
    if (s) s = f.set_vring_base(q, 0);
    if (s) s = f.set_vring_addr(q, vhost::VringAddr{b + kDesc, b + kAvail, b + kUsed, 0, 0});
    if (s) s = f.set_vring_kick(q, kicks[q].get());
    if (s) s = f.set_vring_call(q, calls[q].get());
    if (s) s = f.set_vring_enable(q, true);
  }
  return s;
}

int run_rings(const std::string& path, int phase_ms) {
  auto ram = GuestMemory::create({{0, kMem}}, "scribbler-ram");
  if (!ram) { say("error " + ram.message()); return 1; }
  auto all = ram->slice(0, kMem);
  std::fill(all->begin(), all->end(), kCanary);
  for (uint32_t q = 0; q < 2; ++q) {
    auto rings = ram->slice(q * kRingStride, kRingsEnd);
    std::fill(rings->begin(), rings->end(), 0);
  }
  UniqueFd kicks[2] = {UniqueFd(::eventfd(0, EFD_CLOEXEC)), UniqueFd(::eventfd(0, EFD_CLOEXEC))};
  UniqueFd calls[2] = {UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))};
  auto fe = vhost_user::Frontend::connect(path, 10000ms);
  if (!fe) { say("error " + fe.message()); return 1; }
  auto& f = **fe;
  uint64_t ua = reinterpret_cast<uint64_t>(ram->regions()[0].host);
  vhost::MemoryRegion region{0, kMem, ua, ram->fd(), 0};
  Status s = f.set_owner();
  if (s) s = f.set_features(kVersion1);
  if (s) s = f.set_mem_table(std::span<const vhost::MemoryRegion>(&region, 1));
  if (s) s = start_rings(f, ua, kicks, calls);
  if (!s) { say("error set-up: " + s.message()); return 1; }
  say("connected; rings live");
  Rings r{*ram};
  auto phase = [&](const std::string& name, uint32_t q) {
    kick(kicks[q].get());
    std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms));
    say("phase " + name + " done: used.idx rx=" + std::to_string(r.used_idx(0)) + " tx=" + std::to_string(r.used_idx(1)));
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms));  // the driver starts its rings
  // VM2's RX ring (queue 0): VM1's driver writes packets into these buffers.
  uint16_t p = 0;
  r.desc(0, 0, kMem - 16, 4096, kWrite);            // runs off the end of memory
  r.desc(0, 1, 1ULL << 40, 2048, kWrite);            // far outside
  r.desc(0, 2, ~0ULL - 100, 2048, kWrite);           // wraps around
  r.desc(0, 3, 0x200000, 0xffffffff, kWrite);        // 4 GiB long
  for (uint16_t i = 0; i < 4; ++i) r.post(0, p++, i);
  r.publish(0, p);
  phase("rx-out-of-range", 0);
  r.desc(0, 8, 0x200000, 8, kWrite | kNext, 9);      // 8 -> 9 -> 8 -> ...
  r.desc(0, 9, 0x201000, 8, kWrite | kNext, 8);
  r.post(0, p++, 8);
  r.post(0, p++, 300);                               // head beyond the ring
  r.desc(0, 10, 0x202000, 2048, 0);                  // read-only: the driver must not write it
  r.post(0, p++, 10);
  r.desc(0, 11, 0x203000, 2048, kWrite | kNext, 256);  // next beyond the ring
  r.post(0, p++, 11);
  r.desc(0, 12, 0x204000, 64, kIndirect);            // an indirect table of 4 entries that is canary
  r.post(0, p++, 12);
  r.publish(0, p);
  phase("rx-loops-and-bad-heads", 0);
  r.publish(0, static_cast<uint16_t>(p + 1000));     // avail.idx runs away
  phase("rx-avail-jump", 0);
  // VM2's TX ring (queue 1): VM1's driver reads packets out of these buffers.
  p = 0;
  r.desc(1, 0, kMem - 8, 1500, 0);
  r.desc(1, 1, 1ULL << 40, 1500, 0);
  r.desc(1, 2, ~0ULL - 10, 1500, 0);
  r.desc(1, 3, 0x300000, 0xffffffff, 0);
  for (uint16_t i = 0; i < 4; ++i) r.post(1, p++, i);
  r.publish(1, p);
  phase("tx-out-of-range", 1);
  r.desc(1, 8, 0x300000, 64, kNext, 9);
  r.desc(1, 9, 0x301000, 64, kNext, 8);
  r.post(1, p++, 8);
  r.post(1, p++, 4000);
  r.desc(1, 10, 0x302000, 4, 0);                     // shorter than a virtio-net header
  r.post(1, p++, 10);
  r.desc(1, 11, 0x303000, 17, kIndirect);            // indirect length not a multiple of 16
  r.post(1, p++, 11);
  r.desc(1, 12, kMem + 0x1000, 64, kIndirect);       // indirect table outside memory
  r.post(1, p++, 12);
  r.desc(1, 13, 0x304000, 1500, kWrite);             // device-writable where the driver reads
  r.post(1, p++, 13);
  r.publish(1, p);
  phase("tx-loops-and-bad-heads", 1);
  r.publish(1, static_cast<uint16_t>(p + 40000));
  phase("tx-avail-jump", 1);
  // Only the used rings and the buffers of device-writable descriptors inside memory (which a
  // driver may fill before it finds the chain bad) may have changed; above all not the read-only
  // buffer of RX descriptor 10, and nothing any out-of-range descriptor pointed near.
  struct Range {
    uint64_t start, len;
  };
  const Range writable[] = {{0x200000, 8}, {0x201000, 8}, {0x203000, 2048}};
  uint64_t first_bad = UINT64_MAX, changed = 0, in_buffers = 0;
  auto bytes = ram->slice(0, kMem);
  for (uint64_t a = 0; a < kMem; ++a) {
    if ((*bytes)[a] == kCanary) continue;
    bool ring = (a < kRingsEnd) || (a >= kRingStride && a < kRingStride + kRingsEnd);
    bool buffer = false;
    for (const Range& w : writable) buffer |= a >= w.start && a < w.start + w.len;
    if (ring) continue;
    if (buffer) {
      ++in_buffers;
      continue;
    }
    ++changed;
    if (first_bad == UINT64_MAX) first_bad = a;
  }
  say(std::to_string(in_buffers) + " bytes written into the device-writable buffers of bad chains");
  if (changed) {
    char at[32];
    std::snprintf(at, sizeof at, "0x%llx", static_cast<unsigned long long>(first_bad));
    say("CANARY BROKEN: " + std::to_string(changed) + " bytes changed outside the rings and writable buffers, first at " + at);
    return 1;
  }
  say("rings done: canary intact in " + std::to_string(kMem >> 20) + " MiB; used.idx rx=" + std::to_string(r.used_idx(0)) +
      " tx=" + std::to_string(r.used_idx(1)));
  return 0;
}

// --- memory truncated under VM1 -------------------------------------------------------------------
int run_shrink(const std::string& path, int phase_ms) {
  UniqueFd fd(::memfd_create("scribbler-shrinking", MFD_CLOEXEC));
  if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(kMem)) != 0) { say("error memfd"); return 1; }
  auto map = Mapping::map(kMem, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (!map) { say("error " + map.message()); return 1; }
  std::span<uint8_t> mem = map->bytes();
  UniqueFd kicks[2] = {UniqueFd(::eventfd(0, EFD_CLOEXEC)), UniqueFd(::eventfd(0, EFD_CLOEXEC))};
  UniqueFd calls[2] = {UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))};
  auto fe = vhost_user::Frontend::connect(path, 10000ms);
  if (!fe) { say("error " + fe.message()); return 1; }
  auto& f = **fe;
  uint64_t ua = reinterpret_cast<uint64_t>(map->data());
  vhost::MemoryRegion region{0, kMem, ua, fd.get(), 0};
  Status s = f.set_owner();
  if (s) s = f.set_features(kVersion1);
  if (s) s = f.set_mem_table(std::span<const vhost::MemoryRegion>(&region, 1));
  if (!s) { say("error the device refused unsealed memory (allow_unsealed=on?): " + s.message()); return 1; }
  if (s) s = start_rings(f, ua, kicks, calls);
  if (!s) { say("error set-up: " + s.message()); return 1; }
  // VM2's RX ring (queue 0): 128 good 2 KiB buffers for VM1's driver to transmit into.
  for (uint16_t i = 0; i < 128; ++i) {
    uint64_t d = kDesc + 16ULL * i;
    store_le<uint64_t>(mem, d, 0x200000 + 2048ULL * i);
    store_le<uint32_t>(mem, d + 8, 2048);
    store_le<uint16_t>(mem, d + 12, kWrite);
    store_le<uint16_t>(mem, kAvail + 4 + 2ULL * i, i);
  }
  store_le<uint16_t>(mem, kAvail + 2, 128);
  kick(kicks[0].get());
  say("connected; 128 RX buffers posted");
  uint16_t used = 0;
  for (int i = 0; i < 600 && used == 0; ++i) {
    std::this_thread::sleep_for(100ms);
    used = load_le<uint16_t>(mem, kUsed + 2).value_or(0);
  }
  if (used == 0) { say("error VM1's driver wrote nothing into the RX ring in 60 s"); return 1; }
  say("VM1 transmits: rx used.idx=" + std::to_string(used) + "; truncating the memory file to 0 under VM1");
  std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms));
  if (::ftruncate(fd.get(), 0) != 0) { say("error ftruncate"); return 1; }
  // From here on this process touches none of that memory (it would die of SIGBUS itself).
  kick(kicks[0].get());
  kick(kicks[1].get());
  for (int i = 0; i < 300; ++i) {
    if (!f.get_features()) {
      say("shrink done: VM1's device dropped this front-end after the truncation");
      return 0;
    }
    std::this_thread::sleep_for(100ms);
  }
  say("error still connected 30 s after the truncation");
  return 1;
}

int usage(const std::string& why) {
  std::fprintf(stderr, "vhost_user_scribbler: %s\nusage: vhost_user_scribbler --socket PATH (--messages | --rings | --shrink) [--phase-ms N]\n",
               why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path, mode;
  int phase_ms = 3000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--messages" || a == "--rings" || a == "--shrink") {
      mode = a;
    } else if (a == "--socket" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--phase-ms" && i + 1 < argc) {
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end || v < 10 || v > 600000) return usage("--phase-ms must be 10..600000");
      phase_ms = static_cast<int>(v);
    } else {
      return usage("unknown or incomplete option " + a);
    }
  }
  if (path.empty() || mode.empty()) return usage("--socket and a mode are needed");
  if (mode == "--messages") return run_messages(path);
  return mode == "--rings" ? run_rings(path, phase_ms) : run_shrink(path, phase_ms);
}
