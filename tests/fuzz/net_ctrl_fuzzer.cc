// tests/fuzz/net_ctrl_fuzzer.cc: virtio-net control commands (devices/virtio/net_ctrl) as a guest
// can post them.
//
// Input: byte 0 picks the negotiated features (bit 0 CTRL_VQ, 1 CTRL_RX, 2 CTRL_MAC_ADDR, 3
// GUEST_ANNOUNCE), the rest is a sequence of commands, each a length byte and that many bytes.
// A refused command must leave the mode as it was; an accepted one keeps each MAC table within 64
// entries and the MAC a unicast, non-zero address. Anything else, or a crash, is a finding (abort).
#include <cstdint>
#include <cstdlib>

#include "devices/virtio/net_ctrl.h"

using namespace tandem::virtio::net;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint64_t features = 0;
  if (data[0] & 1) features |= kFCtrlVq;
  if (data[0] & 2) features |= kFCtrlRx;
  if (data[0] & 4) features |= kFCtrlMacAddr;
  if (data[0] & 8) features |= kFGuestAnnounce;
  RxMode mode;
  mode.mac = {0x02, 0, 0, 0, 0, 1};
  size_t pos = 1;
  while (pos < size) {
    size_t len = data[pos++];
    if (len > size - pos) len = size - pos;
    const RxMode before = mode;
    auto out = apply_ctrl(std::span<const uint8_t>(data + pos, len), features, mode);
    pos += len;
    if (out.ack != kCtrlOk) {
      check(mode == before);
      check(!out.what.empty());
      continue;
    }
    check(out.ack == kCtrlOk);
    check(mode.unicast.size() <= kMacTableEntries && mode.multicast.size() <= kMacTableEntries);
    check((mode.mac[0] & 1) == 0 && mode.mac != Mac{});
    const uint8_t stranger[6] = {0x02, 9, 9, 9, 9, 9};
    (void)mode.accepts(std::span<const uint8_t, 6>(stranger, 6));
  }
  return 0;
}
