// devices/virtio/blk/disk.h: a raw disk image file for virtio-blk, opened and checked.
//
// Disk::open refuses, with one line naming the file and the problem: a path that does not exist or
// cannot be opened (read-write unless read_only), a directory or anything else that is not a
// regular file or a block device, and an image smaller than one 512-byte sector. The capacity is
// the size in whole sectors (a partial last sector is not used). The fd is opened O_CLOEXEC and
// owned by the Disk.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace tandem::virtio::blk {

struct DiskConfig {
  std::string path;
  bool read_only = false;
  std::string serial;  // GET_ID (at most 20 bytes are sent); empty: none
};

class Disk {
 public:
  static Result<Disk> open(const DiskConfig& cfg);

  int fd() const { return fd_.get(); }
  uint64_t size() const { return size_; }
  uint64_t capacity_sectors() const { return size_ / 512; }
  const DiskConfig& config() const { return cfg_; }
  // Whether hole punching works on the file (DISCARD and WRITE_ZEROES are offered only then).
  bool can_punch_holes() const { return punch_; }

 private:
  Disk(UniqueFd fd, uint64_t size, DiskConfig cfg, bool punch) : fd_(std::move(fd)), size_(size), cfg_(std::move(cfg)), punch_(punch) {}
  UniqueFd fd_;
  uint64_t size_ = 0;
  DiskConfig cfg_;
  bool punch_ = false;
};

}  // namespace tandem::virtio::blk
