// devices/virtio/net_ctrl.cc: the control queue's commands and the receive filter, see net_ctrl.h.
#include "devices/virtio/net_ctrl.h"

#include <algorithm>
#include <cstring>

#include "base/le.h"

namespace tandem::virtio::net {

namespace {

CtrlOutcome refused(std::string why) { return CtrlOutcome{kCtrlErr, std::move(why), false, false}; }
CtrlOutcome done(std::string what) { return CtrlOutcome{kCtrlOk, std::move(what), false, false}; }

bool contains(const std::vector<Mac>& table, std::span<const uint8_t, 6> dst) {
  return std::any_of(table.begin(), table.end(), [&](const Mac& m) { return std::equal(m.begin(), m.end(), dst.begin()); });
}

// One table of MAC_TABLE_SET at `data[pos]`: le32 entries, then 6 bytes each. Moves `pos` past it.
bool read_table(std::span<const uint8_t> data, size_t& pos, std::vector<Mac>& table, bool& overflow) {
  auto count = load_le<uint32_t>(data, pos);
  if (!count) return false;
  const uint64_t entries = *count;
  pos += 4;
  if (entries > (data.size() - pos) / 6) return false;
  table.clear();
  overflow = entries > kMacTableEntries;
  for (uint64_t i = 0; i < entries; ++i, pos += 6) {
    if (overflow) continue;
    Mac m;
    std::memcpy(m.data(), data.data() + pos, 6);
    table.push_back(m);
  }
  return true;
}

CtrlOutcome rx_command(uint8_t cmd, std::span<const uint8_t> data, RxMode& mode) {
  if (cmd != kCtrlRxPromisc && cmd != kCtrlRxAllmulti) return refused("unknown CTRL_RX command " + std::to_string(cmd));
  if (data.size() != 1) return refused("CTRL_RX command " + std::to_string(cmd) + " with " + std::to_string(data.size()) + " data bytes (1 expected)");
  const bool on = data[0] != 0;
  (cmd == kCtrlRxPromisc ? mode.promisc : mode.allmulti) = on;
  return done(std::string(cmd == kCtrlRxPromisc ? "promisc" : "allmulti") + (on ? " on" : " off"));
}

CtrlOutcome mac_command(uint8_t cmd, std::span<const uint8_t> data, uint64_t features, RxMode& mode) {
  if (cmd == kCtrlMacTableSet) {
    if (!(features & kFCtrlRx)) return refused("MAC_TABLE_SET without CTRL_RX negotiated");
    RxMode next = mode;
    size_t pos = 0;
    if (!read_table(data, pos, next.unicast, next.unicast_overflow) || !read_table(data, pos, next.multicast, next.multicast_overflow) ||
        pos != data.size()) {
      return refused("MAC_TABLE_SET of " + std::to_string(data.size()) + " bytes does not hold exactly two tables");
    }
    mode = std::move(next);
    return done("mac tables: " + std::to_string(mode.unicast.size()) + (mode.unicast_overflow ? "+" : "") + " unicast, " +
                std::to_string(mode.multicast.size()) + (mode.multicast_overflow ? "+" : "") + " multicast");
  }
  if (cmd != kCtrlMacAddrSet) return refused("unknown CTRL_MAC command " + std::to_string(cmd));
  if (!(features & kFCtrlMacAddr)) return refused("MAC_ADDR_SET without CTRL_MAC_ADDR negotiated");
  if (data.size() != 6) return refused("MAC_ADDR_SET with " + std::to_string(data.size()) + " data bytes (6 expected)");
  Mac m;
  std::memcpy(m.data(), data.data(), 6);
  if (m[0] & 1) return refused("MAC_ADDR_SET to a multicast address " + tandem::net::format_mac(m));
  if (m == Mac{}) return refused("MAC_ADDR_SET to the all-zero address");
  mode.mac = m;
  CtrlOutcome out = done("mac " + tandem::net::format_mac(m));
  out.mac_changed = true;
  return out;
}

}  // namespace

bool RxMode::accepts(std::span<const uint8_t, 6> dst) const {
  if (promisc) return true;
  if (dst[0] & 1) {  // multicast, broadcast among them (no RX_EXTRA: broadcast always passes)
    if (std::all_of(dst.begin(), dst.end(), [](uint8_t b) { return b == 0xff; })) return true;
    return allmulti || multicast_overflow || contains(multicast, dst);
  }
  return std::equal(mac.begin(), mac.end(), dst.begin()) || unicast_overflow || contains(unicast, dst);
}

namespace {

CtrlOutcome dispatch(std::span<const uint8_t> command, uint64_t features, RxMode& mode) {
  if (!(features & kFCtrlVq)) return refused("a control command without CTRL_VQ negotiated");
  if (command.size() < 2) return refused("a control command of " + std::to_string(command.size()) + " bytes (class and command take 2)");
  if (command.size() > kMaxCtrlCommand) return refused("a control command of " + std::to_string(command.size()) + " bytes (at most " + std::to_string(kMaxCtrlCommand) + ")");
  const uint8_t cls = command[0], cmd = command[1];
  auto data = command.subspan(2);
  switch (cls) {
    case kCtrlRx:
      if (!(features & kFCtrlRx)) return refused("CTRL_RX without CTRL_RX negotiated");
      return rx_command(cmd, data, mode);
    case kCtrlMac:
      return mac_command(cmd, data, features, mode);
    case kCtrlAnnounce: {
      if (!(features & kFGuestAnnounce)) return refused("ANNOUNCE without GUEST_ANNOUNCE negotiated");
      if (cmd != kCtrlAnnounceAck || !data.empty()) return refused("ANNOUNCE command " + std::to_string(cmd) + " with " + std::to_string(data.size()) + " data bytes (only ACK, without data)");
      CtrlOutcome out = done("announce acknowledged");
      out.announce_acked = true;
      return out;
    }
    default:
      return refused("unknown control class " + std::to_string(cls));
  }
}

}  // namespace

CtrlOutcome apply_ctrl(std::span<const uint8_t> command, uint64_t features, RxMode& mode) {
  const RxMode before = mode;
  CtrlOutcome out = dispatch(command, features, mode);
  out.changed = !(mode == before);
  return out;
}

}  // namespace tandem::virtio::net
