// devices/virtio/queue.h: the split virtqueue (virtio 1.x, section 2.7), the one walker every
// device and every test uses.
//
// Everything the guest (or a vhost-user peer) controls is checked: queue size a power of two up to
// 32768, ring areas aligned and inside guest RAM, the available index never more than `size` ahead,
// descriptor indices in range, chains without loops (at most `size` descriptors, or the indirect
// table's count), indirect tables well-formed (not nested, not chained, length a multiple of 16),
// device-writable buffers only after device-readable ones, every buffer inside RAM and total
// lengths without overflow. A violation is an Error: the device then marks itself NEEDS_RESET or
// drops the chain, counts it, and the VMM keeps running.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/result.h"
#include "memory/guest_memory.h"

namespace tandem::virtio {

constexpr uint16_t kDescFlagNext = 1;
constexpr uint16_t kDescFlagWrite = 2;
constexpr uint16_t kDescFlagIndirect = 4;
constexpr uint16_t kAvailFlagNoInterrupt = 1;
constexpr uint16_t kUsedFlagNoNotify = 1;
constexpr uint16_t kMaxQueueSize = 32768;

struct QueueConfig {
  uint16_t size = 0;
  uint64_t desc = 0;   // descriptor table
  uint64_t avail = 0;  // driver area
  uint64_t used = 0;   // device area
  bool event_idx = false;
};

struct Buffer {
  uint64_t gpa;
  uint32_t len;
  bool writable;
};

struct Chain {
  uint16_t head = 0;
  std::vector<Buffer> buffers;
  uint64_t readable = 0;  // total bytes the device may read
  uint64_t writable = 0;  // total bytes the device may write
};

class SplitQueue {
 public:
  // Checks the configuration against guest memory. Error names the bad field.
  static Result<SplitQueue> create(const GuestMemory& mem, const QueueConfig& cfg);

  // The next available chain, nullopt when the driver has posted nothing new, an Error when what it
  // posted is malformed (the offending entry is consumed so the queue can go on if the device wants).
  Result<std::optional<Chain>> pop(const GuestMemory& mem);
  // pop, and when nothing is posted, enable_notification: a chain the driver posted meanwhile is
  // returned, else nullopt with the kick armed. The loop of a device that serves every chain as it
  // comes (a control queue, a disk's requests).
  Result<std::optional<Chain>> pop_or_arm(const GuestMemory& mem);

  // Returns a chain to the driver with `len` bytes written: push_used, then publish_used.
  Status add_used(const GuestMemory& mem, uint16_t head, uint32_t len);
  // Writes a used element without making it visible: the driver sees it, and every element pushed
  // before it, at the next publish_used (one store of used.idx). A packet spread over several
  // chains (mergeable receive buffers, num_buffers > 1) must appear all at once: a driver that sees
  // its first buffer looks for the rest right away and drops the packet when they are missing.
  // At most `size` elements may wait.
  Status push_used(const GuestMemory& mem, uint16_t head, uint32_t len);
  Status publish_used(const GuestMemory& mem);

  // Whether the driver wants an interrupt for what was added since the last call (EVENT_IDX aware).
  Result<bool> needs_interrupt(const GuestMemory& mem);

  // Asks the driver to notify (kick) when it posts past the current position: avail_event with
  // EVENT_IDX, else clears NO_NOTIFY. Returns true when buffers are already waiting (posted before
  // the request was visible): the device must go on popping instead of sleeping. With EVENT_IDX,
  // `after` > 1 asks for the kick only once `after` more chains are posted (1 to size); the device
  // must then look again by itself if the driver may post fewer.
  Result<bool> enable_notification(const GuestMemory& mem, uint16_t after = 1);
  // While the device is busy draining the queue: no kicks wanted (sets NO_NOTIFY without
  // EVENT_IDX; with it, avail_event simply stays behind until enable_notification).
  Status disable_notification(const GuestMemory& mem);

  uint16_t next_avail() const { return next_avail_; }
  uint16_t next_used() const { return next_used_; }  // published
  uint16_t unpublished_used() const { return unpublished_; }
  const QueueConfig& config() const { return cfg_; }
  // Restores the position (vhost-user SET_VRING_BASE / migration).
  void set_next_avail(uint16_t v) { next_avail_ = v; }
  // Gives back the last `n` chains popped but not used (a packet that did not fit): the next pop
  // returns them again.
  void rewind(uint16_t n) { next_avail_ = static_cast<uint16_t>(next_avail_ - n); }

 private:
  explicit SplitQueue(const QueueConfig& cfg) : cfg_(cfg) {}
  Status walk(const GuestMemory& mem, uint16_t head, Chain& chain) const;

  QueueConfig cfg_;
  uint16_t next_avail_ = 0;
  uint16_t next_used_ = 0;    // what used.idx says
  uint16_t unpublished_ = 0;  // elements pushed past next_used_, not yet in used.idx
  uint16_t signalled_used_ = 0;
  bool signalled_valid_ = false;
};

}  // namespace tandem::virtio
