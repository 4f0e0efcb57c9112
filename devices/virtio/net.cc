// devices/virtio/net.cc: the virtio-net device core: config space, features, MACs, link.
#include "devices/virtio/net.h"

#include <cstring>

#include "base/le.h"

namespace tandem::virtio {

Net::Net(Mac mac, std::unique_ptr<NetBackend> backend) : mac_(mac), backend_(std::move(backend)) {}

Net::~Net() { reset(); }

std::string Net::name() const { return "virtio-net " + tandem::net::format_mac(mac_) + " (" + backend_->describe() + ")"; }

uint64_t Net::features() const { return kFVersion1 | net::kFMac | net::kFStatus | backend_->features(); }

void Net::read_config(uint64_t offset, std::span<uint8_t> data) {
  // struct virtio_net_config: mac[6], status, max_virtqueue_pairs.
  std::array<uint8_t, 10> cfg{};
  std::memcpy(cfg.data(), mac_.data(), 6);
  store_le<uint16_t>(cfg, 6, backend_->link_up() ? net::kStatusLinkUp : 0);
  store_le<uint16_t>(cfg, 8, 1);
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < cfg.size() ? cfg[offset + i] : 0;
}

void Net::set_hooks(TransportHooks hooks) {
  std::lock_guard lock(mu_);
  hooks_ = hooks;
  backend_->set_link_callback(hooks.config_changed);
}

Status Net::activate(const GuestMemory& mem, uint64_t features, std::vector<ActiveQueue> queues) {
  std::lock_guard lock(mu_);
  if (active_) {
    backend_->stop();
    active_ = false;
  }
  TANDEM_TRY(backend_->start(mem, features, queues, hooks_));
  active_ = true;
  return {};
}

void Net::reset() {
  std::lock_guard lock(mu_);
  if (active_) backend_->stop();
  active_ = false;
}

}  // namespace tandem::virtio
