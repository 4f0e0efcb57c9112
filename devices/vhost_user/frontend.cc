// devices/vhost_user/frontend.cc: request/reply round trips, REPLY_ACK, and feature negotiation.
#include "devices/vhost_user/frontend.h"

#include <sys/socket.h>

#include <vector>

#include "base/hex.h"

namespace tandem::vhost_user {

Result<std::unique_ptr<Frontend>> Frontend::connect(const std::string& socket_path,
                                                    std::chrono::milliseconds reply_timeout) {
  auto conn = Connection::connect(socket_path);
  if (!conn.ok()) return Error{"vhost-user " + socket_path + ": " + conn.message()};
  return over(std::move(conn).value(), socket_path, reply_timeout);
}

Result<std::unique_ptr<Frontend>> Frontend::over(Connection connection, const std::string& label,
                                                 std::chrono::milliseconds reply_timeout) {
  std::unique_ptr<Frontend> f(new Frontend(std::move(connection), "vhost-user " + label, reply_timeout));
  TANDEM_TRY(f->negotiate());
  return f;
}

Status Frontend::negotiate() {
  Payload features;
  TANDEM_TRY(call(Request::kGetFeatures, {}, {}, &features));
  backend_features_ = std::get<uint64_t>(features);
  if (!offers_protocol_features()) return {};
  auto offered = get_protocol_features();
  TANDEM_TRY(offered);
  return set_protocol_features(*offered & kWantedProtocolFeatures);
}

Error Frontend::fail(Request r, const std::string& what) { return Error{name_ + ": " + request_name(r) + ": " + what}; }

Error Frontend::broken(Request r, const std::string& what) {
  Error e = fail(r, what);
  broken_ = e;
  ::shutdown(conn_.fd(), SHUT_RDWR);  // the stream is out of step; let the back-end see the end
  return e;
}

Status Frontend::call(Request r, const Payload& payload, std::span<const int> fds, Payload* reply) {
  std::lock_guard lock(mu_);
  return call_locked(r, payload, fds, reply);
}

Status Frontend::call_locked(Request r, const Payload& payload, std::span<const int> fds, Payload* reply) {
  if (broken_) return fail(r, "connection unusable after an earlier error (" + broken_->message + ")");
  bool own_reply = has_own_reply(r);
  bool ack = !own_reply && reply_ack();
  auto bytes = encode_request(r, payload, ack);
  if (!bytes.ok()) return Error{name_ + ": " + bytes.message()};  // codec errors name the request
  if (auto sent = conn_.send(*bytes, fds, timeout_); !sent.ok()) return broken(r, sent.message());
  if (!own_reply && !ack) return {};

  auto raw = conn_.receive(timeout_);
  if (!raw.ok()) return broken(r, raw.message());
  auto answer = decode_reply(r, std::move(raw).value());
  if (!answer.ok()) {
    broken_ = Error{name_ + ": " + answer.message()};
    ::shutdown(conn_.fd(), SHUT_RDWR);
    return *broken_;
  }
  if (ack) {
    uint64_t v = std::get<uint64_t>(answer->payload);
    if (v != 0) return fail(r, "backend answered " + std::to_string(v) + " (failure)");
    return {};
  }
  if (reply) *reply = std::move(answer->payload);
  return {};
}

Status Frontend::set_owner() { return call(Request::kSetOwner, {}); }

Status Frontend::reset_owner() { return call(Request::kResetOwner, {}); }

Result<uint64_t> Frontend::get_features() {
  Payload reply;
  TANDEM_TRY(call(Request::kGetFeatures, {}, {}, &reply));
  backend_features_ = std::get<uint64_t>(reply);
  return backend_features_ & ~kFeatureProtocolFeatures;
}

Status Frontend::set_features(uint64_t features) {
  uint64_t extra = features & ~backend_features_ & ~kFeatureProtocolFeatures;
  if (extra) return fail(Request::kSetFeatures, "features " + hex(extra) + " were not offered by the back-end");
  if (offers_protocol_features()) features |= kFeatureProtocolFeatures;
  return call(Request::kSetFeatures, features);
}

Status Frontend::set_mem_table(std::span<const vhost::MemoryRegion> regions) {
  if (regions.size() > kMaxMemRegions)
    return fail(Request::kSetMemTable, std::to_string(regions.size()) + " regions, at most " + std::to_string(kMaxMemRegions));
  MemoryTable table;
  std::vector<int> fds;
  for (size_t i = 0; i < regions.size(); ++i) {
    const auto& m = regions[i];
    if (m.fd < 0) return fail(Request::kSetMemTable, "region " + std::to_string(i) + " has no fd to share");
    table.regions.push_back({m.gpa, m.size, m.user_addr, m.fd_offset});
    fds.push_back(m.fd);
  }
  return call(Request::kSetMemTable, table, fds);
}

Status Frontend::set_vring_num(uint32_t index, uint32_t num) {
  return call(Request::kSetVringNum, VringState{index, num});
}

Status Frontend::set_vring_addr(uint32_t index, const vhost::VringAddr& addr) {
  return call(Request::kSetVringAddr, VringAddress{index, addr.flags, addr.desc, addr.used, addr.avail, addr.log});
}

Status Frontend::set_vring_base(uint32_t index, uint32_t base) {
  return call(Request::kSetVringBase, VringState{index, base});
}

Result<uint32_t> Frontend::get_vring_base(uint32_t index) {
  std::lock_guard lock(mu_);
  Payload reply;
  TANDEM_TRY(call_locked(Request::kGetVringBase, VringState{index, 0}, {}, &reply));
  auto state = std::get<VringState>(reply);
  if (state.index != index)
    return broken(Request::kGetVringBase, "reply for vring " + std::to_string(state.index) + ", asked for " + std::to_string(index));
  return state.num;
}

namespace {
std::span<const int> one_fd(const int& fd) { return fd >= 0 ? std::span<const int>(&fd, 1) : std::span<const int>(); }
}  // namespace

Status Frontend::set_vring_kick(uint32_t index, int fd) {
  return call(Request::kSetVringKick, VringFile{index, fd < 0}, one_fd(fd));
}

Status Frontend::set_vring_call(uint32_t index, int fd) {
  return call(Request::kSetVringCall, VringFile{index, fd < 0}, one_fd(fd));
}

Status Frontend::set_vring_err(uint32_t index, int fd) {
  return call(Request::kSetVringErr, VringFile{index, fd < 0}, one_fd(fd));
}

Result<uint64_t> Frontend::get_protocol_features() {
  if (!offers_protocol_features())
    return fail(Request::kGetProtocolFeatures, "the back-end does not offer protocol features (feature bit 30)");
  Payload reply;
  TANDEM_TRY(call(Request::kGetProtocolFeatures, {}, {}, &reply));
  return std::get<uint64_t>(reply);
}

Status Frontend::set_protocol_features(uint64_t features) {
  if (!offers_protocol_features())
    return fail(Request::kSetProtocolFeatures, "the back-end does not offer protocol features (feature bit 30)");
  std::lock_guard lock(mu_);
  TANDEM_TRY(call_locked(Request::kSetProtocolFeatures, features, {}, nullptr));
  protocol_features_ = features;
  return {};
}

Result<uint64_t> Frontend::get_queue_num() {
  if (!(protocol_features_ & protocol_feature::kMq))
    return fail(Request::kGetQueueNum, "protocol feature MQ was not negotiated");
  Payload reply;
  TANDEM_TRY(call(Request::kGetQueueNum, {}, {}, &reply));
  return std::get<uint64_t>(reply);
}

Status Frontend::set_vring_enable(uint32_t index, bool enable) {
  if (!offers_protocol_features()) {
    if (enable) return {};  // rings start enabled without protocol features
    return fail(Request::kSetVringEnable, "cannot disable a ring: the back-end does not offer protocol features");
  }
  return call(Request::kSetVringEnable, VringState{index, enable ? 1u : 0u});
}

}  // namespace tandem::vhost_user
