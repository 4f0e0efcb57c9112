// devices/vhost_user/backend.h: tandem as a vhost-user back-end: one front-end's session.
//
// A BackendSession owns one accepted Connection and answers the front-end's requests with the codec
// (decode_request/encode_reply). It is the vhost-pci-net device's window to the peer VM
// (docs/vhost-pci-net.md): it maps the peer's memory, translates the rings' addresses to the
// peer's guest-physical addresses, keeps the rings' eventfds, and tells a BackendObserver about
// every state change so the device can install memslots, irqfds and ioeventfds.
//
// Handled: GET/SET_FEATURES (offered set configurable; unoffered bits refused),
// GET/SET_PROTOCOL_FEATURES (REPLY_ACK and MQ), SET_OWNER, RESET_OWNER, GET_QUEUE_NUM,
// SET_MEM_TABLE, SET_VRING_NUM/ADDR/BASE, GET_VRING_BASE, SET_VRING_KICK/CALL/ERR (NOFD too),
// SET_VRING_ENABLE. NEED_REPLY is honoured on every request without a reply of its own
// (answer 0 = done, 1 = refused).
//
// A vring is *live* once it has a size, addresses inside the memory table, a base, a kick and a
// call (an eventfd, or NOFD), and is enabled (from the start when the front-end did not take
// VHOST_USER_F_PROTOCOL_FEATURES, else after SET_VRING_ENABLE 1). GET_VRING_BASE and
// SET_VRING_ENABLE 0 stop it; GET_VRING_BASE also drops its fds (the front-end sends new ones).
//
// What goes wrong, and what the front-end sees:
//  - a request the session refuses (unoffered features, a vring index past max_vrings, a ring
//    outside memory, SET_VRING_ADDR before SET_MEM_TABLE, an fd that cannot back a region, a kick
//    that is no eventfd, changing a live ring, an unsupported request): answer 1 when NEED_REPLY is
//    set, a log line either way, and the session goes on;
//  - a protocol violation (a message the codec refuses, a truncated or oversized message, a request
//    needing a reply the session cannot give, a reply the front-end does not read in time): the
//    session answers 1 if the request asked for an ack, logs, and closes.
// Every fd and mapping is owned by RAII objects: refused requests, closing and destruction release
// them all.
//
// Threading: one thread drives a session (handle_one() from an event loop when fd() is readable, or
// run()); observer calls happen on that thread. Not thread-safe otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "devices/vhost_user/connection.h"
#include "devices/vhost_user/protocol.h"
#include "memory/mapping.h"

namespace tandem::vhost_user {

// One front-end memory region as mapped into this process.
struct MappedRegion {
  uint64_t gpa = 0;             // the front-end guest's physical address
  uint64_t size = 0;
  uint64_t userspace_addr = 0;  // the front-end's own virtual address (what SET_VRING_ADDR uses)
  uint64_t mmap_offset = 0;     // offset of the region in `fd`
  uint8_t* host = nullptr;      // [gpa, gpa + size) lives at [host, host + size) here
  int fd = -1;                  // backing fd, owned by the session's table
  // The whole mapping [map_start, map_start + map_length) that holds the region (it starts at the
  // page, or huge page, below mmap_offset).
  uint8_t* map_start = nullptr;
  uint64_t map_length = 0;
  // Holding this keeps [host, host + size) mapped after the table is replaced or the session ends
  // (for a device whose KVM memslot on it could not be removed).
  std::shared_ptr<const void> keep_mapped;
};

// Whether MemoryMap::map takes memory files that are not sealed against shrinking.
struct MemorySealPolicy {
  bool allow_unsealed = false;
  std::string hint = "allow_unsealed=on";  // the option that allows unsealed memory, for the refusal
};

// The front-end's memory table, mapped MAP_SHARED, with checked translations.
class MemoryMap {
 public:
  MemoryMap() = default;
  MemoryMap(MemoryMap&&) = default;
  MemoryMap& operator=(MemoryMap&&) = default;

  // Maps every region of `table` from its fd (fds[i] backs regions[i]). Refuses fds that are not
  // regular files (memfd, tmpfs, hugetlbfs) or are shorter than mmap_offset + memory_size, an
  // mmap_offset that is not page-aligned, and regions whose front-end (userspace) ranges overlap.
  // Unless `seals.allow_unsealed`, also a file not sealed against shrinking (F_SEAL_SHRINK): a front-end
  // that truncates its memory under our mapping would end us with SIGBUS (or VM1's KVM_RUN with
  // EFAULT). On failure nothing stays mapped or open.
  using SealPolicy = MemorySealPolicy;
  static Result<MemoryMap> map(const MemoryTable& table, std::vector<UniqueFd> fds, const SealPolicy& seals = SealPolicy{});

  bool empty() const { return regions_.empty(); }
  std::span<const MappedRegion> regions() const { return regions_; }
  // Host pointer for [gpa, gpa + len), which must lie inside one region (len 0 counts as 1).
  Result<uint8_t*> host(uint64_t gpa, uint64_t len) const;
  // Guest-physical address of the front-end's [userspace_addr, + len), inside one region.
  Result<uint64_t> gpa_of(uint64_t userspace_addr, uint64_t len) const;

 private:
  std::vector<MappedRegion> regions_;
  std::vector<std::shared_ptr<Mapping>> mappings_;  // one per region, from the page-aligned offset below it
  std::vector<UniqueFd> fds_;
};

// A live vring as the device sees it. The fds stay owned by the session: valid until the next
// on_vring_ready or on_vring_stop for this index (dup() them to keep them longer).
struct VringConfig {
  uint32_t index = 0;
  uint32_t num = 0;
  uint16_t base = 0;  // available index to start at
  uint64_t desc_gpa = 0, avail_gpa = 0, used_gpa = 0;  // front-end guest-physical, checked in memory
  int kick_fd = -1;  // -1: NOFD (no kicks: poll the ring)
  int call_fd = -1;  // -1: NOFD (no used-buffer interrupts)
  int err_fd = -1;   // -1: none
};

// What the vhost-pci-net device implements. Calls come from the session's thread, in protocol
// order. The session unwinds the same way whatever the cause: on_vring_stop for each live ring,
// then on_mem_table with no regions (memory going away), then on_disconnect at the end.
class BackendObserver {
 public:
  virtual ~BackendObserver() = default;
  // The front-end's memory: a new table (before the previous one is unmapped), or an empty span
  // when the memory goes away (RESET_OWNER, end of session). Live rings were stopped first. An
  // Error refuses a new table: the front-end gets a failure answer and the old table stays.
  virtual Status on_mem_table(std::span<const MappedRegion> regions) = 0;
  // SET_FEATURES accepted (bit 30, the transport's, cleared).
  virtual void on_features(uint64_t features) { (void)features; }
  // `ring` went live, or a live ring got a new kick/call/err fd. An Error keeps (or takes) it out
  // of service and the front-end gets a failure answer.
  virtual Status on_vring_ready(const VringConfig& ring) = 0;
  // A live ring stops (GET_VRING_BASE, SET_VRING_ENABLE 0, a new memory table, reset, end of
  // session). Returns the last available index the ring's consumer reached; GET_VRING_BASE hands
  // it to the front-end and the ring restarts there.
  virtual uint16_t on_vring_stop(uint32_t index) = 0;
  // The session is closed; no call follows.
  virtual void on_disconnect() {}
};

struct BackendConfig {
  std::string name = "vhost-user back-end";  // prefixes log lines
  uint64_t features = kFeatureProtocolFeatures;  // GET_FEATURES; bit 30 offers protocol features
  uint64_t protocol_features = protocol_feature::kReplyAck | protocol_feature::kMq;  // ⊆ kSupportedProtocolFeatures
  uint64_t queue_num = 1;    // GET_QUEUE_NUM (for virtio-net: queue pairs)
  uint32_t max_vrings = 2;   // vring indices 0 .. max_vrings-1 (1..256)
  std::chrono::milliseconds message_timeout{1000};  // rest of a started message; sending a reply
  std::function<void(const std::string&)> log;  // default: "tandem: <name>: ..." on stderr
  // Memory files without F_SEAL_SHRINK (hugetlbfs or tmpfs files, which cannot be sealed) are
  // refused unless seals.allow_unsealed; seals.hint names the option that allows them.
  MemoryMap::SealPolicy seals;
};

class BackendSession {
 public:
  static constexpr uint64_t kSupportedProtocolFeatures = protocol_feature::kReplyAck | protocol_feature::kMq;

  // The observer must outlive the session.
  static Result<std::unique_ptr<BackendSession>> create(Connection connection, BackendConfig config,
                                                        BackendObserver& observer);
  ~BackendSession();  // closes (with the observer's unwinding) if still open
  BackendSession(const BackendSession&) = delete;
  BackendSession& operator=(const BackendSession&) = delete;

  enum class Step { kHandled, kIdle, kClosed };
  // Waits up to `wait` for a message (nullopt: for ever), then reads and handles exactly one.
  // kIdle: nothing arrived. kClosed: the session is (now) closed; see close_reason().
  Step handle_one(std::optional<std::chrono::milliseconds> wait = std::nullopt);
  // handle_one() until closed. Ok when the front-end hung up between messages; otherwise the reason.
  Status run();
  // Closes now: unwinds through the observer, releases every fd and mapping, closes the socket.
  void close(const std::string& reason);

  bool closed() const { return closed_; }
  const std::string& close_reason() const { return close_reason_; }
  int fd() const { return conn_.fd(); }  // poll for POLLIN; -1 once closed

  // State, for the device and tests.
  uint64_t acked_features() const { return acked_features_; }
  uint64_t acked_protocol_features() const { return protocol_features_; }
  bool owned() const { return owned_; }
  const MemoryMap& memory() const { return mem_; }
  bool vring_live(uint32_t index) const { return index < rings_.size() && rings_[index].live; }
  std::optional<VringConfig> vring(uint32_t index) const;  // nullopt: index out of range

 private:
  struct Ring {
    uint32_t num = 0;
    uint16_t base = 0;
    bool addr_set = false;
    VringAddress addr;  // the front-end's addresses, as sent
    uint64_t desc_gpa = 0, avail_gpa = 0, used_gpa = 0;
    bool kick_set = false, call_set = false;  // since the last stop (an fd or NOFD)
    UniqueFd kick, call, err;
    bool enabled = false;  // by SET_VRING_ENABLE
    bool live = false;
  };
  // What handling a request led to.
  struct Outcome {
    Status status;                  // requests without a reply of their own: Error → answer 1
    std::optional<Payload> reply;   // requests with one
    std::optional<std::string> violation;  // close the session
    static Outcome ok() { return {}; }
    static Outcome fail(const std::string& e) { return Outcome{Error{e}, {}, {}}; }
    static Outcome answer(Payload p) { return Outcome{{}, std::move(p), {}}; }
    static Outcome violate(const std::string& e) { return Outcome{{}, {}, e}; }
  };

  BackendSession(Connection connection, BackendConfig config, BackendObserver& observer);

  Outcome dispatch(Message& m);
  // SET_VRING_NUM, _ADDR, _BASE, GET_VRING_BASE, SET_VRING_ENABLE: one ring's setup.
  Outcome dispatch_vring(Message& m);
  void set_features(uint64_t features);
  Outcome set_mem_table(Message& m);
  Status set_vring_file(Message& m);
  Status check_index(uint32_t index) const;
  bool ring_enabled(const Ring& r) const;
  struct RingGpas {
    uint64_t desc, avail, used;
  };
  // The front-end's ring addresses as guest-physical ones, each ring part inside one region.
  Result<RingGpas> translate(const VringAddress& a, uint32_t num) const;
  Status retranslate(Ring& r) const;
  Status maybe_start(uint32_t index);
  void stop_ring(uint32_t index);
  void unwind();  // every live ring stopped, memory released (observer told)
  VringConfig config_of(uint32_t index) const;
  bool send(Request r, const Payload& payload);
  void log(const std::string& what) const;

  Connection conn_;
  BackendConfig config_;
  BackendObserver& observer_;
  bool closed_ = false;
  std::string close_reason_;
  bool owned_ = false;
  uint64_t acked_features_ = 0;
  uint64_t protocol_features_ = 0;
  MemoryMap mem_;
  std::vector<Ring> rings_;
};

}  // namespace tandem::vhost_user
