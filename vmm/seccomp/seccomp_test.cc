// Unit tests for vmm/seccomp: each list is made of real x86_64 system calls, and an installed list
// is enforced for real, in a forked child: a listed call works, one outside the list ends the
// process with kExitStatus and a line naming it (kOn), or is only logged (kLog). The same for
// arguments: each kind's forbidden ioctl requests, PROT_EXEC mappings and non-AF_UNIX sockets.
#include <doctest/doctest.h>

#include <algorithm>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/netlink.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

// <linux/virtio_ring.h>'s legacy vring_init() is not valid C++; vhost.h pulls it in.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/unix_socket.h"
#include "vmm/seccomp/seccomp.h"

using namespace tandem;
using namespace tandem::seccomp;

namespace {
struct Outcome {
  int status = -1;  // exit status, or 128 + signal
  std::string err;
};

// Runs `body` in a child whose stderr is captured.
template <typename F>
Outcome in_child(F body) {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(p[0]);
    ::dup2(p[1], STDERR_FILENO);
    ::_exit(body());
  }
  ::close(p[1]);
  Outcome o;
  char buf[512];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) o.err.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int ws = 0;
  REQUIRE(::waitpid(pid, &ws, 0) == pid);
  o.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  return o;
}
}  // namespace

TEST_CASE("modes parse from the command line's words") {
  CHECK(parse_mode("on").value() == Mode::kOn);
  CHECK(parse_mode("log").value() == Mode::kLog);
  CHECK(parse_mode("off").value() == Mode::kOff);
  auto bad = parse_mode("strict");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.message().find("'strict' is not on, log or off") != std::string::npos);
}

TEST_CASE("every listed name is an x86_64 system call, listed once") {
  for (ThreadKind k : {ThreadKind::kVmm, ThreadKind::kVcpu, ThreadKind::kDevice, ThreadKind::kConsole}) {
    const auto& names = allowed(k);
    CHECK(names.size() > 30);
    for (size_t i = 0; i < names.size(); ++i) {
      INFO(kind_name(k), ": ", names[i]);
      CHECK(seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, std::string(names[i]).c_str()) != __NR_SCMP_ERROR);
      for (size_t j = 0; j < i; ++j) CHECK(names[j] != names[i]);
    }
  }
  // The narrow lists stay narrow: no files to open, no sockets to listen on.
  for (ThreadKind k : {ThreadKind::kVcpu, ThreadKind::kDevice, ThreadKind::kConsole})
    for (std::string_view n : allowed(k)) {
      CHECK(n != "openat");
      CHECK(n != "bind");
      CHECK(n != "execve");
    }
}

TEST_CASE("a call arm64 does not have comes with the form arm64 glibc uses instead") {
  // arm64 has only the generic system calls: glibc makes the old ones with their newer forms.
  const std::pair<std::string_view, std::string_view> newer[] = {
      {"readlink", "readlinkat"}, {"chmod", "fchmodat"}, {"unlink", "unlinkat"}, {"access", "faccessat"},
      {"dup2", "dup3"},           {"poll", "ppoll"},     {"epoll_wait", "epoll_pwait"}, {"open", "openat"},
  };
  for (ThreadKind k : {ThreadKind::kVmm, ThreadKind::kVcpu, ThreadKind::kDevice, ThreadKind::kConsole}) {
    const auto& names = allowed(k);
    auto listed = [&](std::string_view n) { return std::find(names.begin(), names.end(), n) != names.end(); };
    for (std::string_view n : names) {
      // libseccomp answers a negative pseudo number (__PNR_*) for a call the architecture lacks
      if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_AARCH64, std::string(n).c_str()) >= 0) continue;
      INFO(kind_name(k), ": ", n, " has no arm64 system call");
      auto it = std::find_if(std::begin(newer), std::end(newer), [&](const auto& p) { return p.first == n; });
      REQUIRE(it != std::end(newer));  // a new x86-only name: add its arm64 form here and to the list
      CHECK(listed(it->second));
      CHECK(seccomp_syscall_resolve_name_arch(SCMP_ARCH_AARCH64, std::string(it->second).c_str()) >= 0);
    }
  }
}

TEST_CASE("on: a listed call works, one outside the list ends the process naming it") {
  Outcome ok = in_child([] {
    if (!install(ThreadKind::kDevice, Mode::kOn).ok()) return 10;
    char c = 'x';
    return ::write(STDERR_FILENO, &c, 1) == 1 ? 0 : 11;
  });
  CHECK(ok.status == 0);
  CHECK(ok.err == "x");

  Outcome denied = in_child([] {
    if (!install(ThreadKind::kDevice, Mode::kOn).ok()) return 10;
    ::syscall(SYS_getuid);  // a device worker has no business asking
    return 0;
  });
  CHECK(denied.status == kExitStatus);
  CHECK(denied.err.find("tandem: seccomp: the device thread") != std::string::npos);
  CHECK(denied.err.find("made system call getuid (102)") != std::string::npos);
}

TEST_CASE("a device thread takes a connection and checks who it is (SO_PEERCRED) inside its sandbox") {
  // The policy is made (and our uid looked up) before the sandbox, as the VMM does at start-up.
  Outcome o = in_child([] {
    char dir[] = "/tmp/tandem-seccomp-test.XXXXXX";
    if (!::mkdtemp(dir)) return 12;
    const std::string path = std::string(dir) + "/s.sock";
    auto listener = listen_private(path, 4);
    if (!listener) return 13;
    PeerPolicy policy;
    auto address = unix_address(path);
    UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(client.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof *address) != 0) return 14;
    if (!install(ThreadKind::kDevice, Mode::kOn).ok()) return 10;
    UniqueFd conn(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
    return conn && check_peer(conn.get(), policy).ok() ? 0 : 11;
  });
  CHECK_MESSAGE(o.status == 0, o.err);
}

TEST_CASE("the VMM thread binds a listener inside its sandbox (a device hot-added through the API)") {
  Outcome o = in_child([] {
    char dir[] = "/tmp/tandem-seccomp-test.XXXXXX";
    if (!::mkdtemp(dir)) return 12;
    if (!install(ThreadKind::kVmm, Mode::kOn).ok()) return 10;
    auto listener = listen_private(std::string(dir) + "/hot.sock", 4);
    return listener ? 0 : 11;
  });
  CHECK_MESSAGE(o.status == 0, o.err);
}

TEST_CASE("log: a call outside the list proceeds") {
  Outcome o = in_child([] {
    if (!install(ThreadKind::kDevice, Mode::kLog).ok()) return 10;
    return ::syscall(SYS_getuid) == static_cast<long>(::getuid()) ? 0 : 11;
  });
  CHECK(o.status == 0);
  CHECK(o.err.empty());
}

TEST_CASE("off installs nothing") {
  Outcome o = in_child([] {
    if (!install(ThreadKind::kConsole, Mode::kOff).ok()) return 10;
    return ::syscall(SYS_getuid) >= 0 ? 0 : 11;
  });
  CHECK(o.status == 0);
}

TEST_CASE("lists stack: a thread started later keeps its creator's list") {
  Outcome o = in_child([] {
    if (!install(ThreadKind::kVmm, Mode::kOn).ok()) return 10;
    if (::syscall(SYS_getuid) < 0) return 11;  // the main thread may
    if (!install(ThreadKind::kConsole, Mode::kOn).ok()) return 12;
    ::syscall(SYS_socket, 1, 1, 0);  // neither list stops the other: console has no socket()
    return 0;
  });
  CHECK(o.status == kExitStatus);
  CHECK(o.err.find("console thread") != std::string::npos);
  CHECK(o.err.find("socket (41)") != std::string::npos);
}

TEST_CASE("the process mode starts off; enter() follows it") {
  CHECK(process_mode() == Mode::kOff);
  Outcome o = in_child([] {
    enter(ThreadKind::kDevice);  // off: nothing installed
    if (::syscall(SYS_getuid) < 0) return 10;
    if (!set_process_mode(Mode::kOn).ok()) return 11;
    enter(ThreadKind::kDevice);
    ::syscall(SYS_getuid);
    return 0;
  });
  CHECK(o.status == kExitStatus);
  CHECK(o.err.find("getuid") != std::string::npos);
}

TEST_CASE("many confined threads allocate at once: malloc makes no call outside the lists") {
  // glibc looks its arena limit up (openat of /sys/devices/system/cpu/online) when a ninth thread
  // needs an arena of its own; set_process_mode fixes the limit first. As in tandem, a confined
  // vCPU thread starts the workers, so their first malloc already runs under its list; 24 of them
  // each hold an allocation while the others make theirs.
  Outcome o = in_child([] {
    if (!set_process_mode(Mode::kOn).ok()) return 10;
    std::thread([] {}).join();  // glibc's one-time thread set-up (signal handlers), as tandem's
                                // main thread does it before any list is in place
    enter(ThreadKind::kVcpu);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 24; ++i)
      threads.emplace_back([&ready] {
        void* p = std::malloc(1000);
        enter(ThreadKind::kDevice);
        ready.fetch_add(1);
        while (ready.load() < 24) std::this_thread::yield();
        std::free(p);
      });
    for (auto& t : threads) t.join();
    return 0;
  });
  INFO(o.err);
  CHECK(o.status == 0);
}

// ---- Arguments (issue 26 §5) -------------------------------------------------------------------

namespace {
constexpr ThreadKind kKinds[] = {ThreadKind::kVmm, ThreadKind::kVcpu, ThreadKind::kDevice, ThreadKind::kConsole};

// The ioctl requests `kind` may make (empty: no ioctl at all).
std::vector<uint32_t> requests(ThreadKind kind) {
  std::vector<uint32_t> out;
  for (const Rule& r : rules(kind))
    if (r.name == "ioctl")
      for (const ArgMatch& m : r.any_of) out.push_back(static_cast<uint32_t>(m.value));
  return out;
}
bool has_request(ThreadKind kind, unsigned long request) {
  auto r = requests(kind);
  return std::find(r.begin(), r.end(), static_cast<uint32_t>(request)) != r.end();
}

std::string hex_of(unsigned long v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%lx", v);
  return buf;
}

// A call a kind must not make: what it does, the system call the line names, and an argument it
// shows.
struct Forbidden {
  const char* what;
  int (*call)();
  const char* syscall;
  unsigned long shown;
};
int page_exec() { return ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? 1 : 0; }
int protect_exec() {
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 2;
  return ::mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 ? 0 : 1;
}
int inet_socket() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) ::close(fd);
  return 0;
}
int netlink_socket() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd >= 0) ::close(fd);
  return 0;
}
int make_dumpable() { return ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0); }
// Reading another process's memory (init's): whatever it returns, the call was made.
int read_other_process() {
  char byte = 0;
  iovec local{&byte, 1}, remote{reinterpret_cast<void*>(0x1000), 1};
  (void)::process_vm_readv(1, &local, 1, &remote, 1, 0);
  return 0;
}
int allow_any_ptracer() { return ::prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0) == 0 || errno == EINVAL ? 0 : 1; }
// The filter decides before the kernel looks at the fd: -1 will do.
template <unsigned long R>
int request_on_nothing() {
  return ::ioctl(-1, R, 0) == -1 && errno == EBADF ? 0 : 1;
}

const Forbidden kEveryKind[] = {
    {"mmap with PROT_EXEC", page_exec, "mmap", PROT_READ | PROT_EXEC},
    {"mprotect with PROT_EXEC", protect_exec, "mprotect", PROT_READ | PROT_EXEC},
    {"socket(AF_INET)", inet_socket, "socket", AF_INET},
    {"socket(AF_NETLINK)", netlink_socket, "socket", AF_NETLINK},
    {"KVM_CREATE_VCPU", request_on_nothing<KVM_CREATE_VCPU>, "ioctl", KVM_CREATE_VCPU},
    {"KVM_CREATE_VM", request_on_nothing<KVM_CREATE_VM>, "ioctl", KVM_CREATE_VM},
    {"TIOCSTI (typing into a terminal)", request_on_nothing<TIOCSTI>, "ioctl", TIOCSTI},
    {"SIOCSIFADDR", request_on_nothing<SIOCSIFADDR>, "ioctl", SIOCSIFADDR},
    {"prctl(PR_SET_DUMPABLE)", make_dumpable, "prctl", PR_SET_DUMPABLE},
    {"prctl(PR_SET_PTRACER)", allow_any_ptracer, "prctl", PR_SET_PTRACER},
    {"process_vm_readv of another process", read_other_process, "process_vm_readv", 1},
};
const Forbidden kNotVmm[] = {{"KVM_RUN", request_on_nothing<KVM_RUN>, "ioctl", KVM_RUN}};
const Forbidden kNotVcpu[] = {
    {"KVM_SET_USER_MEMORY_REGION", request_on_nothing<KVM_SET_USER_MEMORY_REGION>, "ioctl", KVM_SET_USER_MEMORY_REGION},
    {"TUNSETIFF", request_on_nothing<TUNSETIFF>, "ioctl", TUNSETIFF},
    {"VHOST_SET_OWNER", request_on_nothing<VHOST_SET_OWNER>, "ioctl", VHOST_SET_OWNER},
    {"FIONBIO", request_on_nothing<FIONBIO>, "ioctl", FIONBIO},
};
const Forbidden kNotDevice[] = {
    {"KVM_SET_USER_MEMORY_REGION", request_on_nothing<KVM_SET_USER_MEMORY_REGION>, "ioctl", KVM_SET_USER_MEMORY_REGION},
    {"KVM_RUN", request_on_nothing<KVM_RUN>, "ioctl", KVM_RUN},
    {"TUNSETIFF", request_on_nothing<TUNSETIFF>, "ioctl", TUNSETIFF},
    {"TUNSETOFFLOAD", request_on_nothing<TUNSETOFFLOAD>, "ioctl", TUNSETOFFLOAD},
    {"VHOST_SET_MEM_TABLE", request_on_nothing<0x4008af03UL>, "ioctl", 0x4008af03UL},
    {"FIONBIO", request_on_nothing<FIONBIO>, "ioctl", FIONBIO},
};
const Forbidden kNotConsole[] = {
    {"KVM_SET_USER_MEMORY_REGION", request_on_nothing<KVM_SET_USER_MEMORY_REGION>, "ioctl", KVM_SET_USER_MEMORY_REGION},
    {"KVM_IRQFD", request_on_nothing<KVM_IRQFD>, "ioctl", KVM_IRQFD},
    {"TCSETS", request_on_nothing<TCSETS>, "ioctl", TCSETS},
};

std::vector<Forbidden> forbidden(ThreadKind kind) {
  std::vector<Forbidden> out(std::begin(kEveryKind), std::end(kEveryKind));
  std::span<const Forbidden> more;
  switch (kind) {
    case ThreadKind::kVmm: more = kNotVmm; break;
    case ThreadKind::kVcpu: more = kNotVcpu; break;
    case ThreadKind::kDevice: more = kNotDevice; break;
    case ThreadKind::kConsole: more = kNotConsole; break;
  }
  out.insert(out.end(), more.begin(), more.end());
  return out;
}
}  // namespace

TEST_CASE("only the VMM's list may change memory slots; no list may create a vCPU or a VM") {
  CHECK(has_request(ThreadKind::kVmm, KVM_SET_USER_MEMORY_REGION));
  for (ThreadKind k : kKinds) {
    INFO(kind_name(k));
    if (k != ThreadKind::kVmm) CHECK_FALSE(has_request(k, KVM_SET_USER_MEMORY_REGION));
    CHECK_FALSE(has_request(k, KVM_CREATE_VCPU));
    CHECK_FALSE(has_request(k, KVM_CREATE_VM));
    auto r = requests(k);
    for (size_t i = 0; i < r.size(); ++i)
      for (size_t j = 0; j < i; ++j) CHECK_MESSAGE(r[i] != r[j], hex_of(r[i]), " listed twice");
  }
  CHECK(requests(ThreadKind::kConsole).empty());
  CHECK(has_request(ThreadKind::kVcpu, KVM_RUN));
}

TEST_CASE("a creator's list holds what the workers it starts need (their list is the intersection)") {
  // Device workers are started by the main thread (before and after its own list) and by vCPUs.
  for (ThreadKind creator : {ThreadKind::kVmm, ThreadKind::kVcpu}) {
    INFO(kind_name(creator));
    for (uint32_t r : requests(ThreadKind::kDevice)) CHECK_MESSAGE(has_request(creator, r), hex_of(r));
    const auto& names = allowed(creator);
    for (std::string_view n : allowed(ThreadKind::kDevice))
      CHECK_MESSAGE(std::find(names.begin(), names.end(), n) != names.end(), n);
  }
}

TEST_CASE("on: each kind's forbidden calls end the process, naming the call and its arguments") {
  for (ThreadKind k : kKinds)
    for (const Forbidden& f : forbidden(k)) {
      INFO(std::string(kind_name(k)), ": ", std::string(f.what));
      Outcome o = in_child([k, &f] {
        if (!install(k, Mode::kOn).ok()) return 10;
        return f.call() == 0 ? 0 : 11;
      });
      CHECK(o.status == kExitStatus);
      const int nr = seccomp_syscall_resolve_name(f.syscall);
      CHECK(o.err.find("tandem: seccomp: the " + std::string(kind_name(k)) + " thread") != std::string::npos);
      CHECK_MESSAGE(o.err.find("made system call " + std::string(f.syscall) + " (" + std::to_string(nr) + ") with arguments") != std::string::npos, o.err);
      CHECK_MESSAGE(o.err.find(hex_of(f.shown)) != std::string::npos, o.err);
    }
}

TEST_CASE("on: each kind's allowed ioctl requests, AF_UNIX sockets and plain mappings go through") {
  for (ThreadKind k : kKinds) {
    INFO(kind_name(k));
    const std::vector<uint32_t> reqs = requests(k);
    Outcome o = in_child([k, &reqs] {
      if (!install(k, Mode::kOn).ok()) return 10;
      for (uint32_t r : reqs)
        if (::ioctl(-1, static_cast<unsigned long>(r), 0) != -1 || errno != EBADF) return 11;
      void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED || ::mprotect(p, 4096, PROT_READ) != 0) return 12;
      char name[16] = {};
      if (::prctl(PR_SET_NAME, "tandem-test", 0, 0, 0) != 0 || ::prctl(PR_GET_NAME, name, 0, 0, 0) != 0) return 14;
      if (k == ThreadKind::kConsole) return 0;  // no sockets at all
      int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s < 0) return 13;
      ::close(s);
      // its own memory, as memory/fallible_read.h reads a peer's (the pid is the child's own)
      uint64_t want = 0x1122334455667788ULL, got = 0;
      iovec local{&got, sizeof got}, remote{&want, sizeof want};
      if (::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) != sizeof got || got != want) return 15;
      return 0;
    });
    CHECK_MESSAGE(o.status == 0, o.err);
    CHECK(reqs.empty() == (k == ThreadKind::kConsole));
  }
}

TEST_CASE("log: each kind's forbidden calls return normally (the kernel only logs them)") {
  for (ThreadKind k : kKinds) {
    INFO(kind_name(k));
    const std::vector<Forbidden> calls = forbidden(k);
    Outcome o = in_child([k, &calls] {
      if (!install(k, Mode::kLog).ok()) return 10;
      int failed = 0;
      for (const Forbidden& f : calls) failed += f.call() == 0 ? 0 : 1;
      return failed ? 20 + failed : 0;
    });
    CHECK_MESSAGE(o.status == 0, o.err);
    CHECK(o.err.empty());
  }
}
