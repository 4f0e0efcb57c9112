// vmm/arch/x86_64/cpuid.h: the CPUID each vCPU sees.
//
// Starts from KVM_GET_SUPPORTED_CPUID and normalises it per vCPU: its APIC ID and a consistent
// topology (one socket, `num_cpus` cores, one thread each) in leaves 0x1, 0x4, 0xB, 0x1F and AMD's
// 0x80000008/0x8000001E; the hypervisor bit; and leaf 0xD (XSAVE) rebuilt consistently from the
// state components the vCPU really exposes, so that the guest's XSAVE size checks agree (passing
// nested KVM's leaf 0xD through makes stock kernels warn); and the brand string where KVM reports
// none. Pure functions, testable without KVM (host_brand_string reads the host's CPUID).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vmm/arch/x86_64/kvm_x86_64.h"

namespace tandem::x86 {

// Bits needed to number `n` items (0 for 1, 1 for 2, 2 for 3-4, ...).
uint32_t bits_for(uint32_t n);

void normalize_cpuid(kvm::CpuidTable& table, uint32_t apic_id, uint32_t num_cpus);

// Sets CPUID.1:ECX[24], the LAPIC's TSC-deadline timer mode. KVM emulates it but leaves it out of
// KVM_GET_SUPPORTED_CPUID: userspace learns it from KVM_CAP_TSC_DEADLINE_TIMER and sets the bit
// itself (QEMU, Firecracker and Cloud Hypervisor all do). Without it Linux programs the LAPIC
// timer in one-shot mode. No leaf 1: nothing to do.
void expose_tsc_deadline(kvm::CpuidTable& table);

// Hides XSAVE from the guest, with every feature whose state XSAVE manages or that needs it
// (OSXSAVE, AVX, AVX2, FMA, F16C, AVX-512, VAES, VPCLMULQDQ, AVX-VNNI, PKU, AMX, AMD's XOP and FMA4)
// and leaf 0xD: the guest saves its FPU state with FXSAVE. `tandem vm --xsave off`.
void hide_xsave(kvm::CpuidTable& table);

// The processor brand string of leaves 0x80000002-0x80000004 (up to 48 bytes, the rest NUL; the
// guest's /proc/cpuinfo "model name"). Fills them only where the table's leaves are missing or all
// zero (nested KVM may report them so, and Linux then names the CPU after its family: "Hammer"),
// and raises leaf 0x80000000's highest extended leaf to reach them. No leaf 0x80000000, or an
// empty brand: nothing to do.
void fill_brand_string(kvm::CpuidTable& table, std::string_view brand);

// The host CPU's brand string from the CPUID instruction, spaces trimmed; empty when there is none.
std::string host_brand_string();

// The XCR0 a vCPU starts with: the state components leaf 0xD exposes when CPUID says XSAVE is
// there, else 0 (leave XCR0 alone).
uint64_t initial_xcr0(const kvm::CpuidTable& table);

}  // namespace tandem::x86
