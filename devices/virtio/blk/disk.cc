// devices/virtio/blk/disk.cc: Disk::open, see disk.h.
#include "devices/virtio/blk/disk.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tandem::virtio::blk {

Result<Disk> Disk::open(const DiskConfig& cfg) {
  const std::string what = "disk " + cfg.path;
  if (cfg.path.empty()) return Error{"disk: no image file given (path=FILE)"};
  // O_NONBLOCK: a FIFO must be refused, not waited on (cleared below for what is kept).
  int fd = ::open(cfg.path.c_str(), (cfg.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0 && errno == EISDIR) return Error{what + ": is a directory"};
  if (fd < 0) return errno_error(what + ": cannot open it " + (cfg.read_only ? "for reading" : "for reading and writing"));
  UniqueFd owned(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error(what + ": fstat");
  uint64_t size = 0;
  bool punch = false;
  if (S_ISREG(st.st_mode)) {
    size = static_cast<uint64_t>(st.st_size);
    // A punch past the end of the file tells whether the file system has holes, changing nothing.
    off_t past = static_cast<off_t>((size + 4095) / 4096 * 4096 + 4096);
    punch = !cfg.read_only && ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, past, 4096) == 0;
  } else if (S_ISBLK(st.st_mode)) {
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) return errno_error(what + ": BLKGETSIZE64");
  } else {
    return Error{what + ": " + (S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file or a block device")};
  }
  // One writer or many readers (open file description locks, as QEMU and Cloud Hypervisor take):
  // two VMs, or two disks of one VM, writing one image would corrupt it.
  struct flock lock {};
  lock.l_type = cfg.read_only ? F_RDLCK : F_WRLCK;
  lock.l_whence = SEEK_SET;  // l_start 0, l_len 0: the whole file
  if (::fcntl(fd, F_OFD_SETLK, &lock) != 0) {
    if (errno == EAGAIN || errno == EACCES)
      return Error{what + ": in use: another disk or process has it open" + (cfg.read_only ? " for writing" : "")};
    return errno_error(what + ": F_OFD_SETLK");
  }
  if (::fcntl(fd, F_SETFL, 0) != 0) return errno_error(what + ": fcntl");
  if (size < 512) return Error{what + ": the image is " + std::to_string(size) + " bytes, less than one 512-byte sector"};
  return Disk(std::move(owned), size, cfg, punch);
}

}  // namespace tandem::virtio::blk
