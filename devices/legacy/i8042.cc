// devices/legacy/i8042.cc: the i8042's command/data protocol, as little of it as guests need.
#include "devices/legacy/i8042.h"

#include <algorithm>

namespace tandem {

namespace {
constexpr uint8_t kCmdReadCommandByte = 0x20;
constexpr uint8_t kCmdWriteCommandByte = 0x60;
constexpr uint8_t kCmdDisableAux = 0xa7;
constexpr uint8_t kCmdEnableAux = 0xa8;
constexpr uint8_t kCmdSelfTest = 0xaa;
constexpr uint8_t kCmdInterfaceTest = 0xab;
constexpr uint8_t kCmdDisableKbd = 0xad;
constexpr uint8_t kCmdEnableKbd = 0xae;
constexpr uint8_t kCmdReadOutputPort = 0xd0;
constexpr uint8_t kCmdWriteOutputPort = 0xd1;
constexpr uint8_t kCmdPulseFirst = 0xf0;  // 0xF0..0xFF pulse output port bits whose mask bit is 0

constexpr uint8_t kCbDisableKbd = 0x10;
constexpr uint8_t kCbDisableAux = 0x20;
constexpr uint8_t kSelfTestOk = 0x55;
constexpr uint8_t kOutputPortReset = 0x01;  // active low
}  // namespace

I8042::I8042(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {}

bool I8042::command(uint8_t cmd) {
  awaiting_.reset();
  switch (cmd) {
    case kCmdReadCommandByte:
      output_ = command_byte_;
      return false;
    case kCmdWriteCommandByte:
    case kCmdWriteOutputPort:
      awaiting_ = cmd;
      return false;
    case kCmdDisableAux:
      command_byte_ |= kCbDisableAux;
      return false;
    case kCmdEnableAux:
      command_byte_ &= static_cast<uint8_t>(~kCbDisableAux);
      return false;
    case kCmdSelfTest:
      output_ = kSelfTestOk;
      return false;
    case kCmdInterfaceTest:
      output_ = 0x00;
      return false;
    case kCmdDisableKbd:
      command_byte_ |= kCbDisableKbd;
      return false;
    case kCmdEnableKbd:
      command_byte_ &= static_cast<uint8_t>(~kCbDisableKbd);
      return false;
    case kCmdReadOutputPort:
      output_ = output_port_;
      return false;
    default:
      return cmd >= kCmdPulseFirst && !(cmd & kOutputPortReset);
  }
}

bool I8042::data_write(uint8_t value) {
  if (!awaiting_) return false;  // a keyboard command, and there is no keyboard
  const uint8_t cmd = *awaiting_;
  awaiting_.reset();
  if (cmd == kCmdWriteCommandByte) {
    command_byte_ = value;
    return false;
  }
  // kCmdWriteOutputPort: driving the reset line low resets the machine; it stays high afterwards.
  output_port_ = static_cast<uint8_t>(value | kOutputPortReset);
  return !(value & kOutputPortReset);
}

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  if (data.size() != 1 || (offset != kDataOffset && offset != kCommandOffset)) {
    std::fill(data.begin(), data.end(), uint8_t{0xff});
    return;
  }
  if (offset == kDataOffset) {
    data[0] = output_.value_or(0);
    output_.reset();
  } else {
    data[0] = static_cast<uint8_t>((output_ ? kStatusOutputFull : 0) | (command_byte_ & kStatusSystem));
  }
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    if (data.size() != 1) return;
    if (offset == kDataOffset) {
      reset = data_write(data[0]);
    } else if (offset == kCommandOffset) {
      reset = command(data[0]);
    }
    if (reset) ++resets_;
  }
  if (reset && on_reset_) on_reset_();
}

uint64_t I8042::resets() const {
  std::lock_guard lock(mu_);
  return resets_;
}

}  // namespace tandem
