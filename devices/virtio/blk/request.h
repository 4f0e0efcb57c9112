// devices/virtio/blk/request.h: one virtio-blk request (virtio 1.2 §5.2.6) from a descriptor chain,
// checked against the disk before any I/O.
//
// The chain is [header (16 readable bytes: type, reserved, sector) | data | status (1 writable
// byte, the chain's last)], in any framing. parse() hands back either a request to carry out,
// whose data are host spans over guest memory (IN: writable, OUT: readable) and whose byte ranges
// lie inside the disk, or a status to answer at once (IOERR for a bad sector, length, segment count
// or a write to a read-only disk; UNSUPP for an unknown type or flags). It is an Error only when the
// chain has no status byte to answer in: the device then returns the chain with nothing written.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "devices/virtio/queue.h"
#include "memory/guest_memory.h"

namespace tandem::virtio::blk {

// Request types and statuses (virtio 1.2 §5.2.6).
constexpr uint32_t kTypeIn = 0;
constexpr uint32_t kTypeOut = 1;
constexpr uint32_t kTypeFlush = 4;
constexpr uint32_t kTypeGetId = 8;
constexpr uint32_t kTypeDiscard = 11;
constexpr uint32_t kTypeWriteZeroes = 13;
constexpr uint8_t kStatusOk = 0;
constexpr uint8_t kStatusIoErr = 1;
constexpr uint8_t kStatusUnsupp = 2;

constexpr uint64_t kSectorSize = 512;
constexpr uint32_t kIdBytes = 20;        // GET_ID: the serial, zero-padded, not NUL-terminated
constexpr uint32_t kHeaderBytes = 16;
constexpr uint32_t kRangeBytes = 16;     // a DISCARD / WRITE_ZEROES segment
constexpr uint32_t kWriteZeroesUnmap = 1;

// What the disk allows; a request outside it is answered with a status.
struct Limits {
  uint64_t capacity_sectors = 0;
  bool read_only = false;
  uint32_t seg_max = 128;              // data buffers of one IN/OUT request
  uint32_t max_discard_sectors = 0;    // 0: DISCARD not offered
  uint32_t max_write_zeroes_sectors = 0;  // 0: WRITE_ZEROES not offered
  uint32_t max_ranges = 1;             // segments of one DISCARD / WRITE_ZEROES
};

// A byte range of the disk for DISCARD / WRITE_ZEROES.
struct Range {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool unmap = false;
};

struct Request {
  uint32_t type = 0;
  uint64_t offset = 0;                   // IN/OUT: byte offset in the disk
  uint64_t length = 0;                   // IN/OUT: bytes; GET_ID: room the driver gave
  std::vector<std::span<uint8_t>> data;  // IN/OUT/GET_ID: the guest's buffers, in order
  std::vector<Range> ranges;             // DISCARD / WRITE_ZEROES
  uint64_t status_gpa = 0;               // where the status byte goes
  uint8_t status = kStatusOk;            // not Ok: answer with it at once, no I/O
  std::string why;                       // what was wrong, when status is not Ok
};

Result<Request> parse(const GuestMemory& mem, const Chain& chain, const Limits& limits);

}  // namespace tandem::virtio::blk
