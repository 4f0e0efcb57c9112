// tools/lib/kvm-arm64-check.c: proves that an arm64 /dev/kvm works for a tandem-like VMM: a VM
// (largest IPA size), a GICv3 vgic and an ITS, a vCPU inited with PSCI 0.2 that runs one MMIO byte
// write at 0x09010000 (the guest init's boot mark) and then PSCI SYSTEM_OFF. Prints the
// capabilities that matter, then OK (exit 0) or what failed (exit 1). Not built by Bazel:
//   aarch64-linux-gnu-gcc -O1 -o kvm-arm64-check tools/lib/kvm-arm64-check.c
//   tools/nested-kvm --arch aarch64 -- ./kvm-arm64-check
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

extern const unsigned char guest_start[], guest_end[];
__asm__(".section .rodata\n.global guest_start\nguest_start:\n"
        "movz x2, #0x0901, lsl #16\n mov w1, #0x5a\n strb w1, [x2]\n"
        "movz x0, #0x0008\n movk x0, #0x8400, lsl #16\n hvc #0\n1: b 1b\n"
        ".global guest_end\nguest_end:\n.previous\n");

#define CORE_REG(x) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, x) / sizeof(__u32)))
static int fail(const char *what) { printf("FAIL %s: %s\n", what, strerror(errno)); return 1; }

int main(void) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return fail("open /dev/kvm");
  printf("api_version=%d\n", ioctl(kvm, KVM_GET_API_VERSION, 0));
  struct { const char *name; long cap; } caps[] = {
    {"ARM_VM_IPA_SIZE", KVM_CAP_ARM_VM_IPA_SIZE}, {"NR_VCPUS", KVM_CAP_NR_VCPUS},
    {"MAX_VCPUS", KVM_CAP_MAX_VCPUS}, {"MAX_VCPU_ID", KVM_CAP_MAX_VCPU_ID},
    {"ARM_PSCI_0_2", KVM_CAP_ARM_PSCI_0_2}, {"ARM_PMU_V3", KVM_CAP_ARM_PMU_V3},
    {"ARM_SVE", KVM_CAP_ARM_SVE}, {"ARM_PTRAUTH_ADDRESS", KVM_CAP_ARM_PTRAUTH_ADDRESS},
    {"ARM_EL1_32BIT", KVM_CAP_ARM_EL1_32BIT}, {"ARM_MTE", KVM_CAP_ARM_MTE},
    {"IRQFD", KVM_CAP_IRQFD}, {"IOEVENTFD", KVM_CAP_IOEVENTFD}, {"ONE_REG", KVM_CAP_ONE_REG},
    {"ARM_NISV_TO_USER", KVM_CAP_ARM_NISV_TO_USER}, {"ARM_IRQ_LINE_LAYOUT_2", KVM_CAP_ARM_IRQ_LINE_LAYOUT_2},
    {"READONLY_MEM", KVM_CAP_READONLY_MEM}, {"NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS},
    {"SIGNAL_MSI", KVM_CAP_SIGNAL_MSI}, {"IRQ_ROUTING", KVM_CAP_IRQ_ROUTING},
    {"DIRTY_LOG_RING", KVM_CAP_DIRTY_LOG_RING}, {"ARM_SYSTEM_SUSPEND", KVM_CAP_ARM_SYSTEM_SUSPEND},
  };
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
    printf("KVM_CAP_%s=%d\n", caps[i].name, ioctl(kvm, KVM_CHECK_EXTENSION, caps[i].cap));
  int ipa = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
  int vm = ioctl(kvm, KVM_CREATE_VM, ipa > 0 ? KVM_VM_TYPE_ARM_IPA_SIZE(ipa) : 0);
  if (vm < 0) return fail("KVM_CREATE_VM");
  size_t mem_size = 1 << 20;
  void *mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memcpy(mem, guest_start, guest_end - guest_start);
  struct kvm_userspace_memory_region region = {0, 0, 0x40000000, mem_size, (uintptr_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) return fail("KVM_SET_USER_MEMORY_REGION");

  struct kvm_create_device gic = {.type = KVM_DEV_TYPE_ARM_VGIC_V3};
  if (ioctl(vm, KVM_CREATE_DEVICE, &gic) < 0) return fail("KVM_CREATE_DEVICE vgic-v3");
  uint64_t dist = 0x08000000, redist = 0x080a0000, its_base = 0x08080000;
  struct kvm_device_attr a = {0, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, (uintptr_t)&dist};
  if (ioctl(gic.fd, KVM_SET_DEVICE_ATTR, &a) < 0) return fail("vgic-v3 distributor address");
  a.attr = KVM_VGIC_V3_ADDR_TYPE_REDIST; a.addr = (uintptr_t)&redist;
  if (ioctl(gic.fd, KVM_SET_DEVICE_ATTR, &a) < 0) return fail("vgic-v3 redistributor address");
  struct kvm_create_device its = {.type = KVM_DEV_TYPE_ARM_VGIC_ITS};
  if (ioctl(vm, KVM_CREATE_DEVICE, &its) < 0) {
    printf("VGIC_ITS=no (%s)\n", strerror(errno));
  } else {
    struct kvm_device_attr ia = {0, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, (uintptr_t)&its_base};
    int r = ioctl(its.fd, KVM_SET_DEVICE_ATTR, &ia);
    printf("VGIC_ITS=yes (address set: %s)\n", r < 0 ? strerror(errno) : "ok");
  }

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) return fail("KVM_CREATE_VCPU");
  struct kvm_vcpu_init init;
  if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0) return fail("KVM_ARM_PREFERRED_TARGET");
  printf("preferred_target=%u\n", init.target);
  init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
  if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0) return fail("KVM_ARM_VCPU_INIT (PSCI 0.2)");

  uint32_t nr_irqs = 128;
  struct kvm_device_attr n = {0, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, (uintptr_t)&nr_irqs};
  if (ioctl(gic.fd, KVM_SET_DEVICE_ATTR, &n) < 0) return fail("vgic-v3 NR_IRQS");
  struct kvm_device_attr ctl = {0, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, 0};
  if (ioctl(gic.fd, KVM_SET_DEVICE_ATTR, &ctl) < 0) return fail("vgic-v3 CTRL_INIT");
  if (its.fd > 0) {
    struct kvm_device_attr ic = {0, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, 0};
    printf("VGIC_ITS init: %s\n", ioctl(its.fd, KVM_SET_DEVICE_ATTR, &ic) < 0 ? strerror(errno) : "ok");
  }

  uint64_t pc = 0x40000000;
  struct kvm_one_reg reg = {CORE_REG(regs.pc), (uintptr_t)&pc};
  if (ioctl(vcpu, KVM_SET_ONE_REG, &reg) < 0) return fail("KVM_SET_ONE_REG pc");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  int saw_mmio = 0;
  for (int i = 0; i < 10; i++) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) return fail("KVM_RUN");
    if (run->exit_reason == KVM_EXIT_MMIO) {
      printf("exit MMIO %s addr=0x%llx len=%u data=0x%x\n", run->mmio.is_write ? "write" : "read",
             (unsigned long long)run->mmio.phys_addr, run->mmio.len, run->mmio.data[0]);
      saw_mmio = run->mmio.is_write && run->mmio.phys_addr == 0x09010000 && run->mmio.data[0] == 0x5a;
      continue;
    }
    if (run->exit_reason == KVM_EXIT_SYSTEM_EVENT) {
      printf("exit SYSTEM_EVENT type=%u (%s)\n", run->system_event.type,
             run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ? "PSCI SYSTEM_OFF" : "other");
      if (saw_mmio && run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) { puts("OK"); return 0; }
      break;
    }
    printf("unexpected exit %u\n", run->exit_reason);
    break;
  }
  puts("FAIL: the vCPU did not run the guest code as expected");
  return 1;
}
