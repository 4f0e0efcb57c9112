// devices/virtio/net_vhost.cc: virtio-net over the kernel's vhost-net: tandem sets up memory
// table, rings and eventfds, attaches the tap, and from then on the kernel moves every packet.
#include <cstdio>

#include "devices/net/tap.h"
#include "devices/vhost/kernel.h"
#include "devices/virtio/net.h"
#include "devices/virtio/vhost_rings.h"

namespace tandem::virtio {

namespace {

// What vhost-net itself takes part in; offloads are the tap's business.
constexpr uint64_t kVhostRingFeatures = kFVersion1 | kFRingEventIdx | kFRingIndirectDesc | net::kFMrgRxbuf;

class VhostNetBackend : public NetBackend {
 public:
  VhostNetBackend(tandem::net::Tap tap, std::unique_ptr<vhost::KernelNet> vhost, uint64_t vhost_features)
      : tap_(std::move(tap)), vhost_(std::move(vhost)), vhost_features_(vhost_features) {}
  ~VhostNetBackend() override { stop(); }

  std::string describe() const override { return "tap " + tap_.name() + " + vhost-net"; }

  uint64_t features() const override {
    return (vhost_features_ & kVhostRingFeatures) | net::kFCsum | net::kFGuestCsum | net::kFGuestTso4 | net::kFGuestTso6 |
           net::kFGuestEcn | net::kFHostTso4 | net::kFHostTso6 | net::kFHostEcn;
  }

  Status start(const GuestMemory& mem, uint64_t features, const std::vector<ActiveQueue>& queues, const TransportHooks&) override {
    stop();
    TANDEM_TRY(tap_.set_vnet_hdr_size(static_cast<int>(net::kHdrSize)));
    TANDEM_TRY(tap_.set_offloads(tandem::net::tap_offloads_for_guest_features(features)));
    TANDEM_TRY(vhost_->set_features(features & vhost_features_));
    std::vector<uint16_t> bases(queues.size(), 0);
    TANDEM_TRY(program_vhost(*vhost_, mem, queues, bases));
    for (const auto& q : queues) {
      TANDEM_TRY(vhost_->set_backend(q.index, tap_.fd()));
      attached_.push_back(q.index);
    }
    return {};
  }

  void stop() override {
    for (uint32_t index : attached_) {
      if (auto s = vhost_->set_backend(index, -1); !s) std::fprintf(stderr, "tandem: %s\n", s.message().c_str());
      (void)vhost_->get_vring_base(index);
    }
    attached_.clear();
  }

 private:
  tandem::net::Tap tap_;
  std::unique_ptr<vhost::KernelNet> vhost_;
  uint64_t vhost_features_;
  std::vector<uint32_t> attached_;
};

}  // namespace

Result<std::unique_ptr<NetBackend>> make_vhost_net_backend(const std::string& tap_name) {
  auto tap = tandem::net::Tap::open(tap_name);
  if (!tap) return tap.error();
  TANDEM_TRY(tap->check_vnet_hdr_support());
  TANDEM_TRY(tap->set_up());
  auto vhost = vhost::KernelNet::open();
  if (!vhost) return vhost.error();
  TANDEM_TRY((*vhost)->set_owner());
  auto features = (*vhost)->get_features();
  if (!features) return features.error();
  if (!(*features & kFVersion1)) return Error{"vhost-net does not offer VIRTIO_F_VERSION_1"};
  return std::unique_ptr<NetBackend>(new VhostNetBackend(std::move(tap).value(), std::move(vhost).value(), *features));
}

}  // namespace tandem::virtio
