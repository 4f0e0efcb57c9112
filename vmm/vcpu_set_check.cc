// vmm/vcpu_set_check.cc: checks VcpuSet on real KVM (run by tests/e2e/vcpu-pause.sh inside
// tools/nested-kvm, since it needs a working /dev/kvm).
//
// Two vCPUs spin in real mode writing to a port; the port device counts. pause() must stop every
// count, resume() must restart them, stop() must join every thread; a vCPU that already ended must
// not make pause() wait for ever; afterwards the process has its original threads and file
// descriptors. Prints one line per check, exits 0 only if all hold.
#include <dirent.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

#include "devices/bus.h"
#include "memory/guest_memory.h"
#include "vmm/arch/x86_64/kvm_x86_64.h"
#include "vmm/exit_controller.h"
#include "vmm/kvm/kvm.h"
#include "vmm/vcpu_set.h"

using namespace tandem;

namespace {
struct Counter : BusDevice {
  std::atomic<uint64_t> count{0};
  void read(uint64_t, std::span<uint8_t> data) override { for (auto& b : data) b = 0; }
  void write(uint64_t, std::span<const uint8_t>) override { count.fetch_add(1, std::memory_order_relaxed); }
  std::string name() const override { return "counter"; }
};

int count_entries(const char* dir) {
  int n = 0;
  if (DIR* d = opendir(dir)) {
    while (auto* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

int failures = 0;
void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}
void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// A vCPU in real mode with CS base 0, starting at rip.
Result<kvm::Vcpu> real_mode_vcpu(const kvm::Vm& vm, uint32_t id, int mmap_size, uint64_t rip) {
  auto v = vm.create_vcpu(id, mmap_size);
  if (!v) return v.error();
  auto sregs = kvm::get_sregs(*v);
  if (!sregs) return sregs.error();
  sregs->cs.base = 0;
  sregs->cs.selector = 0;
  (void)kvm::set_sregs(*v, *sregs);
  kvm_regs regs{};
  regs.rip = rip;
  regs.rflags = 0x2;
  (void)kvm::set_regs(*v, regs);
  return v;
}
}  // namespace

int main() {
  const int fds_before = count_entries("/proc/self/fd");
  int threads_before = count_entries("/proc/self/task");
  {
    auto kvm = kvm::Kvm::open();
    if (!kvm) { std::printf("FAILED: %s\n", kvm.message().c_str()); return 1; }
    auto vm = kvm->create_vm();
    auto mmap_size = kvm->vcpu_mmap_size();
    if (!vm || !mmap_size) { std::printf("FAILED: cannot create a VM\n"); return 1; }
    if (auto s = kvm::set_tss_addr(*vm, 0xfffbd000); !s) { std::printf("FAILED: %s\n", s.message().c_str()); return 1; }
    auto mem = GuestMemory::create({{0, 1 << 20}});
    if (!mem) { std::printf("FAILED: %s\n", mem.message().c_str()); return 1; }
    auto& r = mem->regions()[0];
    if (auto s = vm->set_user_memory_region(0, r.gpa, r.size, r.host); !s) { std::printf("FAILED: %s\n", s.message().c_str()); return 1; }
    // Real mode at 0x1000: out 0x10, al; inc al; jmp back.
    const uint8_t code[] = {0xe6, 0x10, 0xfe, 0xc0, 0xeb, 0xfa};
    (void)mem->write(0x1000, code);

    std::vector<kvm::Vcpu> vcpus;
    for (uint32_t i = 0; i < 2; ++i) {
      auto v = real_mode_vcpu(*vm, i, *mmap_size, 0x1000);
      if (!v) { std::printf("FAILED: %s\n", v.message().c_str()); return 1; }
      vcpus.push_back(std::move(v).value());
    }
    Bus pio("pio"), mmio("mmio");
    auto counter = std::make_shared<Counter>();
    (void)pio.insert(counter, 0x10, 1);
    ExitController exit;
    VcpuSet set(std::move(vcpus), pio, mmio, exit, kvm::describe_registers);
    threads_before = count_entries("/proc/self/task");
    set.start();
    sleep_ms(300);
    uint64_t c0 = counter->count.load();
    check(c0 > 0, "running vCPUs make exits");
    // Count threads after the VM exists (KVM may add a worker of its own to the process).
    const int threads_running = count_entries("/proc/self/task");
    std::printf("threads: %d before the VM, %d with 2 vCPUs running\n", threads_before, threads_running);
    set.pause();
    check(set.paused(), "pause() reports paused");
    uint64_t c1 = counter->count.load();
    sleep_ms(300);
    uint64_t c2 = counter->count.load();
    check(c1 == c2, "no vCPU runs while paused");
    set.resume();
    sleep_ms(300);
    check(counter->count.load() > c2, "vCPUs run again after resume()");
    set.pause();
    set.resume();
    // (newer kernels run KVM's own NX-huge-page worker as a thread of the VMM process, once a vCPU ran)
    check(threads_running - threads_before == 2 || threads_running - threads_before == 3, "one thread per vCPU");
    set.stop();
    // A joined thread can linger in /proc/self/task for a moment after pthread_join returns (the
    // kernel clears its tid before it leaves the thread group): allow it a second to go.
    int left = count_entries("/proc/self/task");
    for (int i = 0; i < 100 && left != threads_running - 2; ++i) {
      sleep_ms(10);
      left = count_entries("/proc/self/task");
    }
    check(left == threads_running - 2, "stop() joins every vCPU thread");
    check(!exit.requested(), "no exit was requested along the way");
    std::printf("exits counted: %llu\n", static_cast<unsigned long long>(counter->count.load()));

    // A vCPU that ended before a pause (here its guest triple-faults at once: lidt with limit 0,
    // then int3) never parks; pause() must still return (it waited for ever, found by review).
    const uint8_t fault[] = {0x0f, 0x01, 0x1e, 0x00, 0x11, 0xcc};  // lidt [0x1100]; int3
    (void)mem->write(0x2000, fault);
    std::vector<kvm::Vcpu> more;
    for (uint32_t i = 2; i < 4; ++i) {
      auto v = real_mode_vcpu(*vm, i, *mmap_size, i == 2 ? 0x2000 : 0x1000);
      if (!v) { std::printf("FAILED: %s\n", v.message().c_str()); return 1; }
      more.push_back(std::move(v).value());
    }
    ExitController exit2;
    VcpuSet set2(std::move(more), pio, mmio, exit2, kvm::describe_registers);
    set2.start();
    for (int i = 0; i < 500 && !exit2.requested(); ++i) sleep_ms(10);
    check(exit2.requested() && exit2.reason().find("triple fault") != std::string::npos, "a triple fault ends its vCPU");
    // Its registers show where (the lidt/int3 at 0x2000), or say that KVM has reset them (AMD).
    const std::string why = exit2.reason();
    check(why.find("rip=000000000000200") != std::string::npos || why.find("(the vCPU's INIT state") != std::string::npos,
          "the triple fault's registers say where it happened, or that KVM has reset them");
    std::printf("triple fault: %s\n", why.c_str());
    auto paused = std::async(std::launch::async, [&] { set2.pause(); });
    bool returned = paused.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    check(returned, "pause() returns when a vCPU has already ended");
    if (!returned) {
      std::printf("VCPU-SET-CHECK FAILED\n");
      std::fflush(stdout);
      std::_Exit(1);  // a thread is stuck in pause(): no orderly way out
    }
    set2.stop();
  }
  check(count_entries("/proc/self/fd") == fds_before, "no file descriptor is left behind");
  std::printf("%s\n", failures ? "VCPU-SET-CHECK FAILED" : "VCPU-SET-CHECK PASSED");
  return failures ? 1 : 0;
}
