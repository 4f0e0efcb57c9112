// devices/virtio/blk/blk.cc: Blk and its worker thread, see blk.h.
#include "devices/virtio/blk/blk.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "base/eventfd.h"
#include "base/le.h"
#include "base/log.h"
#include "base/worker_thread.h"
#include "devices/virtio/blk/uring.h"

namespace tandem::virtio::blk {

namespace {

// virtio_blk_config (virtio 1.2 §5.2.4) up to write_zeroes_may_unmap.
constexpr size_t kConfigSize = 60;

// One request the kernel is working on; indexed by its chain's head.
struct InFlight {
  bool busy = false;
  bool failed = false;
  uint32_t pending = 0;   // submissions not yet completed
  uint64_t expect = 0;    // bytes a read or write must move
  uint32_t used_len = 0;  // bytes written into the chain when it succeeds
  uint64_t status_gpa = 0;
  std::vector<iovec> iov;
};

}  // namespace

class Blk::Worker {
 public:
  Worker(const Blk& dev, const GuestMemory& mem, SplitQueue q, const ActiveQueue& aq, Uring uring)
      : dev_(dev), mem_(mem), q_(std::move(q)), kick_(aq.kick_fd), call_(aq.call_fd), uring_(std::move(uring)),
        limits_(dev.limits()), slots_(q_.config().size) {}

  Status start() { return thread_.start("virtio-blk", [this] { run(); }); }
  void stop() { thread_.stop(); }

 private:
  void run() {
    process_queue();
    while (true) {
      pollfd fds[3] = {{thread_.stop_fd(), POLLIN, 0}, {kick_, POLLIN, 0}, {uring_.event_fd(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[0].revents) break;
      if (fds[2].revents) uring_.drain([this](uint64_t d, int r) { on_completion(d, r); });
      if (fds[1].revents) drain_eventfd(kick_);
      process_queue();
    }
    // Quiesce: nothing may write guest memory after reset() returns.
    while (in_flight_ > 0) {
      if (!uring_.wait([this](uint64_t d, int r) { on_completion(d, r); })) {
        log_once("io_uring failed while waiting for in-flight I/O");  // nothing more can come
        break;
      }
    }
    publish();
  }

  void fail(const std::string& why) {
    count(kRingErrors);
    broken_ = true;
    if (dev_.hooks_.needs_reset) dev_.hooks_.needs_reset(dev_.name() + ": " + why);
  }

  // Pops every posted chain, answers or submits each, takes what already completed, then re-arms
  // the kick.
  void process_queue() {
    while (!broken_) {
      auto c = q_.pop_or_arm(mem_);
      if (!c) return fail(c.message());
      if (!*c) break;
      handle(**c);
    }
    if (auto st = uring_.submit(); !st) log_once(st.message());
    // What completed while being submitted (a read from the page cache completes inline) is
    // answered now, with the rest of this pass: one interrupt for the batch, not a second wake-up.
    uring_.drain([this](uint64_t d, int r) { on_completion(d, r); });
    publish();
  }

  void handle(const Chain& chain) {
    // Before any answer: a bad request on a head still in flight must not complete it twice.
    if (slots_[chain.head].busy) return fail("request " + std::to_string(chain.head) + " posted again while its I/O is in flight");
    auto r = parse(mem_, chain, limits_);
    if (!r) {  // no status byte: give the chain back with nothing written
      count(kBadRequests);
      log_once(r.message());
      push(chain.head, 0);
      return;
    }
    if (r->status != kStatusOk) {
      count(kBadRequests);
      log_once(r->why);
      answer(chain.head, r->status_gpa, r->status, 1);
      return;
    }
    InFlight& s = slots_[chain.head];
    s = InFlight{true, false, 0, r->length, 1, r->status_gpa, {}};
    count_request(r->type, r->length);
    switch (r->type) {
      case kTypeIn:
      case kTypeOut:
        for (auto d : r->data) s.iov.push_back({d.data(), d.size()});
        s.used_len = r->type == kTypeIn ? static_cast<uint32_t>(r->length) + 1 : 1;
        submit(chain.head, [&](io_uring_sqe* e) {
          if (r->type == kTypeIn)
            io_uring_prep_readv(e, dev_.disk_.fd(), s.iov.data(), static_cast<unsigned>(s.iov.size()), r->offset);
          else
            io_uring_prep_writev(e, dev_.disk_.fd(), s.iov.data(), static_cast<unsigned>(s.iov.size()), r->offset);
        });
        break;
      case kTypeFlush:
        s.expect = 0;
        submit(chain.head, [&](io_uring_sqe* e) {
          io_uring_prep_fsync(e, dev_.disk_.fd(), IORING_FSYNC_DATASYNC);
          e->flags |= IOSQE_IO_DRAIN;  // after every write submitted before it
        });
        break;
      case kTypeGetId:
        s.busy = false;
        answer(chain.head, r->status_gpa, kStatusOk, 1 + write_id(r->data, r->length));
        break;
      default:  // DISCARD, WRITE_ZEROES: holes, which read back as zeroes
        s.expect = 0;
        for (const auto& range : r->ranges) {
          if (range.length == 0) continue;  // nothing to do (fallocate refuses a zero length)
          const bool keep = r->type == kTypeWriteZeroes && !range.unmap;
          if (keep && uring_.space() < 2) (void)uring_.submit();  // the linked pair goes in one batch
          submit(chain.head, [&](io_uring_sqe* e) {
            io_uring_prep_fallocate(e, dev_.disk_.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, range.offset, range.length);
            if (keep) e->flags |= IOSQE_IO_LINK;
          });
          // Without unmap the blocks stay allocated: the hole is filled again with zeroed blocks
          // (punch, then allocate, works on every file system; FALLOC_FL_ZERO_RANGE not on tmpfs).
          if (keep)
            submit(chain.head, [&](io_uring_sqe* e) { io_uring_prep_fallocate(e, dev_.disk_.fd(), FALLOC_FL_KEEP_SIZE, range.offset, range.length); });
        }
        if (s.busy && s.pending == 0 && !s.failed) {  // every range was empty
          s.busy = false;
          answer(chain.head, r->status_gpa, kStatusOk, 1);
        }
        break;
    }
  }

  template <typename Prep>
  void submit(uint16_t head, Prep prep) {
    InFlight& s = slots_[head];
    io_uring_sqe* e = uring_.sqe();
    if (!e) {
      (void)uring_.submit();
      e = uring_.sqe();
    }
    if (!e) {  // cannot happen: the ring has an entry for every queue entry
      s.failed = true;
      if (s.pending == 0) finish(head);
      return;
    }
    prep(e);
    io_uring_sqe_set_data64(e, head);
    if (s.pending++ == 0) ++in_flight_;
  }

  void on_completion(uint64_t head, int res) {
    if (head >= slots_.size() || !slots_[head].busy) return;
    InFlight& s = slots_[head];
    if (res < 0 || (s.expect && static_cast<uint64_t>(res) != s.expect)) {
      if (!s.failed) log_once("I/O error: " + std::string(res < 0 ? std::strerror(-res) : "short transfer"));
      s.failed = true;
    }
    if (--s.pending == 0) {
      --in_flight_;
      finish(static_cast<uint16_t>(head));
    }
  }

  void finish(uint16_t head) {
    InFlight& s = slots_[head];
    s.busy = false;
    if (s.failed) count(kIoErrors);
    answer(head, s.status_gpa, s.failed ? kStatusIoErr : kStatusOk, s.failed ? 1 : s.used_len);
  }

  // The serial, zero-padded to 20 bytes, into the driver's buffers (as far as they reach).
  uint32_t write_id(const std::vector<std::span<uint8_t>>& data, uint64_t room) {
    std::array<uint8_t, kIdBytes> id{};
    const auto& serial = dev_.disk_.config().serial;
    std::memcpy(id.data(), serial.data(), std::min(serial.size(), id.size()));
    size_t done = 0, want = std::min<uint64_t>(room, id.size());
    for (auto d : data) {
      size_t n = std::min(d.size(), want - done);
      std::memcpy(d.data(), id.data() + done, n);
      done += n;
      if (done == want) break;
    }
    return static_cast<uint32_t>(done);
  }

  void answer(uint16_t head, uint64_t status_gpa, uint8_t status, uint32_t used_len) {
    uint8_t b = status;
    if (!mem_.write(status_gpa, {&b, 1})) used_len = 0;  // checked by parse(); cannot fail
    push(head, used_len);
  }

  void push(uint16_t head, uint32_t used_len) {
    if (broken_) return;  // the driver must reset the device; nothing more goes into its rings
    if (auto st = q_.push_used(mem_, head, used_len); !st) return fail(st.message());
    ++unpublished_;
  }

  void publish() {
    if (!unpublished_ || broken_) return;
    unpublished_ = 0;
    if (auto st = q_.publish_used(mem_); !st) return fail(st.message());
    auto need = q_.needs_interrupt(mem_);
    if (!need) return fail(need.message());
    if (*need && call_ >= 0) signal_eventfd(call_);
  }

  void count(size_t counter, uint64_t n = 1) { dev_.counters_->add(counter, n); }
  void count_request(uint32_t type, uint64_t length) {
    switch (type) {
      case kTypeIn: count(kReadRequests), count(kReadBytes, length); break;
      case kTypeOut: count(kWriteRequests), count(kWriteBytes, length); break;
      case kTypeFlush: count(kFlushes); break;
      case kTypeGetId: break;
      default: count(kDiscards); break;  // DISCARD, WRITE_ZEROES
    }
  }

  void log_once(const std::string& what) {
    if (logged_++ < 10) log_line(dev_.name(), what);
  }

  const Blk& dev_;
  const GuestMemory& mem_;
  SplitQueue q_;
  int kick_, call_;
  Uring uring_;
  Limits limits_;
  std::vector<InFlight> slots_;
  uint32_t in_flight_ = 0;
  uint32_t unpublished_ = 0;
  uint32_t logged_ = 0;
  bool broken_ = false;
  WorkerThread thread_;  // last: its thread ends before the members it uses go
};

Blk::Blk(Disk disk)
    : disk_(std::move(disk)),
      counters_(std::make_shared<Counters>(std::vector<std::string>{"read_requests", "read_bytes", "write_requests", "write_bytes",
                                                                    "flushes", "discards", "bad_requests", "io_errors",
                                                                    "ring_errors"})) {}

Blk::~Blk() { reset(); }

uint64_t Blk::features() const {
  uint64_t f = kFVersion1 | kFRingEventIdx | kFRingIndirectDesc | kFSegMax | kFBlkSize | kFFlush;
  if (disk_.config().read_only) f |= kFRo;
  else if (disk_.can_punch_holes()) f |= kFDiscard | kFWriteZeroes;
  return f;
}

Limits Blk::limits() const {
  bool holes = (features() & kFDiscard) != 0;
  return Limits{.capacity_sectors = disk_.capacity_sectors(),
                .read_only = disk_.config().read_only,
                .seg_max = kSegMax,
                .max_discard_sectors = holes ? kMaxDiscardSectors : 0,
                .max_write_zeroes_sectors = holes ? kMaxDiscardSectors : 0,
                .max_ranges = 1};
}

void Blk::read_config(uint64_t offset, std::span<uint8_t> data) {
  std::array<uint8_t, kConfigSize> c{};
  Limits l = limits();
  store_le<uint64_t>(c, 0, disk_.capacity_sectors());
  store_le<uint32_t>(c, 12, kSegMax);
  store_le<uint32_t>(c, 20, 512);  // blk_size
  store_le<uint16_t>(c, 34, 1);    // num_queues
  store_le<uint32_t>(c, 36, l.max_discard_sectors);
  store_le<uint32_t>(c, 40, l.max_ranges);
  store_le<uint32_t>(c, 44, 8);    // discard_sector_alignment: 4 KiB
  store_le<uint32_t>(c, 48, l.max_write_zeroes_sectors);
  store_le<uint32_t>(c, 52, l.max_ranges);
  c[56] = l.max_write_zeroes_sectors ? 1 : 0;  // write_zeroes_may_unmap
  std::fill(data.begin(), data.end(), 0);
  if (offset >= c.size()) return;
  std::memcpy(data.data(), c.data() + offset, std::min<uint64_t>(data.size(), c.size() - offset));
}

Status Blk::activate(const GuestMemory& mem, uint64_t features, std::vector<ActiveQueue> queues) {
  reset();
  if (queues.size() != 1 || queues[0].index != 0) return Error{name() + ": the driver enabled no request queue"};
  auto q = SplitQueue::create(mem, queues[0].config);
  if (!q) return Error{name() + ": queue 0: " + q.message()};
  (void)features;  // EVENT_IDX is in the queue's config; nothing else changes how requests are served
  auto uring = Uring::create(kQueueSize);
  if (!uring) return Error{name() + ": " + uring.message()};
  worker_ = std::make_unique<Worker>(*this, mem, std::move(q).value(), queues[0], std::move(uring).value());
  if (auto s = worker_->start(); !s) {
    worker_.reset();
    return Error{name() + ": " + s.message()};
  }
  return {};
}

void Blk::reset() {
  if (!worker_) return;
  worker_->stop();
  worker_.reset();
}

}  // namespace tandem::virtio::blk
