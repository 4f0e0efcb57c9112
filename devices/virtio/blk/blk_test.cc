// devices/virtio/blk/blk_test.cc: the virtio-blk device end to end without a VM: a driver's ring in
// guest memory, a real image file, io_uring, the kick and call eventfds.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/eventfd.h"
#include "devices/virtio/blk/blk.h"

using namespace tandem;
using namespace tandem::virtio;
using namespace tandem::virtio::blk;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint16_t kSize = 16;
constexpr uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000, kHdrs = 0x10000, kData = 0x100000;

struct TempImage {
  std::string path;
  explicit TempImage(uint64_t size) {
    char t[] = "/tmp/blk_test.XXXXXX";
    int fd = mkstemp(t);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, static_cast<off_t>(size)) == 0);
    close(fd);
    path = t;
  }
  ~TempImage() { unlink(path.c_str()); }
};

// The driver's side: posts requests as [header | data | status] chains and waits for them.
struct Driver {
  GuestMemory mem = std::move(GuestMemory::create({{0, 4 * kMiB}})).value();
  UniqueFd kick{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)}, call{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  uint16_t avail = 0, used_seen = 0, next_desc = 0;

  ActiveQueue queue() const { return {0, {kSize, kDesc, kAvail, kUsed, false}, kick.get(), call.get()}; }
  uint16_t desc(uint64_t gpa, uint32_t len, uint16_t flags) {
    uint16_t i = next_desc++ % kSize;
    uint64_t at = kDesc + 16ULL * i;
    REQUIRE(mem.write_le<uint64_t>(at, gpa).ok());
    REQUIRE(mem.write_le<uint32_t>(at + 8, len).ok());
    REQUIRE(mem.write_le<uint16_t>(at + 12, flags).ok());
    REQUIRE(mem.write_le<uint16_t>(at + 14, static_cast<uint16_t>((i + 1) % kSize)).ok());
    return i;
  }
  // Posts one request; data_len bytes at kData + slot * 64 KiB; returns the head.
  uint16_t post(uint32_t type, uint64_t sector, uint32_t data_len, bool data_writable, int slot = 0) {
    uint64_t hdr = kHdrs + 64ULL * slot, data = kData + 0x10000ULL * slot;
    REQUIRE(mem.write_le<uint32_t>(hdr, type).ok());
    REQUIRE(mem.write_le<uint64_t>(hdr + 8, sector).ok());
    REQUIRE(mem.write_le<uint8_t>(hdr + 16, 0xff).ok());  // status, before the device answers
    uint16_t head = desc(hdr, 16, kDescFlagNext);
    if (data_len) desc(data, data_len, kDescFlagNext | (data_writable ? kDescFlagWrite : 0));
    desc(hdr + 16, 1, kDescFlagWrite);
    REQUIRE(mem.write_le<uint16_t>(kAvail + 4 + 2ULL * (avail % kSize), head).ok());
    ++avail;
    REQUIRE(mem.write_le<uint16_t>(kAvail + 2, avail).ok());
    signal_eventfd(kick.get());
    return head;
  }
  uint8_t status(int slot = 0) { return mem.read_le<uint8_t>(kHdrs + 64ULL * slot + 16).value(); }
  // Waits until used.idx reaches `want` (the call eventfd, up to 5 s).
  bool wait_used(uint16_t want) {
    for (int i = 0; i < 50; ++i) {
      if (mem.read_le<uint16_t>(kUsed + 2).value() == want) return true;
      pollfd p{call.get(), POLLIN, 0};
      poll(&p, 1, 100);
      drain_eventfd(call.get());
    }
    return mem.read_le<uint16_t>(kUsed + 2).value() == want;
  }
};

}  // namespace

TEST_CASE("write, flush and read back through io_uring; the file holds the bytes") {
  TempImage img(1 * kMiB);
  auto disk = Disk::open({img.path, false, "tandem-disk-0"});
  REQUIRE(disk.ok());
  Blk blk(std::move(disk).value());
  Driver d;
  REQUIRE(blk.activate(d.mem, blk.features(), {d.queue()}).ok());

  std::vector<uint8_t> pattern(4096);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 7);
  REQUIRE(d.mem.write(kData, pattern).ok());
  d.post(kTypeOut, 16, 4096, false);
  REQUIRE(d.wait_used(1));
  CHECK(d.status() == kStatusOk);
  d.post(kTypeFlush, 0, 0, false);
  REQUIRE(d.wait_used(2));
  CHECK(d.status() == kStatusOk);

  std::vector<uint8_t> file(4096);
  FILE* f = std::fopen(img.path.c_str(), "rb");
  REQUIRE(f);
  std::fseek(f, 16 * 512, SEEK_SET);
  CHECK(std::fread(file.data(), 1, file.size(), f) == file.size());
  std::fclose(f);
  CHECK(file == pattern);

  d.post(kTypeIn, 16, 4096, true, 1);
  REQUIRE(d.wait_used(3));
  CHECK(d.status(1) == kStatusOk);
  std::vector<uint8_t> back(4096);
  REQUIRE(d.mem.read(kData + 0x10000, back).ok());
  CHECK(back == pattern);
  CHECK(d.mem.read_le<uint32_t>(kUsed + 4 + 8 * 2 + 4).value() == 4096 + 1);  // data and status written
  blk.reset();
}

TEST_CASE("bad requests are answered, the file untouched; GET_ID gives the serial") {
  TempImage img(64 * 1024);
  Blk blk(std::move(Disk::open({img.path, false, "serial-7"})).value());
  Driver d;
  REQUIRE(blk.activate(d.mem, blk.features(), {d.queue()}).ok());
  d.post(kTypeOut, 127, 1024, false);  // runs past the 128-sector image
  REQUIRE(d.wait_used(1));
  CHECK(d.status() == kStatusIoErr);
  struct stat st {};
  REQUIRE(stat(img.path.c_str(), &st) == 0);
  CHECK(st.st_size == 64 * 1024);
  CHECK(st.st_blocks == 0);  // nothing was written

  d.post(kTypeGetId, 0, 20, true, 1);
  REQUIRE(d.wait_used(2));
  CHECK(d.status(1) == kStatusOk);
  std::vector<uint8_t> id(20);
  REQUIRE(d.mem.read(kData + 0x10000, id).ok());
  CHECK(std::string(id.begin(), id.begin() + 8) == "serial-7");
  CHECK(id[8] == 0);

  d.post(42, 0, 0, false, 2);
  REQUIRE(d.wait_used(3));
  CHECK(d.status(2) == kStatusUnsupp);
}

TEST_CASE("a read-only disk offers RO and refuses writes") {
  TempImage img(64 * 1024);
  Blk blk(std::move(Disk::open({img.path, true, ""})).value());
  CHECK((blk.features() & kFRo) != 0);
  CHECK((blk.features() & kFDiscard) == 0);
  Driver d;
  REQUIRE(blk.activate(d.mem, blk.features(), {d.queue()}).ok());
  d.post(kTypeOut, 0, 512, false);
  REQUIRE(d.wait_used(1));
  CHECK(d.status() == kStatusIoErr);
}

TEST_CASE("the config space: capacity, seg_max, blk_size") {
  TempImage img(1 * kMiB + 100);  // a partial last sector is not used
  Blk blk(std::move(Disk::open({img.path, false, ""})).value());
  std::vector<uint8_t> c(60);
  blk.read_config(0, c);
  CHECK(load_le<uint64_t>(c, 0).value() == 2048);
  CHECK(load_le<uint32_t>(c, 12).value() == kSegMax);
  CHECK(load_le<uint32_t>(c, 20).value() == 512);
}

TEST_CASE("Disk::open refuses what cannot be a disk, naming it") {
  CHECK(Disk::open({"", false, ""}).message().find("no image file") != std::string::npos);
  CHECK(Disk::open({"/nonexistent/disk.img", false, ""}).message().find("/nonexistent/disk.img") != std::string::npos);
  CHECK(Disk::open({"/tmp", false, ""}).message().find("is a directory") != std::string::npos);
  TempImage empty(0);
  CHECK(Disk::open({empty.path, false, ""}).message().find("less than one 512-byte sector") != std::string::npos);
}

TEST_CASE("an image is opened by one writer or by readers, never both") {
  TempImage img(64 * 1024);
  {
    auto rw = Disk::open({img.path, false, ""});
    REQUIRE(rw.ok());
    CHECK(Disk::open({img.path, false, ""}).message().find("in use") != std::string::npos);
    CHECK(Disk::open({img.path, true, ""}).message().find("in use: another disk or process has it open for writing") != std::string::npos);
  }
  auto ro1 = Disk::open({img.path, true, ""});
  auto ro2 = Disk::open({img.path, true, ""});
  CHECK(ro1.ok());
  CHECK(ro2.ok());
  CHECK_FALSE(Disk::open({img.path, false, ""}).ok());
}

TEST_CASE("WRITE_ZEROES: zeroes either way; with unmap a hole, without it the blocks stay; an empty range is done") {
  TempImage img(1 * kMiB);
  Blk blk(std::move(Disk::open({img.path, false, ""})).value());
  Driver d;
  REQUIRE(blk.activate(d.mem, blk.features(), {d.queue()}).ok());
  auto blocks = [&] {
    struct stat st {};
    REQUIRE(stat(img.path.c_str(), &st) == 0);
    return st.st_blocks;
  };
  auto zeroes = [&](uint64_t sector, uint32_t count, uint32_t flags, int slot) {
    uint64_t seg = kData + 0x10000ULL * slot;
    REQUIRE(d.mem.write_le<uint64_t>(seg, sector).ok());
    REQUIRE(d.mem.write_le<uint32_t>(seg + 8, count).ok());
    REQUIRE(d.mem.write_le<uint32_t>(seg + 12, flags).ok());
    d.post(kTypeWriteZeroes, 0, 16, false, slot);
  };
  std::vector<uint8_t> ones(64 * 1024, 0xff);
  REQUIRE(d.mem.write(kData, ones).ok());
  d.post(kTypeOut, 0, 64 * 1024, false);  // sectors 0-127
  d.post(kTypeFlush, 0, 0, false, 1);
  REQUIRE(d.wait_used(2));
  const auto full = blocks();
  REQUIRE(full >= 128);

  zeroes(0, 64, 0, 2);  // the first 32 KiB, no unmap: still allocated
  REQUIRE(d.wait_used(3));
  CHECK(d.status(2) == kStatusOk);
  CHECK(blocks() == full);
  zeroes(64, 64, 1, 3);  // the next 32 KiB, unmap: a hole
  REQUIRE(d.wait_used(4));
  CHECK(d.status(3) == kStatusOk);
  CHECK(blocks() < full);
  zeroes(200, 0, 0, 4);  // nothing to zero: done at once
  REQUIRE(d.wait_used(5));
  CHECK(d.status(4) == kStatusOk);

  std::vector<uint8_t> file(64 * 1024, 0x55);
  FILE* f = std::fopen(img.path.c_str(), "rb");
  REQUIRE(f);
  CHECK(std::fread(file.data(), 1, file.size(), f) == file.size());
  std::fclose(f);
  CHECK(file == std::vector<uint8_t>(64 * 1024, 0));
  blk.reset();
}
