// devices/virtio/device.h: what a virtio device implements, whatever transport carries it.
//
// The transport (devices/virtio/pci_transport.h) owns feature negotiation, status, the queue
// registers, doorbells and interrupts. A device offers features, a config space and a number of
// queues; on DRIVER_OK it is activated with the negotiated features and, per queue, the ring
// addresses, the eventfd the guest's doorbell signals and the eventfd that raises the queue's
// interrupt. reset() is synchronous: when it returns the device no longer touches guest memory.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "devices/virtio/queue.h"
#include "memory/guest_memory.h"

namespace tandem::virtio {

constexpr uint64_t kFVersion1 = 1ULL << 32;
constexpr uint64_t kFRingIndirectDesc = 1ULL << 28;
constexpr uint64_t kFRingEventIdx = 1ULL << 29;

// Device status bits (virtio 1.x, 2.1).
constexpr uint8_t kStatusAcknowledge = 1;
constexpr uint8_t kStatusDriver = 2;
constexpr uint8_t kStatusDriverOk = 4;
constexpr uint8_t kStatusFeaturesOk = 8;
constexpr uint8_t kStatusNeedsReset = 0x40;
constexpr uint8_t kStatusFailed = 0x80;

struct ActiveQueue {
  uint16_t index = 0;
  QueueConfig config;
  int kick_fd = -1;  // signalled by the guest's doorbell write (an ioeventfd)
  int call_fd = -1;  // writing it raises the queue's MSI-X vector; -1: the driver asked for none
};

// What a device may do to its transport at run time.
struct TransportHooks {
  std::function<void()> config_changed;  // config space changed (e.g. link status): interrupt
  std::function<void(const std::string&)> needs_reset;  // the device gave up: NEEDS_RESET, with why
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;
  virtual uint32_t device_id() const = 0;  // 1: network card
  virtual std::string name() const = 0;    // "virtio-net 00:02.0 (tap tp0)" and the like
  virtual uint64_t features() const = 0;   // offered
  virtual uint16_t num_queues() const = 0;
  virtual uint16_t max_queue_size() const = 0;
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) = 0;
  virtual void set_hooks(TransportHooks hooks) = 0;
  // DRIVER_OK: start moving data on these queues (only those the driver enabled are given).
  virtual Status activate(const GuestMemory& mem, uint64_t features, std::vector<ActiveQueue> queues) = 0;
  virtual void reset() = 0;
};

}  // namespace tandem::virtio
