// vmm/console.h: the guest's serial console on this terminal: output to a file descriptor, and
// stdin fed to the UART on its own thread (raw mode while it runs; Ctrl-A x quits).
#pragma once

#include <termios.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>

#include "base/unique_fd.h"
#include "devices/legacy/serial.h"
#include "vmm/exit_controller.h"

namespace tandem {

// Writes all of `bytes` to `fd`; a sink that went away drops the output (the guest keeps running).
void write_all(int fd, std::span<const uint8_t> bytes);

// Puts a terminal on stdin into raw mode for the guest's console and restores it on destruction.
class RawTerminal {
 public:
  RawTerminal();
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const { return active_; }

 private:
  termios saved_{};
  bool active_ = false;
};

// Feeds stdin to the serial port on its own thread, holding input back while the UART's receive
// FIFO is full. With a terminal (`escapes`), Ctrl-A x quits tandem (Ctrl-A Ctrl-A sends a Ctrl-A).
class ConsoleInput {
 public:
  ConsoleInput(Serial& serial, ExitController& exit, bool escapes);
  ~ConsoleInput();
  ConsoleInput(const ConsoleInput&) = delete;
  ConsoleInput& operator=(const ConsoleInput&) = delete;
  // Called (on a vCPU thread) when the guest drained the receive FIFO.
  void drained();

 private:
  void loop();
  // Strips the Ctrl-A escapes from `in`; false when the user asked to quit.
  bool take_escapes(std::span<const uint8_t> in, std::vector<uint8_t>& out);
  // Hands `bytes` to the UART as its FIFO drains; false when stopping.
  bool deliver(std::span<const uint8_t> bytes);

  Serial& serial_;
  ExitController& exit_;
  bool escapes_;
  bool saw_ctrl_a_ = false;
  UniqueFd stop_fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tandem
