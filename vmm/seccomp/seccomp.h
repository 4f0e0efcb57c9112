// vmm/seccomp/seccomp.h: per-thread system call allow-lists (libseccomp), the way Firecracker and
// Cloud Hypervisor confine their threads.
//
// Each kind of thread installs its own list on itself before it touches guest- or peer-controlled
// data (filters are per thread; a thread started later inherits its creator's list and adds its
// own, so a creator's list must hold everything its threads need). Some calls are allowed only with
// certain arguments (ioctl: the request numbers the kind uses; mmap and mprotect: never PROT_EXEC;
// socket and socketpair: AF_UNIX only). Modes:
//   kOn   a call outside the list ends tandem at once: a SIGSYS handler writes one line naming the
//         thread and the system call, and the process exits with kExitStatus.
//   kLog  the kernel logs the call (audit type 1326, "syscall=N", in dmesg) and lets it proceed:
//         for finding what a list lacks.
//   kOff  nothing is installed.
// Usable without the rest of tandem: a thread calls install(kind, mode) on itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace tandem::seccomp {

enum class Mode { kOff, kLog, kOn };
enum class ThreadKind {
  kVmm,     // the main thread: event loop, API socket, device manager, signals, hotplug
  kVcpu,    // one per vCPU: KVM_RUN and the exits it handles (device register accesses)
  kDevice,  // device workers: the tap datapath, the vhost-user watcher, the vhost-pci socket
  kConsole, // stdin to the serial port
};

// 128 + SIGSYS: the status tandem ends with after a call outside its list (mode kOn).
constexpr int kExitStatus = 159;

// "on", "log" or "off".
Result<Mode> parse_mode(std::string_view text);
std::string_view kind_name(ThreadKind kind);

// One condition on a system call's argument: (argument `arg` & mask) == value. `what` names it
// for people ("KVM_RUN", "no PROT_EXEC").
struct ArgMatch {
  unsigned arg;
  uint64_t mask;
  uint64_t value;  // kThisProcess: the pid of the process installing the filter
  std::string_view what;
};
inline constexpr uint64_t kThisProcess = ~0ULL;

// A system call a kind may make. With no `any_of`, any arguments; otherwise only a call for which
// one of the conditions holds.
struct Rule {
  std::string_view name;
  std::vector<ArgMatch> any_of;
};

// What `kind` may make, one rule per system call (x86_64 names; those this architecture lacks are
// skipped when installing).
const std::vector<Rule>& rules(ThreadKind kind);
// The names of those system calls, in the same order.
const std::vector<std::string_view>& allowed(ThreadKind kind);

// Installs `kind`'s list on the calling thread (nothing for kOff). Error when the kernel or
// libseccomp refuses; the thread then runs unconfined, and the caller decides whether to go on.
Status install(ThreadKind kind, Mode mode);

// The process's mode (kOff until set): tandem vm sets it once from --seccomp, before any thread
// starts, after checking that the kernel can do it (Error otherwise, naming what is missing).
// It also fixes malloc's arena limit, which glibc would otherwise look up with a file read from
// whatever thread first needs a ninth arena.
Status set_process_mode(Mode mode);
Mode process_mode();
// What a thread calls first thing: installs `kind`'s list in the process's mode. A thread that
// cannot be confined when confinement was asked for ends tandem (status 1) with a message: running
// unconfined behind the user's back is worse than not running.
void enter(ThreadKind kind);

}  // namespace tandem::seccomp
