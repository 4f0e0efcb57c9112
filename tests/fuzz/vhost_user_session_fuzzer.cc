// tests/fuzz/vhost_user_session_fuzzer.cc: whole vhost-user sessions against the back-end
// (devices/vhost_user/backend.h), as a hostile front-end would drive them: sequences of messages,
// each with the fds it chooses (memfds of any size, sealed or not and truncated after sending,
// eventfds, pipes), not single messages alone.
//
// Input: one byte of session options (bit 0: unsealed memory allowed; bit 1: the device refuses
// memory tables; bit 2: it refuses rings), then records until the input ends:
//   request (1 byte), flags (1: bit 0 need-reply, bits 1-3 the fds to attach, bit 4 truncate the
//   memfds after the back-end has handled the message), size (1 byte, payload bytes), payload.
// Fds: 0 none, 1 a sealed memfd, 2 an unsealed memfd, 3 an eventfd, 4 a pipe, 5 a sealed memfd
// and an unsealed one, 6 two eventfds, 7 nine eventfds (more than a message may carry). A memfd's
// size is 4 KiB times the payload's first byte (plus one). The back-end handles each message, the
// front-end side drains the answers, and the session must end (or go on) without a crash, a leak
// under ASan, or a stuck read.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "base/le.h"
#include "base/unique_fd.h"
#include "devices/vhost_user/backend.h"
#include "devices/vhost_user/connection.h"

using namespace tandem;
using namespace tandem::vhost_user;
using namespace std::chrono_literals;

namespace {

struct Device : BackendObserver {
  bool refuse_tables = false, refuse_rings = false;
  Status on_mem_table(std::span<const MappedRegion> r) override {
    if (refuse_tables && !r.empty()) return Error{"refused"};
    return {};
  }
  Status on_vring_ready(const VringConfig&) override {
    if (refuse_rings) return Error{"refused"};
    return {};
  }
  uint16_t on_vring_stop(uint32_t) override { return 0; }
};

UniqueFd memfd(size_t pages, bool sealed) {
  UniqueFd fd(::memfd_create("session-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(pages * 4096)) != 0) std::abort();
  if (sealed && ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) std::abort();
  return fd;
}

std::vector<UniqueFd> make_fds(unsigned kind, size_t pages, std::vector<int>& memfds) {
  std::vector<UniqueFd> v;
  auto add_mem = [&](bool sealed) {
    v.push_back(memfd(pages, sealed));
    memfds.push_back(v.back().get());
  };
  auto add_event = [&] { v.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)); };
  switch (kind) {
    case 1: add_mem(true); break;
    case 2: add_mem(false); break;
    case 3: add_event(); break;
    case 4: {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) std::abort();
      v.emplace_back(p[0]);
      v.emplace_back(p[1]);
      v.pop_back();  // the write end goes away: the back-end holds a pipe nobody writes
      break;
    }
    case 5: add_mem(true); add_mem(false); break;
    case 6: add_event(); add_event(); break;
    case 7: for (int i = 0; i < 9; ++i) add_event(); break;
    default: break;
  }
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto ends = Connection::pair();
  if (!ends) std::abort();
  Connection front = std::move(ends->first);
  Device device;
  device.refuse_tables = data[0] & 2;
  device.refuse_rings = data[0] & 4;
  BackendConfig config;
  config.features = (1ULL << 32) | (1ULL << 29) | kFeatureProtocolFeatures;
  config.max_vrings = 4;
  config.message_timeout = 20ms;
  config.seals.allow_unsealed = data[0] & 1;
  config.log = [](const std::string&) {};
  auto session = BackendSession::create(std::move(ends->second), config, device);
  if (!session) std::abort();

  size_t at = 1;
  while (at + 3 <= size && !(*session)->closed()) {
    const uint8_t request = data[at], flags = data[at + 1], len = data[at + 2];
    at += 3;
    const size_t n = std::min<size_t>(len, size - at);
    std::vector<uint8_t> wire(12 + n);
    store_le<uint32_t>(wire, 0, request);
    store_le<uint32_t>(wire, 4, 0x1 | ((flags & 1) ? 0x8u : 0u));  // version 1, need-reply
    store_le<uint32_t>(wire, 8, static_cast<uint32_t>(n));
    std::copy(data + at, data + at + n, wire.begin() + 12);
    at += n;
    std::vector<int> memfds;
    auto fds = make_fds((flags >> 1) & 7, 1 + (n ? data[at - n] : 0), memfds);
    std::vector<int> raw;
    for (auto& f : fds) raw.push_back(f.get());
    if (!front.send(wire, raw, 100ms)) break;
    (*session)->handle_one(0ms);
    if (flags & 0x10) {
      for (int fd : memfds) {
        int rc = ::ftruncate(fd, 0);  // sealed ones refuse; unsealed ones shrink
        (void)rc;
      }
    }
    while (front.receive(0ms)) {
    }  // answers, if any
  }
  (*session)->close("the fuzz input ended");
  return 0;
}
