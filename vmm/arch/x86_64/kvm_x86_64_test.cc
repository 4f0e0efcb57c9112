// Unit tests for vmm/arch/x86_64/kvm_x86_64 that need no working KVM: the CPUID table.
#include <doctest/doctest.h>

#include "vmm/arch/x86_64/kvm_x86_64.h"

using namespace tandem;

TEST_CASE("CPUID table lookup honours the significant-index flag") {
  kvm::CpuidTable t;
  kvm_cpuid_entry2 a{};
  a.function = 0xd;
  a.index = 1;
  a.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  a.eax = 7;
  kvm_cpuid_entry2 b{};
  b.function = 1;
  b.eax = 9;
  t.entries = {a, b};
  CHECK(t.find(0xd, 1)->eax == 7);
  CHECK(t.find(0xd, 0) == nullptr);
  CHECK(t.find(1, 5)->eax == 9);  // index ignored without the flag
  CHECK(t.find(2) == nullptr);
}
