// devices/virtio/pci_transport.cc: virtio-pci modern registers, capabilities, doorbells, MSI-X.
#include "devices/virtio/pci_transport.h"

#include <sys/eventfd.h>

#include <cstdio>
#include <cstring>

#include "base/eventfd.h"
#include "base/hex.h"
#include "base/le.h"
#include "base/log.h"

namespace tandem::virtio {

namespace {
constexpr uint8_t kCapCommon = 1, kCapNotify = 2, kCapIsr = 3, kCapDevice = 4;

// virtio_pci_cap after ID and next: cap_len, cfg_type, bar, id, padding[2], offset, length.
std::vector<uint8_t> vendor_cap(uint8_t type, uint64_t offset, uint64_t length, std::optional<uint32_t> multiplier = {}) {
  std::vector<uint8_t> b(multiplier ? 18 : 14, 0);
  b[0] = static_cast<uint8_t>(b.size() + 2);
  b[1] = type;
  b[2] = 0;  // BAR 0
  store_le<uint32_t>(b, 6, static_cast<uint32_t>(offset));
  store_le<uint32_t>(b, 10, static_cast<uint32_t>(length));
  if (multiplier) store_le<uint32_t>(b, 14, *multiplier);
  return b;
}
}  // namespace

PciTransport::PciTransport(std::shared_ptr<VirtioDevice> device, std::shared_ptr<VmServices> vm, const GuestMemory& mem)
    : device_(std::move(device)),
      vm_(std::move(vm)),
      mem_(mem),
      fn_(PciIds{0x1af4, static_cast<uint16_t>(0x1040 + device_->device_id()), 1, 0,
                 static_cast<uint8_t>(device_->device_id() == 1 ? 0x00 : 0x80), static_cast<uint8_t>(device_->device_id() == 1 ? 0x02 : 0xff),
                 0x1af4, static_cast<uint16_t>(device_->device_id())},
          *vm_, device_->name()) {}

Result<std::shared_ptr<PciTransport>> PciTransport::create(std::shared_ptr<VirtioDevice> device, std::shared_ptr<VmServices> vm,
                                                           const GuestMemory& mem, uint64_t bar0) {
  if (!vm) return Error{"virtio-pci: no VM services given"};
  std::shared_ptr<PciTransport> t(new PciTransport(std::move(device), vm, mem));
  const std::string who = t->device_->name();
  uint16_t nq = t->device_->num_queues();
  if (nq == 0 || nq * kNotifyMultiplier > kMsixTableOffset - kNotifyOffset) return Error{who + ": " + std::to_string(nq) + " queues do not fit"};
  t->queues_.resize(nq);
  for (auto& q : t->queues_) {
    q.size = t->device_->max_queue_size();
    q.kick.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!q.kick) return errno_error(who + ": eventfd for a queue doorbell");
  }
  TANDEM_TRY(t->fn_.add_bar(0, BarKind::kMem64, kBar0Size, bar0));
  auto common = vendor_cap(kCapCommon, kCommonCfgOffset, kCommonCfgSize);
  auto isr = vendor_cap(kCapIsr, kIsrOffset, 1);
  auto devcfg = vendor_cap(kCapDevice, kDeviceCfgOffset, kDeviceCfgSize);
  auto notify = vendor_cap(kCapNotify, kNotifyOffset, static_cast<uint64_t>(nq) * kNotifyMultiplier, kNotifyMultiplier);
  for (auto* body : {&common, &isr, &devcfg, &notify}) {
    auto r = t->fn_.add_capability(pci::kCapVendor, *body);
    if (!r) return r.error();
  }
  TANDEM_TRY(t->fn_.add_msix(static_cast<uint16_t>(nq + 1), 0, kMsixTableOffset, kMsixPbaOffset));
  t->fn_.serve_bar(0, t);
  t->fn_.on_bar_moved([raw = t.get()](uint8_t, std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr) {
    raw->move_doorbells(old_addr, new_addr);
  });
  t->device_->set_hooks(TransportHooks{
      [w = std::weak_ptr<PciTransport>(t)] {
        if (auto s = w.lock()) s->signal_config();
      },
      [w = std::weak_ptr<PciTransport>(t)](const std::string& why) {
        if (auto s = w.lock()) {
          s->log("needs reset: " + why);
          s->status_.fetch_or(kStatusNeedsReset);
          s->signal_config();
        }
      }});
  return t;
}

PciTransport::~PciTransport() {
  std::lock_guard lock(mu_);
  move_doorbells(fn_.bar(0), std::nullopt);
}

void PciTransport::unplug() {
  std::lock_guard lock(mu_);
  reset_locked();
  status_.store(0);
  fn_.disable();  // no decoding: BAR 0 and its doorbells go
}

void PciTransport::log(const std::string& what) const { log_line(device_->name(), what); }

uint8_t PciTransport::status() const { return status_.load(); }

std::optional<uint64_t> PciTransport::bar0() const {
  std::lock_guard lock(mu_);
  return fn_.bar(0);
}

void PciTransport::config_read(uint32_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  fn_.config_read(offset, data);
}

void PciTransport::config_write(uint32_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  fn_.config_write(offset, data);
}

// BAR 0 moved (PciFunction moved its MMIO already): the doorbells' ioeventfds follow. Without an
// ioeventfd a doorbell still works, through the exit path in write().
void PciTransport::move_doorbells(std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr) {
  for (size_t q = 0; q < queues_.size(); ++q) {
    const uint64_t slot = kNotifyOffset + q * kNotifyMultiplier;
    if (old_addr) {
      if (auto s = vm_->set_ioeventfd(queues_[q].kick.get(), *old_addr + slot, false); !s) log(s.message());
    }
    if (new_addr) {
      if (auto s = vm_->set_ioeventfd(queues_[q].kick.get(), *new_addr + slot, true); !s) log(s.message());
    }
  }
}

void PciTransport::read(uint64_t offset, std::span<uint8_t> data) {
  if (fn_.msix_read(offset, data)) return;
  std::memset(data.data(), 0, data.size());
  if (offset < kCommonCfgOffset + kCommonCfgSize) {
    std::lock_guard lock(mu_);
    common_read(offset - kCommonCfgOffset, data);
  } else if (offset == kIsrOffset && data.size() == 1) {
    data[0] = isr_.exchange(0);  // read-to-clear
  } else if (offset >= kDeviceCfgOffset && offset < kDeviceCfgOffset + kDeviceCfgSize) {
    device_->read_config(offset - kDeviceCfgOffset, data);
  }
}

void PciTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  if (fn_.msix_write(offset, data)) return;
  if (offset < kCommonCfgOffset + kCommonCfgSize) {
    std::lock_guard lock(mu_);
    common_write(offset - kCommonCfgOffset, data);
  } else if (offset >= kDeviceCfgOffset && offset < kDeviceCfgOffset + kDeviceCfgSize) {
    device_->write_config(offset - kDeviceCfgOffset, data);
  } else if (offset >= kNotifyOffset && offset < kNotifyOffset + queues_.size() * kNotifyMultiplier) {
    // A doorbell that did not go through the ioeventfd (not registered, or an odd width).
    signal_eventfd(queues_[(offset - kNotifyOffset) / kNotifyMultiplier].kick.get());
  }
}

void PciTransport::common_read(uint64_t offset, std::span<uint8_t> data) {
  std::array<uint8_t, kCommonCfgSize> img{};
  uint64_t offered = device_->features();
  store_le<uint32_t>(img, 0x00, device_feature_select_);
  store_le<uint32_t>(img, 0x04, device_feature_select_ < 2 ? static_cast<uint32_t>(offered >> (32 * device_feature_select_)) : 0);
  store_le<uint32_t>(img, 0x08, driver_feature_select_);
  store_le<uint32_t>(img, 0x0c, driver_feature_select_ < 2 ? static_cast<uint32_t>(driver_features_ >> (32 * driver_feature_select_)) : 0);
  store_le<uint16_t>(img, 0x10, config_vector_.load());
  store_le<uint16_t>(img, 0x12, static_cast<uint16_t>(queues_.size()));
  img[0x14] = status_.load();
  img[0x15] = config_generation_;
  store_le<uint16_t>(img, 0x16, queue_select_);
  if (queue_select_ < queues_.size()) {
    const Queue& q = queues_[queue_select_];
    store_le<uint16_t>(img, 0x18, q.size);
    store_le<uint16_t>(img, 0x1a, q.vector);
    store_le<uint16_t>(img, 0x1c, q.enabled ? 1 : 0);
    store_le<uint16_t>(img, 0x1e, queue_select_);  // queue_notify_off: slot = index
    store_le<uint64_t>(img, 0x20, q.desc);
    store_le<uint64_t>(img, 0x28, q.driver);
    store_le<uint64_t>(img, 0x30, q.device);
  }
  if (offset < img.size() && img.size() - offset >= data.size()) std::memcpy(data.data(), img.data() + offset, data.size());
}

void PciTransport::common_write(uint64_t offset, std::span<const uint8_t> data) {
  const uint64_t v = le_to_u64(data);
  const size_t w = data.size();
  Queue* q = queue_select_ < queues_.size() ? &queues_[queue_select_] : nullptr;
  // Queue registers are frozen once the driver said DRIVER_OK (spec 4.1.4.3.2).
  bool queue_writable = q && !(status_.load() & kStatusDriverOk);
  auto set_half = [&](uint64_t& field, uint64_t base) {
    if (w == 8 && offset == base) field = v;
    else if (w == 4 && offset == base) field = (field & ~0xffffffffULL) | v;
    else if (w == 4 && offset == base + 4) field = (field & 0xffffffffULL) | v << 32;
  };
  switch (offset) {
    case 0x00: if (w == 4) device_feature_select_ = static_cast<uint32_t>(v); return;
    case 0x08: if (w == 4) driver_feature_select_ = static_cast<uint32_t>(v); return;
    case 0x0c:
      if (w == 4 && driver_feature_select_ < 2 && !(status_.load() & kStatusFeaturesOk)) {
        uint32_t shift = 32 * driver_feature_select_;
        driver_features_ = (driver_features_ & ~(0xffffffffULL << shift)) | v << shift;
      }
      return;
    case 0x10:
      if (w == 2) config_vector_.store(v < fn_.msix().table().vectors() ? static_cast<uint16_t>(v) : kMsixNoVector);
      return;
    case 0x14: if (w == 1) set_status(static_cast<uint8_t>(v)); return;
    case 0x16: if (w == 2) queue_select_ = static_cast<uint16_t>(v); return;
    case 0x18: if (w == 2 && queue_writable) q->size = static_cast<uint16_t>(v); return;
    case 0x1a: if (w == 2 && queue_writable) q->vector = v < fn_.msix().table().vectors() ? static_cast<uint16_t>(v) : kMsixNoVector; return;
    case 0x1c: if (w == 2 && queue_writable) q->enabled = v == 1; return;
    default: break;
  }
  if (!queue_writable) return;
  if (offset >= 0x20 && offset < 0x28) set_half(q->desc, 0x20);
  else if (offset >= 0x28 && offset < 0x30) set_half(q->driver, 0x28);
  else if (offset >= 0x30 && offset < 0x38) set_half(q->device, 0x30);
}

void PciTransport::set_status(uint8_t value) {
  uint8_t old = status_.load();
  if (value == 0) {
    reset_locked();
    return;
  }
  if ((value & kStatusFeaturesOk) && !(old & kStatusFeaturesOk)) {
    uint64_t offered = device_->features();
    if ((driver_features_ & ~offered) || !(driver_features_ & kFVersion1)) {
      log("driver features " + hex(driver_features_) + " are not a modern subset of " + hex(offered) + ": FEATURES_OK refused");
      value = static_cast<uint8_t>(value & ~kStatusFeaturesOk);
    }
  }
  status_.store(static_cast<uint8_t>(value | (old & kStatusNeedsReset)));
  if ((value & kStatusDriverOk) && !(old & kStatusDriverOk)) {
    if (!(value & kStatusFeaturesOk)) {
      log("DRIVER_OK without FEATURES_OK");
      status_.fetch_or(kStatusNeedsReset);
      return;
    }
    std::vector<ActiveQueue> active;
    for (uint16_t i = 0; i < queues_.size(); ++i) {
      const Queue& q = queues_[i];
      if (!q.enabled) continue;
      ActiveQueue a;
      a.index = i;
      a.config = QueueConfig{q.size, q.desc, q.driver, q.device, (driver_features_ & kFRingEventIdx) != 0};
      if (q.size > device_->max_queue_size()) {
        log("queue " + std::to_string(i) + ": size " + std::to_string(q.size) + " is above the maximum " + std::to_string(device_->max_queue_size()));
        status_.fetch_or(kStatusNeedsReset);
        signal_config();
        return;
      }
      if (auto s = SplitQueue::create(mem_, a.config); !s) {
        log("queue " + std::to_string(i) + ": " + s.message());
        status_.fetch_or(kStatusNeedsReset);
        signal_config();
        return;
      }
      a.kick_fd = q.kick.get();
      a.call_fd = fn_.msix().eventfd(q.vector);
      active.push_back(a);
    }
    if (auto s = device_->activate(mem_, driver_features_, std::move(active)); !s) {
      log("activation failed: " + s.message());
      status_.fetch_or(kStatusNeedsReset);
      signal_config();
    }
  }
}

void PciTransport::reset_locked() {
  device_->reset();
  for (auto& q : queues_) {
    q.size = device_->max_queue_size();
    q.vector = kMsixNoVector;
    q.enabled = false;
    q.desc = q.driver = q.device = 0;
    drain_eventfd(q.kick.get());
  }
  device_feature_select_ = driver_feature_select_ = 0;
  driver_features_ = 0;
  config_vector_.store(kMsixNoVector);
  queue_select_ = 0;
  status_.store(0);
  isr_.store(0);
  ++config_generation_;
}

void PciTransport::signal_config() {
  isr_.fetch_or(2);
  fn_.msix().signal(config_vector_.load());
}

}  // namespace tandem::virtio
