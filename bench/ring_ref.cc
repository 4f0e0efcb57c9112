// bench/ring_ref.cc: the user-space ceiling of vhost-pci-net's data path, no VMs.
//
// Two processes share one memfd (tandem's GuestMemory) holding a split virtqueue, as VM2's RX queue
// is shared with VM1's driver, and two eventfds stand for the doorbell (call) and the kick:
//   consumer  plays VM2's virtio_net RX: posts 2 KiB buffers, takes used entries in NAPI rounds of
//             64, refills when more than half a round is free, kicks only when avail_event asks,
//             re-arms used_event before it sleeps on the call eventfd;
//   producer  plays VM1's vhost_pci_net TX (guest-images/vhost-pci-net, vpn_start_xmit): takes
//             heads from the avail ring through a cached index, bounds-checks each descriptor the
//             way vpn_translate does, writes a 12-byte virtio-net header and a 64-byte frame,
//             publishes each used entry, checks used_event once per burst (xmit_more batches) and
//             sleeps on the kick eventfd only after asking for a kick and re-checking.
// One process per core when there are two. Prints one line:
//   RING-REF pps=N packets=N seconds=S burst=B size=N kicks=N calls=N producer_sleeps=N consumer_sleeps=N
//
//   bazel-bin/bench/ring_ref [--seconds S] [--burst B] [--queue-size N]
//
// The ring words are accessed with std::atomic_ref and explicit fences, mirroring the kernel's
// READ_ONCE/WRITE_ONCE and virt_*mb(): this is the ring discipline the benchmark is about, on memory
// this program created itself; the one untrusted-looking input, the consumer's descriptor, is
// range-checked exactly as the guest driver checks VM2's.
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/unique_fd.h"
#include "memory/guest_memory.h"

namespace {

using namespace tandem;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMemSize = 64ULL << 20;
constexpr uint64_t kDescAt = 0;
constexpr uint64_t kAvailAt = 0x10000;
constexpr uint64_t kUsedAt = 0x20000;
constexpr uint64_t kCtlAt = 0x30000;   // stop flag and the producer's count, one cache line
constexpr uint64_t kBufAt = 0x100000;
constexpr uint32_t kBufSize = 2048;
constexpr uint32_t kHdrSize = 12;      // virtio_net_hdr_mrg_rxbuf
constexpr uint32_t kFrameSize = 64;
constexpr int kNapiBudget = 64;

struct Ring {
  uint8_t* base;
  uint16_t num;
  uint16_t& u16(uint64_t off) const { return *reinterpret_cast<uint16_t*>(base + off); }
  uint32_t& u32(uint64_t off) const { return *reinterpret_cast<uint32_t*>(base + off); }
  uint64_t& u64(uint64_t off) const { return *reinterpret_cast<uint64_t*>(base + off); }
  // The split ring's fields (little-endian on x86, so no byte swapping).
  uint16_t& avail_idx() const { return u16(kAvailAt + 2); }
  uint16_t& avail_ring(uint16_t i) const { return u16(kAvailAt + 4 + 2ULL * (i & (num - 1))); }
  uint16_t& used_event() const { return u16(kAvailAt + 4 + 2ULL * num); }
  uint16_t& used_idx() const { return u16(kUsedAt + 2); }
  uint32_t& used_id(uint16_t i) const { return u32(kUsedAt + 4 + 8ULL * (i & (num - 1))); }
  uint32_t& used_len(uint16_t i) const { return u32(kUsedAt + 8 + 8ULL * (i & (num - 1))); }
  uint16_t& avail_event() const { return u16(kUsedAt + 4 + 8ULL * num); }
  uint64_t& desc_addr(uint16_t i) const { return u64(kDescAt + 16ULL * i); }
  uint32_t& desc_len(uint16_t i) const { return u32(kDescAt + 16ULL * i + 8); }
  uint16_t& desc_flags(uint16_t i) const { return u16(kDescAt + 16ULL * i + 12); }
  uint32_t& stop() const { return u32(kCtlAt); }
};

template <typename T>
T load(T& word) { return std::atomic_ref<T>(word).load(std::memory_order_relaxed); }
template <typename T>
void store(T& word, T v) { std::atomic_ref<T>(word).store(v, std::memory_order_relaxed); }

// vring_need_event from the virtio spec: did [old, new) pass the other side's event index?
bool need_event(uint16_t event, uint16_t now, uint16_t old) {
  return static_cast<uint16_t>(now - event - 1) < static_cast<uint16_t>(now - old);
}

void signal_fd(int fd) {
  uint64_t one = 1;
  if (::write(fd, &one, sizeof one) != sizeof one) std::perror("ring_ref: eventfd write");
}
void wait_fd(int fd) {
  uint64_t v;
  if (::read(fd, &v, sizeof v) != sizeof v) std::perror("ring_ref: eventfd read");
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);  // best effort: one core works too
}

struct Counts {
  uint64_t packets = 0, kicks = 0, calls = 0, sleeps = 0;
};

// VM1's driver, transmitting into VM2's RX ring. Returns its counts through the pipe.
Counts produce(const Ring& r, int kickfd, int callfd, int burst) {
  Counts c;
  uint16_t last_avail = 0, avail_cache = 0, used = 0, signalled = 0;
  bool signalled_valid = false, pending = false;
  uint8_t frame[kFrameSize];
  for (uint32_t i = 0; i < kFrameSize; ++i) frame[i] = static_cast<uint8_t>(i);
  uint8_t hdr[kHdrSize] = {};
  hdr[10] = 1;  // num_buffers

  auto notify = [&] {
    pending = false;
    std::atomic_thread_fence(std::memory_order_seq_cst);  // used.idx before used_event
    uint16_t event = load(r.used_event());
    bool want = !signalled_valid || need_event(event, used, signalled);
    signalled = used;
    signalled_valid = true;
    if (want) { signal_fd(callfd); ++c.calls; }
  };
  while (load(r.stop()) == 0) {
    int n = 0;
    for (; n < burst; ++n) {
      if (last_avail == avail_cache) {
        uint16_t a = load(r.avail_idx());
        if (static_cast<uint16_t>(a - last_avail) > r.num) { std::fprintf(stderr, "ring_ref: avail.idx jumped\n"); return c; }
        avail_cache = a;
        if (a == last_avail) break;
        std::atomic_thread_fence(std::memory_order_acquire);  // ring entries after the index
      }
      uint16_t head = load(r.avail_ring(last_avail));
      ++last_avail;
      // vpn_translate: the descriptor must be writable and lie inside the shared memory.
      uint64_t addr = head < r.num ? load(r.desc_addr(head)) : 0;
      uint32_t len = head < r.num ? load(r.desc_len(head)) : 0;
      if (head >= r.num || !(load(r.desc_flags(head)) & 2) || len < kHdrSize + kFrameSize || addr >= kMemSize ||
          len > kMemSize - addr) {
        std::fprintf(stderr, "ring_ref: bad descriptor %u\n", head);
        return c;
      }
      std::memcpy(r.base + addr, hdr, kHdrSize);
      std::memcpy(r.base + addr + kHdrSize, frame, kFrameSize);
      store(r.used_id(used), static_cast<uint32_t>(head));
      store(r.used_len(used), kHdrSize + kFrameSize);
      ++used;
      std::atomic_thread_fence(std::memory_order_release);  // entries and buffers before the index
      store(r.used_idx(), used);
      pending = true;
      ++c.packets;
    }
    if (n < burst) {  // the ring ran dry: ask for a kick, re-check, else sleep until VM2 posts
      store(r.avail_event(), avail_cache);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (load(r.avail_idx()) != avail_cache) continue;
      if (pending) notify();
      if (load(r.stop()) != 0) break;
      ++c.sleeps;
      wait_fd(kickfd);
      continue;
    }
    if (pending) notify();  // end of an xmit_more batch
  }
  return c;
}

// VM2's virtio_net, receiving. Runs for `seconds`, then tells the producer to stop.
Counts consume(const Ring& r, int kickfd, int callfd, double seconds) {
  Counts c;
  uint16_t last_used = 0, avail = 0, free_ids = 0;
  uint16_t* to_post = new uint16_t[r.num];
  for (uint16_t i = 0; i < r.num; ++i) {
    store(r.desc_addr(i), kBufAt + uint64_t{i} * kBufSize);
    store(r.desc_len(i), kBufSize);
    store(r.desc_flags(i), uint16_t{2});
    store(r.avail_ring(avail), i);
    ++avail;
  }
  store(r.used_event(), uint16_t{0});
  std::atomic_thread_fence(std::memory_order_release);
  store(r.avail_idx(), avail);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (need_event(load(r.avail_event()), avail, 0)) { signal_fd(kickfd); ++c.kicks; }  // the first fill's kick
  auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  uint64_t bad = 0;
  for (;;) {
    int got = 0;
    while (got < kNapiBudget) {
      uint16_t u = load(r.used_idx());
      if (u == last_used) break;
      std::atomic_thread_fence(std::memory_order_acquire);
      uint32_t id = load(r.used_id(last_used));
      uint32_t len = load(r.used_len(last_used));
      ++last_used;
      if (id >= r.num || len > kBufSize) { ++bad; continue; }
      const uint8_t* p = r.base + load(r.desc_addr(static_cast<uint16_t>(id)));
      c.packets += p[kHdrSize] == 0;  // touch the frame, as the stack would
      to_post[free_ids++] = static_cast<uint16_t>(id);
      ++got;
    }
    if (free_ids > kNapiBudget / 2) {  // try_fill_recv
      uint16_t old = avail;
      for (uint16_t i = 0; i < free_ids; ++i) { store(r.avail_ring(avail), to_post[i]); ++avail; }
      free_ids = 0;
      std::atomic_thread_fence(std::memory_order_release);
      store(r.avail_idx(), avail);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (need_event(load(r.avail_event()), avail, old)) { signal_fd(kickfd); ++c.kicks; }
    }
    if (Clock::now() >= end) break;
    if (got == kNapiBudget) continue;
    // napi_complete + virtqueue_enable_cb: re-arm, re-check, then sleep until the doorbell.
    store(r.used_event(), last_used);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (load(r.used_idx()) != last_used) continue;
    ++c.sleeps;
    wait_fd(callfd);
  }
  store(r.stop(), uint32_t{1});
  std::atomic_thread_fence(std::memory_order_seq_cst);
  signal_fd(kickfd);
  delete[] to_post;
  if (bad) std::fprintf(stderr, "ring_ref: %llu bad used entries\n", static_cast<unsigned long long>(bad));
  return c;
}

int usage(const char* why) {
  std::fprintf(stderr, "ring_ref: %s\nusage: ring_ref [--seconds S] [--burst B] [--queue-size N]\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  int burst = 1;
  unsigned long qsize = 256;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage(("missing value for " + a).c_str());
    char* end = nullptr;
    if (a == "--seconds") {
      seconds = std::strtod(argv[++i], &end);
      if (*end || seconds <= 0 || seconds > 3600) return usage("--seconds must be in (0, 3600]");
    } else if (a == "--burst") {
      burst = static_cast<int>(std::strtol(argv[++i], &end, 10));
      if (*end || burst < 1 || burst > 256) return usage("--burst must be 1..256");
    } else if (a == "--queue-size") {
      qsize = std::strtoul(argv[++i], &end, 10);
      if (*end || qsize < 2 || qsize > 4096 || (qsize & (qsize - 1))) return usage("--queue-size must be a power of two, 2..4096");
    } else {
      return usage(("unknown option " + a).c_str());
    }
  }
  auto mem = GuestMemory::create({{0, kMemSize}}, "ring-ref");
  if (!mem) { std::fprintf(stderr, "ring_ref: %s\n", mem.message().c_str()); return 1; }
  UniqueFd kick(::eventfd(0, EFD_CLOEXEC)), call(::eventfd(0, EFD_CLOEXEC));
  int pipefd[2];
  if (!kick || !call || ::pipe(pipefd) != 0) { std::perror("ring_ref: eventfd/pipe"); return 1; }
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  Ring ring{mem->regions()[0].host, static_cast<uint16_t>(qsize)};
  bool two_cores = sysconf(_SC_NPROCESSORS_ONLN) >= 2;

  pid_t child = ::fork();
  if (child < 0) { std::perror("ring_ref: fork"); return 1; }
  if (child == 0) {
    if (two_cores) pin_to(1);
    Counts c = produce(ring, kick.get(), call.get(), burst);
    if (::write(wr.get(), &c, sizeof c) != sizeof c) _exit(1);
    _exit(0);
  }
  if (two_cores) pin_to(0);
  auto t0 = Clock::now();
  Counts c = consume(ring, kick.get(), call.get(), seconds);
  double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  Counts p;
  bool got = ::read(rd.get(), &p, sizeof p) == sizeof p;
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "ring_ref: the producer failed\n");
    return 1;
  }
  std::printf("RING-REF pps=%.0f packets=%llu seconds=%.2f burst=%d size=%lu kicks=%llu calls=%llu producer_sleeps=%llu "
              "consumer_sleeps=%llu\n",
              static_cast<double>(c.packets) / dt, static_cast<unsigned long long>(c.packets), dt, burst, qsize,
              static_cast<unsigned long long>(c.kicks), static_cast<unsigned long long>(p.calls),
              static_cast<unsigned long long>(p.sleeps), static_cast<unsigned long long>(c.sleeps));
  return 0;
}
