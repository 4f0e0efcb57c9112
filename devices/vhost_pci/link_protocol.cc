// devices/vhost_pci/link_protocol.cc: the symmetric vhost-pci link codec (link_protocol.h).
#include "devices/vhost_pci/link_protocol.h"

#include <bit>
#include <string>

#include "base/fd_kind.h"
#include "base/hex.h"
#include "base/le.h"

namespace tandem::vhost_pci::link {

namespace {

std::string type_name(uint32_t type) {
  switch (type) {
    case static_cast<uint32_t>(Type::kHello): return "HELLO";
    case static_cast<uint32_t>(Type::kBye): return "BYE";
    default: return "message type " + std::to_string(type);
  }
}

std::vector<uint8_t> header(Type type, uint32_t size) {
  std::vector<uint8_t> out(kHeaderSize + size, 0);
  store_le<uint32_t>(out, 0, static_cast<uint32_t>(type));
  store_le<uint32_t>(out, 4, size);
  return out;
}

Result<void> check_hello(const Hello& h) {
  if (h.version != kVersion) {
    return Error{"vhost-pci link HELLO: version " + hex(h.version) + ", this tandem speaks " + hex(kVersion)};
  }
  if (auto ok = check_section_size(h.section_size); !ok) return Error{"vhost-pci link HELLO: " + ok.message()};
  if (h.features != 0) return Error{"vhost-pci link HELLO: unknown feature bits " + hex(h.features)};
  return {};
}

}  // namespace

Result<void> check_section_size(uint64_t bytes) {
  if (bytes < kMinSectionSize || bytes > kMaxSectionSize || !std::has_single_bit(bytes)) {
    return Error{"section size " + std::to_string(bytes) + " is not a power of two from 1 MiB to 64 MiB"};
  }
  return {};
}

Result<uint32_t> decode_header(std::span<const uint8_t> h) {
  if (h.size() < kHeaderSize) {
    return Error{"vhost-pci link: a header of " + std::to_string(h.size()) + " bytes (want 16)"};
  }
  uint32_t type = *load_le<uint32_t>(h, 0);
  uint32_t size = *load_le<uint32_t>(h, 4);
  uint64_t reserved = *load_le<uint64_t>(h, 8);
  uint32_t want;
  switch (type) {
    case static_cast<uint32_t>(Type::kHello): want = kHelloPayloadSize; break;
    case static_cast<uint32_t>(Type::kBye): want = 0; break;
    default: return Error{"vhost-pci link: unknown " + type_name(type)};
  }
  if (size != want) {
    return Error{"vhost-pci link " + type_name(type) + ": payload of " + std::to_string(size) + " bytes (want " +
                 std::to_string(want) + ")"};
  }
  if (reserved != 0) return Error{"vhost-pci link " + type_name(type) + ": reserved header bits " + hex(reserved)};
  return size;
}

Result<std::vector<uint8_t>> encode_hello(const Hello& hello) {
  if (auto ok = check_hello(hello); !ok) return ok.error();
  auto out = header(Type::kHello, kHelloPayloadSize);
  std::span<uint8_t> p(out.data() + kHeaderSize, kHelloPayloadSize);
  store_le<uint32_t>(p, 0, hello.version);
  store_le<uint32_t>(p, 4, hello.section_size);
  store_le<uint64_t>(p, 8, hello.features);
  return out;
}

std::vector<uint8_t> encode_bye() { return header(Type::kBye, 0); }

Result<Message> decode(std::span<const uint8_t> wire, std::vector<UniqueFd> fds) {
  auto size = decode_header(wire);
  if (!size) return size.error();
  if (wire.size() != kHeaderSize + *size) {
    return Error{"vhost-pci link: " + std::to_string(wire.size()) + " bytes for a message of " +
                 std::to_string(kHeaderSize + *size)};
  }
  Message m;
  m.type = static_cast<Type>(*load_le<uint32_t>(wire, 0));
  const size_t want_fds = m.type == Type::kHello ? kHelloFdCount : 0;
  if (fds.size() != want_fds) {
    return Error{"vhost-pci link " + type_name(static_cast<uint32_t>(m.type)) + ": " + std::to_string(fds.size()) +
                 " fds (want " + std::to_string(want_fds) + ")"};
  }
  if (m.type == Type::kHello) {
    std::span<const uint8_t> p = wire.subspan(kHeaderSize);
    m.hello.version = *load_le<uint32_t>(p, 0);
    m.hello.section_size = *load_le<uint32_t>(p, 4);
    m.hello.features = *load_le<uint64_t>(p, 8);
    if (auto ok = check_hello(m.hello); !ok) return ok.error();
  }
  m.fds = std::move(fds);
  return m;
}

Result<void> check_hello_fds(const Message& hello) {
  if (hello.type != Type::kHello || hello.fds.size() != kHelloFdCount) {
    return Error{"vhost-pci link: not a HELLO with its three fds"};
  }
  auto size = regular_file_size(hello.fds[0].get());
  if (!size) return Error{"vhost-pci link HELLO: the section fd is not a memory file (memfd or tmpfs)"};
  if (*size < hello.hello.section_size) {
    return Error{"vhost-pci link HELLO: the section file has " + std::to_string(*size) + " bytes, fewer than its " +
                 std::to_string(hello.hello.section_size)};
  }
  if (!is_eventfd(hello.fds[1].get())) return Error{"vhost-pci link HELLO: the data doorbell fd is not an eventfd"};
  if (!is_eventfd(hello.fds[2].get())) return Error{"vhost-pci link HELLO: the space doorbell fd is not an eventfd"};
  return {};
}

Result<void> check_compatible(const Hello& ours, const Hello& theirs) {
  if (ours.section_size != theirs.section_size) {
    return Error{"vhost-pci link: the peer's sections are " + std::to_string(theirs.section_size) +
                 " bytes, ours " + std::to_string(ours.section_size) + " (set the same section= on both sides)"};
  }
  return {};
}

}  // namespace tandem::vhost_pci::link
