// tests/fuzz/link_protocol_fuzzer.cc: the symmetric vhost-pci link codec
// (devices/vhost_pci/link_protocol) on any bytes and fds a peer tandem can send.
//
// Input: one byte choosing how many fds come along (bits 0-2, at most 4) and what each is (bits
// 3-6: a memfd of 1 MiB or an eventfd), then the wire bytes. A decoded HELLO must encode again to
// exactly the same bytes, and checking its fds must give an answer, never a crash.
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "base/unique_fd.h"
#include "devices/vhost_pci/link_protocol.h"

using namespace tandem;
using namespace tandem::vhost_pci::link;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

UniqueFd make_fd(bool memory) {
  if (!memory) return UniqueFd(::eventfd(0, EFD_CLOEXEC));
  UniqueFd fd(::memfd_create("link-fuzz", MFD_CLOEXEC));
  if (fd.valid() && ::ftruncate(fd.get(), 1 << 20) != 0) std::abort();
  return fd;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const unsigned nfds = data[0] & 7u;
  if (nfds > 4) return 0;
  std::vector<UniqueFd> fds;
  for (unsigned i = 0; i < nfds; ++i) {
    fds.push_back(make_fd((data[0] >> (3 + i)) & 1u));
    check(fds.back().valid());
  }
  std::span<const uint8_t> wire(data + 1, size - 1);
  auto header = decode_header(wire);
  auto m = decode(wire, std::move(fds));
  if (!m) return 0;
  check(header.ok());
  if (m->type == Type::kHello) {
    check(m->fds.size() == kHelloFdCount);
    check(check_section_size(m->hello.section_size).ok());
    auto again = encode_hello(m->hello);
    check(again.ok());
    check(again->size() == wire.size() && std::equal(again->begin(), again->end(), wire.begin()));
    (void)check_hello_fds(*m);
  } else {
    check(m->type == Type::kBye && m->fds.empty());
    check(encode_bye().size() == wire.size());
  }
  return 0;
}
