// tests/fuzz/vhost_user_fuzzer.cc: the vhost-user message decoder (devices/vhost_user/protocol) in
// both roles, on any bytes a peer can send.
//
// Input: one byte choosing the role (and, as a front-end, which request the reply answers) and
// how many fds come along, then the wire bytes (header + payload). The back-end role decodes a
// request; the front-end role decodes a reply. A decoded message must encode again to the same
// kind without an error where the codec promises it; a crash or a broken promise is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "base/unique_fd.h"
#include "devices/vhost_user/protocol.h"

using namespace tandem;
using namespace tandem::vhost_user;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

std::vector<UniqueFd> some_fds(unsigned n) {
  std::vector<UniqueFd> fds;
  for (unsigned i = 0; i < n; ++i) fds.emplace_back(::dup(STDERR_FILENO));
  return fds;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t ctl = data[0];
  std::span<const uint8_t> wire(data + 1, size - 1);
  const unsigned nfds = (ctl >> 1) % 10;  // more than the 8 a message may carry

  auto raw = split_message(wire, some_fds(nfds));
  if (!raw) return 0;
  check(raw->payload.size() == raw->header.size);
  check(raw->header.size <= kMaxPayloadSize);

  if ((ctl & 1) == 0) {
    // Back-end role: a request from the front-end.
    const uint32_t code = raw->header.request;
    auto m = decode_request(std::move(*raw));
    if (!m) return 0;
    check(request_info(code) != nullptr);
    check(m->fds.size() <= 8);
    if (m->request == Request::kSetMemTable) {
      const auto* t = std::get_if<MemoryTable>(&m->payload);
      check(t != nullptr);
      check(validate_regions(t->regions, "SET_MEM_TABLE").ok());
      check(t->regions.size() == m->fds.size());
    }
  } else {
    // Front-end role: the reply to a request we sent (chosen by the header's own code half the
    // time, so matching codes get through).
    const uint32_t code = (ctl & 0x80) ? raw->header.request : (ctl >> 2) % 50;
    if (request_info(code) == nullptr) return 0;
    auto m = decode_reply(static_cast<Request>(code), std::move(*raw));
    if (!m) return 0;
    check(m->fds.empty());
  }
  return 0;
}
