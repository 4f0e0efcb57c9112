// devices/vhost_pci/link_protocol.h: the link between the two tandems of a symmetric (2.1)
// vhost-pci-net pair (docs/vhost-pci-net.md §9.5): message framing and codec.
//
// A message is a 16-byte header {type u32, size u32, reserved u64 = 0}, little-endian, then `size`
// payload bytes, with file descriptors as SCM_RIGHTS. Each side sends one HELLO with its output
// section (a memfd) and its two doorbell eventfds (data, space); BYE ends the link. Decoding reads
// every field one by one after the size check and refuses (an Error naming the message and field):
// unknown types, a size other than the type's, non-zero reserved bits, a version other than ours,
// section sizes that are not a power of two from 1 to 64 MiB, and a wrong number of fds. What the
// fds really are (a memory file large enough, eventfds) is checked by check_hello_fds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace tandem::vhost_pci::link {

inline constexpr size_t kHeaderSize = 16;
inline constexpr uint32_t kVersion = 0x00020001;
inline constexpr uint64_t kMinSectionSize = 1ull << 20;
inline constexpr uint64_t kMaxSectionSize = 64ull << 20;
inline constexpr uint64_t kDefaultSectionSize = 4ull << 20;

enum class Type : uint32_t { kHello = 1, kBye = 2 };

inline constexpr size_t kHelloPayloadSize = 16;  // version u32, section_size u32, features u64
inline constexpr size_t kHelloFdCount = 3;       // output section memfd, data eventfd, space eventfd

struct Hello {
  uint32_t version = kVersion;
  uint32_t section_size = 0;
  uint64_t features = 0;  // none defined yet: must be 0
};

struct Message {
  Type type = Type::kBye;
  Hello hello;                // kHello only
  std::vector<UniqueFd> fds;  // kHello: memfd, data eventfd, space eventfd, in that order
};

// A section size tandem accepts: a power of two from 1 MiB to 64 MiB.
Result<void> check_section_size(uint64_t bytes);

// The payload size a header announces, after checking the header itself (type, size, reserved).
Result<uint32_t> decode_header(std::span<const uint8_t> header);

// Wire bytes (header + payload) for a HELLO (checked as the decoder would) and for BYE.
Result<std::vector<uint8_t>> encode_hello(const Hello& hello);
std::vector<uint8_t> encode_bye();

// One whole message: `wire` is exactly the header and its payload, `fds` what came with it.
Result<Message> decode(std::span<const uint8_t> wire, std::vector<UniqueFd> fds);

// HELLO's fds are what they claim: a regular (memory) file of at least section_size bytes, then
// two eventfds.
Result<void> check_hello_fds(const Message& hello);

// Whether the peer's HELLO matches ours (the same section size: both sides map both sections at
// consecutive addresses of that size).
Result<void> check_compatible(const Hello& ours, const Hello& theirs);

}  // namespace tandem::vhost_pci::link
