// kvm_probe: does this machine's /dev/kvm really work for tandem?
//
// Opens /dev/kvm, checks the API version and the capabilities tandem needs (in-kernel irqchip,
// irqfd, ioeventfd), then creates a VM with an in-kernel irqchip and runs one vCPU in 64-bit long
// mode with paging: it writes guest memory and leaves through a few port I/O exits. A paravirtual
// /dev/kvm that only runs real-mode code, or one that hangs, fails here (a hang is cut by an alarm).
//
// Exit status 0: usable. 1: not usable (one line on stderr says why). Built by tools/nested-kvm
// with the host compiler so that it works before any Bazel build; kept dependency-free on purpose.
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "kvm-probe: %s%s%s\n", what, errno ? ": " : "", errno ? std::strerror(errno) : "");
  _exit(1);
}

void on_alarm(int) {}

constexpr uint64_t kMemSize = 2 << 20;
constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kCode = 0x4000, kData = 0x5000;

}  // namespace

int main() {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) fail("cannot open /dev/kvm");
  errno = 0;
  if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) fail("unexpected KVM API version");
  const struct { int cap; const char* name; } caps[] = {
      {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"}, {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
      {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},             {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
      {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
  };
  for (const auto& c : caps) {
    if (ioctl(kvm, KVM_CHECK_EXTENSION, c.cap) <= 0) {
      std::fprintf(stderr, "kvm-probe: missing capability %s\n", c.name);
      return 1;
    }
  }
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) fail("KVM_CREATE_VM");
  if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0) fail("KVM_SET_TSS_ADDR");
  if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) fail("KVM_CREATE_IRQCHIP");

  void* mem = mmap(nullptr, kMemSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) fail("mmap guest memory");
  auto* bytes = static_cast<uint8_t*>(mem);
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = kMemSize;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) fail("KVM_SET_USER_MEMORY_REGION");

  // Identity map the first 2 MiB with one large page.
  auto put64 = [&](uint64_t at, uint64_t v) { std::memcpy(bytes + at, &v, sizeof v); };
  put64(kPml4, kPdpt | 0x3);
  put64(kPdpt, kPd | 0x3);
  put64(kPd, 0x0 | 0x83);
  // mov eax, 0x1234; mov [kData], eax; mov al, 0x2a; out 0x10, al; inc al; out 0x10, al; inc al;
  // out 0x10, al; out 0x11, al   (no hlt: with an in-kernel LAPIC hlt never reaches userspace)
  const uint8_t code[] = {0xb8, 0x34, 0x12, 0x00, 0x00, 0x89, 0x04, 0x25, 0x00, 0x50, 0x00, 0x00,
                          0xb0, 0x2a, 0xe6, 0x10, 0xfe, 0xc0, 0xe6, 0x10, 0xfe, 0xc0, 0xe6, 0x10,
                          0xe6, 0x11, 0xeb, 0xfe};
  std::memcpy(bytes + kCode, code, sizeof code);

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) fail("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) fail("KVM_GET_VCPU_MMAP_SIZE");
  auto* run = static_cast<kvm_run*>(mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0));
  if (run == MAP_FAILED) fail("mmap kvm_run");

  kvm_sregs sregs{};
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) fail("KVM_GET_SREGS");
  kvm_segment cs{};
  cs.base = 0;
  cs.limit = 0xffffffff;
  cs.selector = 0x8;
  cs.type = 0xb;
  cs.present = 1;
  cs.dpl = 0;
  cs.s = 1;
  cs.l = 1;
  cs.g = 1;
  kvm_segment ds = cs;
  ds.selector = 0x10;
  ds.type = 0x3;
  ds.l = 0;
  ds.db = 1;
  sregs.cs = cs;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = ds;
  sregs.cr3 = kPml4;
  sregs.cr4 = 1u << 5;                       // PAE
  sregs.cr0 = 0x80000001u | (1u << 4);       // PG | PE | ET
  sregs.efer = (1u << 8) | (1u << 10);       // LME | LMA
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) fail("KVM_SET_SREGS");
  kvm_regs regs{};
  regs.rip = kCode;
  regs.rflags = 0x2;
  regs.rsp = 0x8000;
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) fail("KVM_SET_REGS");

  struct sigaction sa{};
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, nullptr);
  alarm(10);
  const uint8_t expect[] = {0x2a, 0x2b, 0x2c};
  int outs = 0;
  for (int exits = 0; exits < 100; ++exits) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR) { errno = 0; fail("vCPU did not finish within 10 s (hung)"); }
      fail("KVM_RUN");
    }
    if (run->exit_reason != KVM_EXIT_IO) {
      std::fprintf(stderr, "kvm-probe: unexpected exit reason %u\n", run->exit_reason);
      return 1;
    }
    uint8_t value = *(reinterpret_cast<uint8_t*>(run) + run->io.data_offset);
    if (run->io.port == 0x11) break;
    if (run->io.port != 0x10 || outs >= 3 || value != expect[outs]) {
      std::fprintf(stderr, "kvm-probe: wrong port I/O exit (port 0x%x value 0x%x)\n", run->io.port, value);
      return 1;
    }
    ++outs;
  }
  alarm(0);
  uint32_t written = 0;
  std::memcpy(&written, bytes + kData, sizeof written);
  if (outs != 3 || written != 0x1234) {
    std::fprintf(stderr, "kvm-probe: long-mode guest did not run as expected\n");
    return 1;
  }
  std::printf("kvm-probe: /dev/kvm works (API %d, long mode, irqchip, irqfd, ioeventfd)\n", KVM_API_VERSION);
  return 0;
}
