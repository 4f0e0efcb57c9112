// devices/virtio/queue.cc: the checked split-virtqueue walker.
#include "devices/virtio/queue.h"

#include <atomic>

#include "base/hex.h"

namespace tandem::virtio {

namespace {
struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

Result<Desc> read_desc(const GuestMemory& mem, uint64_t table, uint32_t index) {
  auto s = mem.slice(table + static_cast<uint64_t>(index) * 16, 16);
  if (!s) return Error{"descriptor " + std::to_string(index) + ": " + s.message()};
  return Desc{*load_le<uint64_t>(*s, 0), *load_le<uint32_t>(*s, 8), *load_le<uint16_t>(*s, 12), *load_le<uint16_t>(*s, 14)};
}

// vring_need_event from the virtio spec: did new_idx pass event_idx since old?
bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old) {
  return static_cast<uint16_t>(new_idx - event_idx - 1) < static_cast<uint16_t>(new_idx - old);
}
}  // namespace

Result<SplitQueue> SplitQueue::create(const GuestMemory& mem, const QueueConfig& cfg) {
  if (cfg.size == 0 || cfg.size > kMaxQueueSize || (cfg.size & (cfg.size - 1))) {
    return Error{"queue size " + std::to_string(cfg.size) + " is not a power of two up to 32768"};
  }
  if (cfg.desc % 16) return Error{"descriptor table at " + hex(cfg.desc) + " is not 16-byte aligned"};
  if (cfg.avail % 2) return Error{"driver area at " + hex(cfg.avail) + " is not 2-byte aligned"};
  if (cfg.used % 4) return Error{"device area at " + hex(cfg.used) + " is not 4-byte aligned"};
  uint64_t n = cfg.size;
  if (!mem.contains(cfg.desc, 16 * n)) return Error{"descriptor table at " + hex(cfg.desc) + " is not inside guest RAM"};
  if (!mem.contains(cfg.avail, 6 + 2 * n)) return Error{"driver area at " + hex(cfg.avail) + " is not inside guest RAM"};
  if (!mem.contains(cfg.used, 6 + 8 * n)) return Error{"device area at " + hex(cfg.used) + " is not inside guest RAM"};
  return SplitQueue(cfg);
}

Status SplitQueue::walk(const GuestMemory& mem, uint16_t head, Chain& chain) const {
  uint64_t table = cfg_.desc;
  uint32_t count = cfg_.size;
  uint32_t index = head;
  bool indirect = false;
  bool seen_writable = false;
  for (uint32_t steps = 0;; ++steps) {
    if (steps >= count) return Error{"descriptor chain from " + std::to_string(head) + " loops or exceeds " + std::to_string(count) + " entries"};
    auto d = read_desc(mem, table, index);
    if (!d) return d.error();
    if (d->flags & kDescFlagIndirect) {
      if (indirect) return Error{"nested indirect descriptor table"};
      if (d->flags & kDescFlagNext) return Error{"indirect descriptor with NEXT set"};
      if (!chain.buffers.empty()) return Error{"indirect descriptor after other descriptors"};
      if (d->len == 0 || d->len % 16) return Error{"indirect table length " + std::to_string(d->len) + " is not a non-zero multiple of 16"};
      if (!mem.contains(d->addr, d->len)) return Error{"indirect table at " + hex(d->addr) + " is not inside guest RAM"};
      // A chain is at most a queue size long (virtio 1.2, 2.7.5.3.1), however the table is sized:
      // a table of millions of zero-length descriptors would cost the walk and the buffer list.
      if (d->len / 16 > cfg_.size) return Error{"indirect table of " + std::to_string(d->len / 16) + " descriptors, more than the queue size " + std::to_string(cfg_.size)};
      indirect = true;
      table = d->addr;
      count = d->len / 16;
      index = 0;
      steps = static_cast<uint32_t>(-1);  // the table starts a fresh count
      continue;
    }
    bool w = d->flags & kDescFlagWrite;
    if (!w && seen_writable) return Error{"device-readable descriptor after a device-writable one"};
    seen_writable |= w;
    if (d->len && !mem.contains(d->addr, d->len)) return Error{"buffer " + hex(d->addr) + "+" + hex(d->len) + " is not inside guest RAM"};
    chain.buffers.push_back({d->addr, d->len, w});
    (w ? chain.writable : chain.readable) += d->len;
    if (!(d->flags & kDescFlagNext)) return {};
    if (d->next >= count) return Error{"descriptor next index " + std::to_string(d->next) + " is out of range"};
    index = d->next;
  }
}

Result<std::optional<Chain>> SplitQueue::pop(const GuestMemory& mem) {
  auto avail_idx = mem.read_le<uint16_t>(cfg_.avail + 2);
  if (!avail_idx) return avail_idx.error();
  std::atomic_thread_fence(std::memory_order_acquire);
  uint16_t pending = static_cast<uint16_t>(*avail_idx - next_avail_);
  if (pending == 0) return std::optional<Chain>();
  if (pending > cfg_.size) return Error{"available index " + std::to_string(*avail_idx) + " is " + std::to_string(pending) + " ahead, more than the queue size"};
  auto head = mem.read_le<uint16_t>(cfg_.avail + 4 + 2ULL * (next_avail_ % cfg_.size));
  if (!head) return head.error();
  ++next_avail_;
  if (*head >= cfg_.size) return Error{"available ring names descriptor " + std::to_string(*head) + " of " + std::to_string(cfg_.size)};
  Chain chain;
  chain.head = *head;
  if (auto s = walk(mem, *head, chain); !s) return s.error();
  return std::optional<Chain>(std::move(chain));
}

Status SplitQueue::add_used(const GuestMemory& mem, uint16_t head, uint32_t len) {
  TANDEM_TRY(push_used(mem, head, len));
  return publish_used(mem);
}

Status SplitQueue::push_used(const GuestMemory& mem, uint16_t head, uint32_t len) {
  if (head >= cfg_.size) return Error{"used element for descriptor " + std::to_string(head) + " is out of range"};
  if (unpublished_ >= cfg_.size) {
    return Error{"used ring: " + std::to_string(unpublished_) + " elements already wait to be published, the queue size"};
  }
  uint64_t elem = cfg_.used + 4 + 8ULL * (static_cast<uint16_t>(next_used_ + unpublished_) % cfg_.size);
  TANDEM_TRY(mem.write_le<uint32_t>(elem, head));
  TANDEM_TRY(mem.write_le<uint32_t>(elem + 4, len));
  ++unpublished_;
  return {};
}

Status SplitQueue::publish_used(const GuestMemory& mem) {
  if (unpublished_ == 0) return {};
  uint16_t idx = static_cast<uint16_t>(next_used_ + unpublished_);
  std::atomic_thread_fence(std::memory_order_release);  // elements (and buffer contents) before the index
  TANDEM_TRY(mem.write_le<uint16_t>(cfg_.used + 2, idx));
  next_used_ = idx;
  unpublished_ = 0;
  return {};
}

Result<bool> SplitQueue::needs_interrupt(const GuestMemory& mem) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (cfg_.event_idx) {
    auto event = mem.read_le<uint16_t>(cfg_.avail + 4 + 2ULL * cfg_.size);
    if (!event) return event.error();
    uint16_t old = signalled_used_;
    bool valid = signalled_valid_;
    signalled_used_ = next_used_;
    signalled_valid_ = true;
    return !valid || need_event(*event, next_used_, old);
  }
  auto flags = mem.read_le<uint16_t>(cfg_.avail);
  if (!flags) return flags.error();
  return !(*flags & kAvailFlagNoInterrupt);
}

Result<std::optional<Chain>> SplitQueue::pop_or_arm(const GuestMemory& mem) {
  while (true) {
    auto c = pop(mem);
    if (!c || *c) return c;
    auto again = enable_notification(mem);
    if (!again) return again.error();
    if (!*again) return std::optional<Chain>{};
  }
}

Result<bool> SplitQueue::enable_notification(const GuestMemory& mem, uint16_t after) {
  if (after == 0 || after > cfg_.size) {
    return Error{"enable_notification: after=" + std::to_string(after) + " is outside 1.." + std::to_string(cfg_.size)};
  }
  if (cfg_.event_idx) {
    // avail_event, after the used ring: kick me once you post past what I have read (the driver
    // kicks when its new avail.idx passes avail_event, so `after` chains from here).
    TANDEM_TRY(mem.write_le<uint16_t>(cfg_.used + 4 + 8ULL * cfg_.size, static_cast<uint16_t>(next_avail_ + after - 1)));
  } else {
    auto flags = mem.read_le<uint16_t>(cfg_.used);
    if (!flags) return flags.error();
    TANDEM_TRY(mem.write_le<uint16_t>(cfg_.used, static_cast<uint16_t>(*flags & ~kUsedFlagNoNotify)));
  }
  // The driver may have posted before it could see the request: look again.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  auto avail_idx = mem.read_le<uint16_t>(cfg_.avail + 2);
  if (!avail_idx) return avail_idx.error();
  return *avail_idx != next_avail_;
}

Status SplitQueue::disable_notification(const GuestMemory& mem) {
  if (cfg_.event_idx) return {};
  auto flags = mem.read_le<uint16_t>(cfg_.used);
  if (!flags) return flags.error();
  return mem.write_le<uint16_t>(cfg_.used, static_cast<uint16_t>(*flags | kUsedFlagNoNotify));
}

}  // namespace tandem::virtio
