// devices/virtio/blk/request_test.cc: virtio-blk request parsing, good requests and every refusal.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "devices/virtio/blk/request.h"

using namespace tandem;
using namespace tandem::virtio;
using namespace tandem::virtio::blk;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

struct Fixture {
  GuestMemory mem = std::move(GuestMemory::create({{0, 4 * kMiB}})).value();
  Limits limits{.capacity_sectors = 2048, .read_only = false, .seg_max = 4, .max_discard_sectors = 1024,
                .max_write_zeroes_sectors = 1024, .max_ranges = 2};

  // A header at gpa 0x1000.
  Buffer header(uint32_t type, uint64_t sector, uint32_t len = kHeaderBytes) {
    uint8_t h[16] = {};
    std::memcpy(h, &type, 4);
    std::memcpy(h + 8, &sector, 8);
    REQUIRE(mem.write(0x1000, h));
    return {0x1000, len, false};
  }
  static Buffer status() { return {0x2000, 1, true}; }
  Result<Request> parse(std::vector<Buffer> bufs) {
    Chain c;
    c.buffers = std::move(bufs);
    return blk::parse(mem, c, limits);
  }
};

}  // namespace

TEST_CASE("read: data spans over the guest's writable buffers, inside the disk") {
  Fixture f;
  auto r = f.parse({f.header(kTypeIn, 8), {0x10000, 4096, true}, {0x20000, 512, true}, Fixture::status()});
  REQUIRE(r.ok());
  CHECK(r->status == kStatusOk);
  CHECK(r->offset == 8 * 512);
  CHECK(r->length == 4608);
  REQUIRE(r->data.size() == 2);
  CHECK(r->data[1].size() == 512);
  CHECK(r->status_gpa == 0x2000);
}

TEST_CASE("write: the header and the data may share a buffer; the status byte may end a data buffer") {
  Fixture f;
  auto r = f.parse({f.header(kTypeOut, 0, 16 + 1024), {0x30000, 1, true}});
  REQUIRE(r.ok());
  CHECK(r->status == kStatusOk);
  CHECK(r->length == 1024);
  REQUIRE(r->data.size() == 1);
  CHECK(r->data[0].data() == f.mem.slice(0x1010, 1).value().data());
  CHECK(r->status_gpa == 0x30000);
}

TEST_CASE("bad requests get a status, never I/O outside the disk") {
  Fixture f;
  auto status_of = [&](std::vector<Buffer> b) {
    auto r = f.parse(std::move(b));
    REQUIRE(r.ok());
    return r->status;
  };
  CHECK(status_of({f.header(kTypeIn, 2047), {0x10000, 1024, true}, Fixture::status()}) == kStatusIoErr);  // past the end
  CHECK(status_of({f.header(kTypeIn, 2046), {0x10000, 1024, true}, Fixture::status()}) == kStatusOk);     // exactly to it
  CHECK(status_of({f.header(kTypeIn, ~0ULL), {0x10000, 512, true}, Fixture::status()}) == kStatusIoErr);  // overflow
  CHECK(status_of({f.header(kTypeIn, 0), {0x10000, 100, true}, Fixture::status()}) == kStatusIoErr);      // not sectors
  CHECK(status_of({f.header(kTypeIn, 0, 8), Fixture::status()}) == kStatusIoErr);                         // short header
  CHECK(status_of({f.header(99, 0), Fixture::status()}) == kStatusUnsupp);
  std::vector<Buffer> many{f.header(kTypeIn, 0)};
  for (int i = 0; i < 5; ++i) many.push_back({0x10000 + 0x1000 * uint64_t(i), 512, true});
  many.push_back(Fixture::status());
  CHECK(status_of(many) == kStatusIoErr);  // more than seg_max
  f.limits.read_only = true;
  CHECK(status_of({f.header(kTypeOut, 0, 16 + 512), Fixture::status()}) == kStatusIoErr);
  CHECK(status_of({f.header(kTypeIn, 0), {0x10000, 512, true}, Fixture::status()}) == kStatusOk);
}

TEST_CASE("a chain whose last buffer is not writable has no status byte: an Error") {
  Fixture f;
  CHECK_FALSE(f.parse({f.header(kTypeFlush, 0)}).ok());
  CHECK_FALSE(f.parse({}).ok());
}

TEST_CASE("discard and write-zeroes: segments checked, flags checked, offered or not") {
  Fixture f;
  uint8_t seg[32] = {};
  uint64_t sector = 100;
  uint32_t count = 8, flags = kWriteZeroesUnmap;
  std::memcpy(seg, &sector, 8);
  std::memcpy(seg + 8, &count, 4);
  std::memcpy(seg + 12, &flags, 4);
  REQUIRE(f.mem.write(0x5000, seg));
  auto zeroes = f.parse({f.header(kTypeWriteZeroes, 0), {0x5000, 16, false}, Fixture::status()});
  REQUIRE(zeroes.ok());
  CHECK(zeroes->status == kStatusOk);
  REQUIRE(zeroes->ranges.size() == 1);
  CHECK(zeroes->ranges[0].offset == 100 * 512);
  CHECK(zeroes->ranges[0].length == 8 * 512);
  CHECK(zeroes->ranges[0].unmap);
  auto discard = f.parse({f.header(kTypeDiscard, 0), {0x5000, 16, false}, Fixture::status()});
  CHECK(discard->status == kStatusUnsupp);  // the unmap flag is not for DISCARD
  CHECK(f.parse({f.header(kTypeDiscard, 0), {0x5000, 12, false}, Fixture::status()})->status == kStatusIoErr);
  CHECK(f.parse({f.header(kTypeDiscard, 0), {0x5000, 48, false}, Fixture::status()})->status == kStatusIoErr);  // > max_ranges
  f.limits.max_discard_sectors = 0;
  CHECK(f.parse({f.header(kTypeDiscard, 0), {0x5000, 16, false}, Fixture::status()})->status == kStatusUnsupp);
}

TEST_CASE("get-id: room for the serial in the writable data") {
  Fixture f;
  auto r = f.parse({f.header(kTypeGetId, 0), {0x6000, 20, true}, Fixture::status()});
  REQUIRE(r.ok());
  CHECK(r->status == kStatusOk);
  CHECK(r->length == 20);
}
