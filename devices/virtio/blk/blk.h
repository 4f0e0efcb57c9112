// devices/virtio/blk/blk.h: the virtio-blk device (virtio 1.2 §5.2) on a raw image (disk.h).
//
// One request queue of up to 256 entries, served by one thread that submits each request's I/O to
// an io_uring straight from and into guest memory (no bounce buffer) and completes requests as
// the kernel finishes them, in any order. Offered: SEG_MAX, BLK_SIZE (512), FLUSH (an fdatasync
// ordered after every write submitted before it), RO for a read-only disk, DISCARD and
// WRITE_ZEROES (both as hole punching, when the file system has holes), EVENT_IDX, INDIRECT_DESC;
// GET_ID answers the serial. Every request is checked first (request.h): a bad one gets IOERR or
// UNSUPP and never reaches the file. A broken ring sends the device to NEEDS_RESET. reset() waits
// for the I/O in flight before it returns, so nothing writes guest memory after it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devices/counters.h"
#include "devices/virtio/blk/disk.h"
#include "devices/virtio/blk/request.h"
#include "devices/virtio/device.h"

namespace tandem::virtio::blk {

constexpr uint16_t kQueueSize = 256;
constexpr uint32_t kSegMax = 126;              // data buffers of one request (+ header + status)
constexpr uint32_t kMaxDiscardSectors = 4194303;  // as QEMU's default

// Feature bits (virtio 1.2 §5.2.3).
constexpr uint64_t kFSegMax = 1ULL << 2;
constexpr uint64_t kFRo = 1ULL << 5;
constexpr uint64_t kFBlkSize = 1ULL << 6;
constexpr uint64_t kFFlush = 1ULL << 9;
constexpr uint64_t kFDiscard = 1ULL << 13;
constexpr uint64_t kFWriteZeroes = 1ULL << 14;

// What vm.counters shows of a disk, in this order (discards: DISCARD and WRITE_ZEROES requests;
// bad_requests: answered IOERR or UNSUPP, or given back, without reaching the file).
enum Counter : size_t {
  kReadRequests, kReadBytes, kWriteRequests, kWriteBytes, kFlushes, kDiscards, kBadRequests, kIoErrors, kRingErrors
};

class Blk : public VirtioDevice {
 public:
  explicit Blk(Disk disk);
  ~Blk() override;

  uint32_t device_id() const override { return 2; }
  std::string name() const override { return "virtio-blk " + disk_.config().path; }
  uint64_t features() const override;
  uint16_t num_queues() const override { return 1; }
  uint16_t max_queue_size() const override { return kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void write_config(uint64_t, std::span<const uint8_t>) override {}  // nothing writable (no CONFIG_WCE)
  void set_hooks(TransportHooks hooks) override { hooks_ = std::move(hooks); }
  Status activate(const GuestMemory& mem, uint64_t features, std::vector<ActiveQueue> queues) override;
  void reset() override;

  const Disk& disk() const { return disk_; }
  Limits limits() const;
  std::shared_ptr<const Counters> counters() const { return counters_; }

 private:
  class Worker;
  Disk disk_;
  std::shared_ptr<Counters> counters_;
  TransportHooks hooks_;
  std::unique_ptr<Worker> worker_;
};

}  // namespace tandem::virtio::blk
