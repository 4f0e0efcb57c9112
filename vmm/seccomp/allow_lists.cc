// vmm/seccomp/allow_lists.cc: which system calls each kind of tandem thread may make, and with
// which arguments.
//
// Built from what the code does (and checked with --seccomp=log runs of the e2e suite, whose
// kernel log names anything missing). Every list holds the C++ runtime's basics; a thread that
// starts other threads also holds what a new thread runs before its own list is in place. The
// ioctl requests each kind may make are in vmm/seccomp/ioctls.cc.
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <initializer_list>
#include <span>

#include "vmm/seccomp/ioctls.h"
#include "vmm/seccomp/seccomp.h"

namespace tandem::seccomp {
namespace {

using Names = std::vector<std::string_view>;

// Every list names a call in all its forms: the old ones x86_64 glibc still uses (readlink, chmod,
// dup2, poll, epoll_wait, ...) and the *at / p* ones, the only ones arm64 has (seccomp_test checks).

// Memory, locks, time, signals' return path, exiting: what glibc and libstdc++ do anywhere.
constexpr std::string_view kRuntime[] = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "lseek", "fstat", "newfstatat", "fcntl",
    "futex", "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "rt_sigprocmask", "rt_sigreturn",
    "sigaltstack", "exit", "exit_group", "gettid", "getpid", "tgkill", "clock_gettime", "clock_nanosleep",
    "nanosleep", "sched_yield", "restart_syscall", "getrandom", "poll", "ppoll", "prctl",
};

// Starting a thread: the creator's clone, then the new thread's start-up under the creator's list,
// which ends with installing its own (seccomp(2); a list can only be narrowed further).
constexpr std::string_view kSpawn[] = {
    "clone", "clone3", "set_robust_list", "rseq", "sched_getaffinity", "seccomp",
};

// Event fds, sockets to a peer, KVM and device ioctls (by request: ioctls.cc): what a device does
// when the guest starts or resets it (on the vCPU that wrote the register) and what its workers do.
constexpr std::string_view kDeviceIo[] = {
    "eventfd2", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "sendmsg", "recvmsg", "sendto",
    "recvfrom", "socket", "connect", "accept4", "shutdown", "getsockopt", "setsockopt", "dup", "dup3",
    "fstatfs", "statfs", "timerfd_create", "timerfd_settime",
    "readlink", "readlinkat",  // /proc/self/fd/N: is a peer's fd an eventfd?
    "process_vm_readv",        // of this process only: a peer's memory it may have truncated (fallible_read.h)
    "inotify_add_watch", "inotify_rm_watch",  // vhost-pci: a peer's unsealed memory files, for truncation
    "io_uring_setup", "io_uring_enter", "io_uring_register",  // virtio-blk's I/O (devices/virtio/blk)
};

// The main thread sets everything up and serves the API: files, sockets, memory files, signals.
constexpr std::string_view kVmmOnly[] = {
    "openat", "bind", "listen", "accept", "getsockname", "getpeername", "socketpair", "unlink", "unlinkat", "fchmod",
    "chmod", "memfd_create", "ftruncate", "fallocate", "pipe2", "rt_sigaction", "rt_sigtimedwait", "signalfd4",
    "kill", "getuid", "geteuid", "getgid", "getegid", "uname", "sysinfo", "getcwd", "fchmodat",
    "access", "faccessat", "faccessat2", "statx", "getdents64", "dup2", "timerfd_gettime", "prlimit64",
    "inotify_init1",
};

// Built with AddressSanitizer (bazel --config=asan or the fuzz config), its runtime probes whether
// memory is readable by writing it into a pipe (sanitizer_common's IsAccessibleMemoryRange, met when
// a thread starts or ends). The main thread's list has pipe2 already.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TANDEM_SECCOMP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TANDEM_SECCOMP_ASAN 1
#endif
#ifdef TANDEM_SECCOMP_ASAN
constexpr std::string_view kSanitizerRuntime[] = {"pipe2"};
#else
constexpr std::span<const std::string_view> kSanitizerRuntime;
#endif

// Calls allowed only with certain arguments, in every list that names them: no memory is mapped
// or made executable (tandem runs no code it did not load at start), and sockets are local ones
// (peers, the API; a tap is brought up through an AF_UNIX socket too, devices/net/tap.cc).
// prctl only names a thread or reads its name, or sets no_new_privs (libseccomp, as each thread
// installs its list): never PR_SET_DUMPABLE or PR_SET_PTRACER, which would let another process of
// the user read and write tandem's memory (main.cc makes it non-dumpable before any list).
constexpr ArgMatch kNoExec{2, PROT_EXEC, 0, "no PROT_EXEC"};
constexpr ArgMatch kUnixOnly{0, 0xffffffffu, AF_UNIX, "AF_UNIX"};
constexpr ArgMatch kPrctl(uint64_t option, std::string_view what) { return ArgMatch{0, 0xffffffffu, option, what}; }
// process_vm_readv reads only this process (argument 0, the pid, is the installer's: install() puts
// it in): reading another process of the same user would be a way out of the sandbox.
constexpr ArgMatch kThisProcessOnly{0, 0xffffffffu, kThisProcess, "this process"};
constexpr struct {
  std::string_view name;
  ArgMatch only;  // a name listed more than once: any of its conditions
} kArgRules[] = {
    {"mmap", kNoExec},
    {"mprotect", kNoExec},
    {"socket", kUnixOnly},
    {"socketpair", kUnixOnly},
    {"prctl", kPrctl(PR_SET_NAME, "PR_SET_NAME")},
    {"prctl", kPrctl(PR_GET_NAME, "PR_GET_NAME")},
    {"prctl", kPrctl(PR_SET_NO_NEW_PRIVS, "PR_SET_NO_NEW_PRIVS")},
    {"prctl", kPrctl(PR_GET_SECCOMP, "PR_GET_SECCOMP")},
    {"process_vm_readv", kThisProcessOnly},
};

std::vector<Rule> join(std::initializer_list<std::span<const std::string_view>> parts, std::vector<ArgMatch> ioctls) {
  std::vector<Rule> out;
  for (const auto& p : parts)
    for (std::string_view name : p) {
      Rule r{name, {}};
      for (const auto& a : kArgRules)
        if (a.name == name) r.any_of.push_back(a.only);
      out.push_back(std::move(r));
    }
  if (!ioctls.empty()) out.push_back(Rule{"ioctl", std::move(ioctls)});
  return out;
}

Names names_of(const std::vector<Rule>& rules) {
  Names out;
  for (const Rule& r : rules) out.push_back(r.name);
  return out;
}

}  // namespace

const std::vector<Rule>& rules(ThreadKind kind) {
  static const std::vector<Rule> vmm = join({kRuntime, kSpawn, kDeviceIo, kVmmOnly}, ioctl_requests(ThreadKind::kVmm));
  // A vCPU thread runs the guest and every device register access; starting or resetting a device
  // there starts or stops its backend (threads, sockets to the peer, vhost ioctls).
  static const std::vector<Rule> vcpu = join({kRuntime, kSpawn, kDeviceIo, kSanitizerRuntime}, ioctl_requests(ThreadKind::kVcpu));
  static const std::vector<Rule> device = join({kRuntime, kDeviceIo, kSanitizerRuntime}, ioctl_requests(ThreadKind::kDevice));
  // The console reader polls and reads stdin: no ioctl at all (the terminal is set raw and restored
  // by the main thread).
  static const std::vector<Rule> console = join({kRuntime, kSanitizerRuntime}, ioctl_requests(ThreadKind::kConsole));
  switch (kind) {
    case ThreadKind::kVmm: return vmm;
    case ThreadKind::kVcpu: return vcpu;
    case ThreadKind::kDevice: return device;
    case ThreadKind::kConsole: return console;
  }
  return console;
}

const std::vector<std::string_view>& allowed(ThreadKind kind) {
  static const Names vmm = names_of(rules(ThreadKind::kVmm));
  static const Names vcpu = names_of(rules(ThreadKind::kVcpu));
  static const Names device = names_of(rules(ThreadKind::kDevice));
  static const Names console = names_of(rules(ThreadKind::kConsole));
  switch (kind) {
    case ThreadKind::kVmm: return vmm;
    case ThreadKind::kVcpu: return vcpu;
    case ThreadKind::kDevice: return device;
    case ThreadKind::kConsole: return console;
  }
  return console;
}

}  // namespace tandem::seccomp
