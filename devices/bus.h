// devices/bus.h: the one interface every device sits behind, and the bus that dispatches to it.
//
// A BusDevice answers reads and writes at an offset inside its own range, with the access width
// given by the span's size (1, 2, 4 or 8 bytes). A Bus maps address ranges (port I/O or MMIO) to
// devices; vCPU exits dispatch through it. An access that hits no device reads all-ones and is
// logged at debug level: the guest keeps running.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>

#include "base/result.h"

namespace tandem {

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
  // A short name for logs ("serial", "i8042", "pci 00:02.0").
  virtual std::string name() const = 0;
};

class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}

  // Maps [base, base+len) to `device`. Error if the range is empty, wraps, or overlaps another.
  Status insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len);
  // Removes the range starting at `base`. Error if none starts there.
  Status remove(uint64_t base);

  // Dispatch an access; false (and all-ones for a read) when no device covers it.
  bool read(uint64_t addr, std::span<uint8_t> data) const;
  bool write(uint64_t addr, std::span<const uint8_t> data) const;

  const std::string& name() const { return name_; }
  // Unclaimed accesses so far (reads and writes), for tests and debug output.
  uint64_t unclaimed() const { return unclaimed_; }

 private:
  struct Entry {
    uint64_t len;
    std::shared_ptr<BusDevice> device;
  };
  // The device and offset covering [addr, addr+size), or null.
  std::shared_ptr<BusDevice> find(uint64_t addr, uint64_t size, uint64_t* offset) const;

  std::string name_;
  mutable std::shared_mutex mu_;
  std::map<uint64_t, Entry> ranges_;
  mutable uint64_t unclaimed_ = 0;
};


}  // namespace tandem
