// vmm/seccomp/seccomp.cc: installing a thread's allow-list and reporting a call outside it.
#include "vmm/seccomp/seccomp.h"

#include <malloc.h>
#include <seccomp.h>
#include <sys/sysinfo.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <pthread.h>

namespace tandem::seccomp {
namespace {

// Filled before the first kOn filter: the handler may not allocate or call libseccomp.
constexpr int kMaxSyscall = 512;
std::array<std::array<char, 32>, kMaxSyscall> g_names{};
thread_local const char* t_kind = nullptr;  // until install(): a new thread under its creator's list

void append(char* buf, size_t& at, size_t cap, const char* s) {
  while (*s && at + 1 < cap) buf[at++] = *s++;
}

void append_number(char* buf, size_t& at, size_t cap, long v) {
  char digits[24];
  size_t n = 0;
  unsigned long u = v < 0 ? static_cast<unsigned long>(-v) : static_cast<unsigned long>(v);
  do {
    digits[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u && n < sizeof digits);
  if (v < 0 && at + 1 < cap) buf[at++] = '-';
  while (n && at + 1 < cap) buf[at++] = digits[--n];
}

void append_hex(char* buf, size_t& at, size_t cap, unsigned long long v) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v % 16];
    v /= 16;
  } while (v && n < sizeof digits);
  append(buf, at, cap, "0x");
  while (n && at + 1 < cap) buf[at++] = digits[--n];
}

// The call's first three arguments, from the registers it was made with (an ioctl's request, a
// socket's family and mmap's protection are among them): what a list lacked, at a glance.
void append_arguments(char* buf, size_t& at, size_t cap, const void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
  unsigned long long a[3];
#if defined(__x86_64__)
  a[0] = static_cast<unsigned long long>(uc->uc_mcontext.gregs[REG_RDI]);
  a[1] = static_cast<unsigned long long>(uc->uc_mcontext.gregs[REG_RSI]);
  a[2] = static_cast<unsigned long long>(uc->uc_mcontext.gregs[REG_RDX]);
#elif defined(__aarch64__)
  for (int i = 0; i < 3; ++i) a[i] = uc->uc_mcontext.regs[i];
#else
  return;
#endif
  append(buf, at, cap, " with arguments ");
  for (int i = 0; i < 3; ++i) {
    if (i) append(buf, at, cap, ", ");
    append_hex(buf, at, cap, a[i]);
  }
}

// Async-signal-safe: fixed buffers, write(2), _exit(2).
void on_sigsys(int, siginfo_t* info, void* context) {
  char line[256];
  size_t at = 0;
  const int nr = info->si_syscall;
  char thread[16] = "?";
  pthread_getname_np(pthread_self(), thread, sizeof thread);  // reads the thread's own comm
  append(line, at, sizeof line, t_kind ? "tandem: seccomp: the " : "tandem: seccomp: a new thread \"");
  if (t_kind) {
    append(line, at, sizeof line, t_kind);
    append(line, at, sizeof line, " thread \"");
  }
  append(line, at, sizeof line, thread);
  append(line, at, sizeof line, t_kind ? "\" made system call " : "\" (still under its creator's list) made system call ");
  append(line, at, sizeof line, nr >= 0 && nr < kMaxSyscall && g_names[nr][0] ? g_names[nr].data() : "?");
  append(line, at, sizeof line, " (");
  append_number(line, at, sizeof line, nr);
  append(line, at, sizeof line, ")");
  if (context) append_arguments(line, at, sizeof line, context);
  append(line, at, sizeof line, ", which its allow-list does not permit; stopping (--seccomp=log to trace, off to disable)\n");
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, line, at);
  ::_exit(kExitStatus);
}

Status prepare_handler() {
  static std::once_flag once;
  static int error = 0;
  std::call_once(once, [] {
    for (int nr = 0; nr < kMaxSyscall; ++nr) {
      char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
      if (!name) continue;
      std::strncpy(g_names[nr].data(), name, g_names[nr].size() - 1);
      std::free(name);
    }
    struct sigaction sa{};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(SIGSYS, &sa, nullptr) != 0) error = errno;
  });
  if (error) return Error{std::string("seccomp: installing the SIGSYS handler: ") + std::strerror(error)};
  return {};
}

struct Filter {
  scmp_filter_ctx ctx;
  explicit Filter(uint32_t action) : ctx(seccomp_init(action)) {}
  ~Filter() {
    if (ctx) seccomp_release(ctx);
  }
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;
};

}  // namespace

Result<Mode> parse_mode(std::string_view text) {
  if (text == "on") return Mode::kOn;
  if (text == "log") return Mode::kLog;
  if (text == "off") return Mode::kOff;
  return Error{"--seccomp: '" + std::string(text) + "' is not on, log or off"};
}

std::string_view kind_name(ThreadKind kind) {
  switch (kind) {
    case ThreadKind::kVmm: return "vmm";
    case ThreadKind::kVcpu: return "vcpu";
    case ThreadKind::kDevice: return "device";
    case ThreadKind::kConsole: return "console";
  }
  return "?";
}

Status install(ThreadKind kind, Mode mode) {
  if (mode == Mode::kOff) return {};
  const std::string what = "seccomp: the " + std::string(kind_name(kind)) + " thread's allow-list: ";
  if (mode == Mode::kOn) TANDEM_TRY(prepare_handler());
  Filter f(mode == Mode::kOn ? SCMP_ACT_TRAP : SCMP_ACT_LOG);
  if (!f.ctx) return Error{what + "seccomp_init failed"};
  for (const Rule& rule : rules(kind)) {
    const std::string name(rule.name);
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a system call of this architecture
    if (rule.any_of.empty()) {
      if (int rc = seccomp_rule_add(f.ctx, SCMP_ACT_ALLOW, nr, 0); rc != 0)
        return Error{what + "adding " + name + ": " + std::strerror(-rc)};
      continue;
    }
    for (const ArgMatch& m : rule.any_of) {  // one rule each: the call is allowed when any holds
      const uint64_t value = m.value == kThisProcess ? static_cast<uint64_t>(::getpid()) : m.value;
      const scmp_arg_cmp cmp = SCMP_CMP(m.arg, SCMP_CMP_MASKED_EQ, m.mask, value);
      if (int rc = seccomp_rule_add(f.ctx, SCMP_ACT_ALLOW, nr, 1, cmp); rc != 0)
        return Error{what + "adding " + name + " (" + std::string(m.what) + "): " + std::strerror(-rc)};
    }
  }
  if (int rc = seccomp_load(f.ctx); rc != 0) return Error{what + "loading it: " + std::strerror(-rc)};
  t_kind = kind_name(kind).data();  // a string literal
  return {};
}

namespace {
std::atomic<Mode> g_mode{Mode::kOff};
}  // namespace

Status set_process_mode(Mode mode) {
  if (mode != Mode::kOff) {
    // The kernel must know seccomp filters and the action the mode uses.
    std::ifstream in("/proc/sys/kernel/seccomp/actions_avail");
    std::string actions;
    std::getline(in, actions);
    const std::string need = mode == Mode::kOn ? "trap" : "log";
    if (actions.empty()) return Error{"seccomp: this kernel has no seccomp filters (/proc/sys/kernel/seccomp/actions_avail); use --seccomp=off"};
    if ((" " + actions + " ").find(" " + need + " ") == std::string::npos)
      return Error{"seccomp: this kernel's filters cannot '" + need + "' (actions: " + actions + "); use --seccomp=off"};
    if (mode == Mode::kOn) TANDEM_TRY(prepare_handler());
    // glibc's malloc sizes its arena limit lazily: the thread that would create the 9th arena reads
    // /sys/devices/system/cpu/online (openat), which no narrow list allows. Fixing the limit now,
    // to glibc's own default of 8 per CPU, takes that file access out of every later malloc.
    static std::once_flag arenas;
    std::call_once(arenas, [] { ::mallopt(M_ARENA_MAX, 8 * std::max(1, ::get_nprocs())); });
  }
  g_mode.store(mode);
  return {};
}

Mode process_mode() { return g_mode.load(); }

void enter(ThreadKind kind) {
  const Mode mode = g_mode.load();
  if (mode == Mode::kOff) return;
  if (auto s = install(kind, mode); !s.ok()) {
    std::fprintf(stderr, "tandem: %s\n", s.message().c_str());
    std::_Exit(1);
  }
}

}  // namespace tandem::seccomp
