// devices/virtio/blk/request.cc: parse(), see request.h.
#include "devices/virtio/blk/request.h"

#include <algorithm>
#include <array>

#include "base/le.h"

namespace tandem::virtio::blk {

namespace {

// The chain as two byte streams: what the device reads, and what it writes minus the status byte.
struct Streams {
  std::vector<Buffer> readable, writable;
  uint64_t readable_bytes = 0, writable_bytes = 0;
};

Streams split(const Chain& chain) {
  Streams s;
  for (size_t i = 0; i < chain.buffers.size(); ++i) {
    Buffer b = chain.buffers[i];
    if (i + 1 == chain.buffers.size()) b.len -= 1;  // the status byte
    if (b.len == 0) continue;
    if (b.writable) {
      s.writable.push_back(b);
      s.writable_bytes += b.len;
    } else {
      s.readable.push_back(b);
      s.readable_bytes += b.len;
    }
  }
  return s;
}

// Bytes [skip, skip + out.size()) of a stream.
Status gather(const GuestMemory& mem, const std::vector<Buffer>& bufs, uint64_t skip, std::span<uint8_t> out) {
  size_t done = 0;
  for (const auto& b : bufs) {
    if (done == out.size()) break;
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    size_t n = std::min<uint64_t>(b.len - skip, out.size() - done);
    TANDEM_TRY(mem.read(b.gpa + skip, out.subspan(done, n)));
    done += n;
    skip = 0;
  }
  if (done != out.size()) return Error{"stream shorter than expected"};
  return {};
}

// Host spans over a stream from byte `skip` on, at most `max_spans` of them.
Result<std::vector<std::span<uint8_t>>> spans(const GuestMemory& mem, const std::vector<Buffer>& bufs, uint64_t skip,
                                              uint32_t max_spans) {
  std::vector<std::span<uint8_t>> out;
  for (const auto& b : bufs) {
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    if (out.size() == max_spans) return Error{"more than " + std::to_string(max_spans) + " data segments (seg_max)"};
    auto s = mem.slice(b.gpa + skip, b.len - skip);
    if (!s) return s.error();
    out.push_back(*s);
    skip = 0;
  }
  return out;
}

Request answer(Request r, uint8_t status, std::string why) {
  r.status = status;
  r.why = std::move(why);
  r.data.clear();
  r.ranges.clear();
  return r;
}

// Sectors [sector, sector + count) inside the disk, without overflow.
bool inside(const Limits& l, uint64_t sector, uint64_t count) {
  return sector <= l.capacity_sectors && count <= l.capacity_sectors - sector;
}

Request parse_rw(const GuestMemory& mem, const Streams& s, Request r, uint64_t sector, const Limits& l) {
  bool in = r.type == kTypeIn;
  if (!in && l.read_only) return answer(std::move(r), kStatusIoErr, "write to a read-only disk");
  if (in ? s.readable_bytes != kHeaderBytes : s.writable_bytes != 0)
    return answer(std::move(r), kStatusIoErr, in ? "read request with device-readable data" : "write request with device-writable data");
  r.length = in ? s.writable_bytes : s.readable_bytes - kHeaderBytes;
  if (r.length % kSectorSize) return answer(std::move(r), kStatusIoErr, "data of " + std::to_string(r.length) + " bytes, not whole sectors");
  if (!inside(l, sector, r.length / kSectorSize))
    return answer(std::move(r), kStatusIoErr,
                  "sectors " + std::to_string(sector) + "+" + std::to_string(r.length / kSectorSize) + " past the disk's " +
                      std::to_string(l.capacity_sectors));
  auto data = in ? spans(mem, s.writable, 0, l.seg_max) : spans(mem, s.readable, kHeaderBytes, l.seg_max);
  if (!data) return answer(std::move(r), kStatusIoErr, data.message());
  r.data = std::move(data).value();
  r.offset = sector * kSectorSize;
  return r;
}

Request parse_ranges(const GuestMemory& mem, const Streams& s, Request r, const Limits& l) {
  bool zeroes = r.type == kTypeWriteZeroes;
  uint32_t max_sectors = zeroes ? l.max_write_zeroes_sectors : l.max_discard_sectors;
  if (max_sectors == 0) return answer(std::move(r), kStatusUnsupp, zeroes ? "WRITE_ZEROES not offered" : "DISCARD not offered");
  if (l.read_only) return answer(std::move(r), kStatusIoErr, "discard or write-zeroes on a read-only disk");
  uint64_t bytes = s.readable_bytes - kHeaderBytes;
  if (bytes == 0 || bytes % kRangeBytes || bytes / kRangeBytes > l.max_ranges)
    return answer(std::move(r), kStatusIoErr, "segment list of " + std::to_string(bytes) + " bytes");
  for (uint64_t i = 0; i < bytes / kRangeBytes; ++i) {
    std::array<uint8_t, kRangeBytes> seg;
    if (auto st = gather(mem, s.readable, kHeaderBytes + i * kRangeBytes, seg); !st) return answer(std::move(r), kStatusIoErr, st.message());
    uint64_t sector = *load_le<uint64_t>(seg, 0);
    uint32_t count = *load_le<uint32_t>(seg, 8), flags = *load_le<uint32_t>(seg, 12);
    if (flags & ~(zeroes ? kWriteZeroesUnmap : 0u)) return answer(std::move(r), kStatusUnsupp, "segment flags " + std::to_string(flags));
    if (count > max_sectors || !inside(l, sector, count)) return answer(std::move(r), kStatusIoErr, "segment past the disk or too long");
    r.ranges.push_back({sector * kSectorSize, uint64_t{count} * kSectorSize, (flags & kWriteZeroesUnmap) != 0});
  }
  return r;
}

}  // namespace

Result<Request> parse(const GuestMemory& mem, const Chain& chain, const Limits& limits) {
  if (chain.buffers.empty() || !chain.buffers.back().writable || chain.buffers.back().len == 0)
    return Error{"chain without a status byte (its last buffer must be device-writable)"};
  const Buffer& last = chain.buffers.back();
  Request r;
  r.status_gpa = last.gpa + last.len - 1;
  Streams s = split(chain);
  std::array<uint8_t, kHeaderBytes> h;
  if (s.readable_bytes < kHeaderBytes || !gather(mem, s.readable, 0, h))
    return answer(std::move(r), kStatusIoErr, "header of " + std::to_string(s.readable_bytes) + " bytes");
  r.type = *load_le<uint32_t>(h, 0);
  uint64_t sector = *load_le<uint64_t>(h, 8);
  switch (r.type) {
    case kTypeIn:
    case kTypeOut:
      return parse_rw(mem, s, std::move(r), sector, limits);
    case kTypeFlush:
      return r;
    case kTypeGetId: {
      auto data = spans(mem, s.writable, 0, limits.seg_max);
      if (!data) return answer(std::move(r), kStatusIoErr, data.message());
      r.data = std::move(data).value();
      r.length = s.writable_bytes;
      return r;
    }
    case kTypeDiscard:
    case kTypeWriteZeroes:
      return parse_ranges(mem, s, std::move(r), limits);
    default:
      return answer(std::move(r), kStatusUnsupp, "request type " + std::to_string(r.type));
  }
}

}  // namespace tandem::virtio::blk
