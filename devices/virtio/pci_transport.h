// devices/virtio/pci_transport.h: the virtio 1.x modern PCI transport (virtio spec 4.1).
//
// One PCI function per virtio device, modern only (device ID 0x1040 + type, revision 1). BAR 0
// is a 64-bit memory BAR holding, at fixed offsets, the common configuration, the ISR byte, the
// device configuration, the doorbells (one 4-byte slot per queue) and the MSI-X table and PBA;
// vendor capabilities point the driver at each. Doorbell writes land on per-queue eventfds through
// KVM ioeventfds; interrupts leave through per-vector irqfds (devices/pci/msix.h). When the guest
// moves BAR 0 or turns memory decoding off, the MMIO range and every ioeventfd move with it.
// Hostile register values (features the device never offered, queue sizes that are not powers of
// two, rings outside RAM, vectors past the table) end in FEATURES_OK refused or NEEDS_RESET, never
// in a crash.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/unique_fd.h"
#include "devices/bus.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_config.h"
#include "devices/pci/pci_device.h"
#include "devices/pci/pci_function.h"
#include "devices/virtio/device.h"
#include "devices/vm_services.h"
#include "memory/guest_memory.h"

namespace tandem::virtio {

// BAR 0 layout.
constexpr uint64_t kCommonCfgOffset = 0x0000;
constexpr uint64_t kCommonCfgSize = 0x40;
constexpr uint64_t kIsrOffset = 0x1000;
constexpr uint64_t kDeviceCfgOffset = 0x2000;
constexpr uint64_t kDeviceCfgSize = 0x1000;
constexpr uint64_t kNotifyOffset = 0x3000;
constexpr uint32_t kNotifyMultiplier = 4;
constexpr uint64_t kMsixTableOffset = 0x4000;
constexpr uint64_t kMsixPbaOffset = 0x6000;
constexpr uint64_t kBar0Size = 0x8000;

class PciTransport : public PciDevice, public BusDevice, public std::enable_shared_from_this<PciTransport> {
 public:
  // `bar0` is the address firmware would give BAR 0 (the guest may move it).
  static Result<std::shared_ptr<PciTransport>> create(std::shared_ptr<VirtioDevice> device, std::shared_ptr<VmServices> vm,
                                                      const GuestMemory& mem, uint64_t bar0);
  ~PciTransport() override;

  // PciDevice: configuration space.
  void config_read(uint32_t offset, std::span<uint8_t> data) override;
  void config_write(uint32_t offset, std::span<const uint8_t> data) override;
  // BusDevice: BAR 0.
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  std::string name() const override { return device_->name(); }
  // Resets the device (its backend stops), then unmaps BAR 0 and its doorbells; interrupts go with
  // the last reference.
  void unplug() override;

  uint8_t status() const;
  std::optional<uint64_t> bar0() const;
  VirtioDevice& device() { return *device_; }

 private:
  struct Queue {
    uint16_t size = 0;
    uint16_t vector = kMsixNoVector;
    bool enabled = false;
    uint64_t desc = 0, driver = 0, device = 0;
    UniqueFd kick;
  };
  PciTransport(std::shared_ptr<VirtioDevice> device, std::shared_ptr<VmServices> vm, const GuestMemory& mem);

  void common_read(uint64_t offset, std::span<uint8_t> data);
  void common_write(uint64_t offset, std::span<const uint8_t> data);
  void set_status(uint8_t status);
  void reset_locked();
  void move_doorbells(std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr);
  void signal_config();
  void log(const std::string& what) const;

  std::shared_ptr<VirtioDevice> device_;
  std::shared_ptr<VmServices> vm_;  // shared: whoever drops the last reference to this device
  const GuestMemory& mem_;
  PciFunction fn_;  // config space, MSI-X, BAR 0's MMIO (under mu_)

  mutable std::mutex mu_;
  std::vector<Queue> queues_;
  uint32_t device_feature_select_ = 0;
  uint32_t driver_feature_select_ = 0;
  uint64_t driver_features_ = 0;
  uint16_t queue_select_ = 0;
  uint8_t config_generation_ = 0;
  // Also touched by device threads through the hooks, without mu_.
  std::atomic<uint16_t> config_vector_{kMsixNoVector};
  std::atomic<uint8_t> status_{0};
  std::atomic<uint8_t> isr_{0};
};

}  // namespace tandem::virtio
