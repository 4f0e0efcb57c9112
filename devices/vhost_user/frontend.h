// devices/vhost_user/frontend.h: tandem as a vhost-user front-end: the vhost::Backend interface spoken
// to a back-end process (DPDK, a vhost-user-net switch, ...) over its Unix socket.
//
// connect() opens the socket and negotiates: GET_FEATURES, and when the back-end offers
// VHOST_USER_F_PROTOCOL_FEATURES, GET_PROTOCOL_FEATURES and SET_PROTOCOL_FEATURES with what both
// sides want (REPLY_ACK, and MQ so get_queue_num() is legal). With REPLY_ACK every request that has
// no reply of its own goes out with NEED_REPLY and its answer must be 0; without it such requests
// are fire-and-forget, as the protocol defines. Every reply is checked (code, REPLY flag, size,
// payload) and must come within the reply timeout.
//
// Feature bit 30 (VHOST_USER_F_PROTOCOL_FEATURES) belongs to the transport: get_features() hides it,
// set_features() adds it back when the back-end offered it (rings then start disabled until
// set_vring_enable(i, true)).
//
// Errors read "vhost-user <path>: <REQUEST>: <what>". A transport or protocol error (closed socket,
// timeout, malformed reply) breaks the connection: the stream is out of step, so every later call
// fails with the first error. A REPLY_ACK failure ("backend answered 1 (failure)") does not.
// Calls are serialized by a mutex; the object may be used from more than one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "base/result.h"
#include "devices/vhost/backend.h"
#include "devices/vhost_user/connection.h"
#include "devices/vhost_user/protocol.h"

namespace tandem::vhost_user {

class Frontend : public vhost::Backend {
 public:
  // Protocol features tandem asks for when the back-end offers them.
  static constexpr uint64_t kWantedProtocolFeatures = protocol_feature::kReplyAck | protocol_feature::kMq;

  static Result<std::unique_ptr<Frontend>> connect(const std::string& socket_path,
                                                   std::chrono::milliseconds reply_timeout);
  // Same, over a socket already connected to the back-end; `label` names it in messages.
  static Result<std::unique_ptr<Frontend>> over(Connection connection, const std::string& label,
                                                std::chrono::milliseconds reply_timeout);

  std::string name() const override { return name_; }
  // The connected socket, for watching it hang up (poll POLLRDHUP); never read or write it directly.
  int socket_fd() const { return conn_.fd(); }

  Status set_owner() override;
  Status reset_owner() override;
  Result<uint64_t> get_features() override;  // without bit 30
  Status set_features(uint64_t features) override;  // bit 30 added when offered
  // Every region needs its memfd (fd >= 0); at most 8 regions, no guest-physical overlap.
  Status set_mem_table(std::span<const vhost::MemoryRegion> regions) override;
  Status set_vring_num(uint32_t index, uint32_t num) override;
  Status set_vring_addr(uint32_t index, const vhost::VringAddr& addr) override;
  Status set_vring_base(uint32_t index, uint32_t base) override;
  Result<uint32_t> get_vring_base(uint32_t index) override;
  // fd < 0 sends the NOFD flag (the back-end polls, or no error notifications).
  Status set_vring_kick(uint32_t index, int fd) override;
  Status set_vring_call(uint32_t index, int fd) override;
  Status set_vring_err(uint32_t index, int fd) override;

  // vhost-user only. The protocol-feature calls need the back-end to offer bit 30.
  Result<uint64_t> get_protocol_features();
  Status set_protocol_features(uint64_t features);
  Result<uint64_t> get_queue_num();  // needs MQ negotiated
  // Without protocol features rings start enabled: enabling is then a no-op, disabling an error.
  Status set_vring_enable(uint32_t index, bool enable);

  uint64_t backend_features() const { return backend_features_; }  // as offered, with bit 30
  uint64_t protocol_features() const { return protocol_features_; }  // negotiated
  bool reply_ack() const { return (protocol_features_ & protocol_feature::kReplyAck) != 0; }

 private:
  Frontend(Connection connection, std::string name, std::chrono::milliseconds reply_timeout)
      : conn_(std::move(connection)), name_(std::move(name)), timeout_(reply_timeout) {}

  Status negotiate();
  bool offers_protocol_features() const { return (backend_features_ & kFeatureProtocolFeatures) != 0; }
  // Sends one request and waits for its reply (own reply, or REPLY_ACK answer); a reply of its own
  // lands in *reply.
  Status call(Request r, const Payload& payload, std::span<const int> fds = {}, Payload* reply = nullptr);
  Status call_locked(Request r, const Payload& payload, std::span<const int> fds, Payload* reply);
  Error fail(Request r, const std::string& what);  // prefixes; does not break
  Error broken(Request r, const std::string& what);  // prefixes and breaks the connection

  std::mutex mu_;
  Connection conn_;
  std::string name_;
  std::chrono::milliseconds timeout_;
  std::atomic<uint64_t> backend_features_ = 0;
  std::atomic<uint64_t> protocol_features_ = 0;
  std::optional<Error> broken_;
};

}  // namespace tandem::vhost_user
