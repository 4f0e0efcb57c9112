// Unit tests for vmm/kvm that need no working KVM: the errors a machine without it gets.
#include <doctest/doctest.h>

#include "vmm/kvm/kvm.h"

using namespace tandem;

TEST_CASE("a machine without /dev/kvm gets an error that names tools/nested-kvm") {
  auto k = kvm::Kvm::open("/nonexistent/kvm");
  REQUIRE_FALSE(k.ok());
  CHECK(k.message().find("/nonexistent/kvm") != std::string::npos);
  CHECK(k.message().find("tools/nested-kvm") != std::string::npos);
}

TEST_CASE("a device that is not KVM is refused") {
  auto k = kvm::Kvm::open("/dev/null");
  REQUIRE_FALSE(k.ok());
  CHECK(k.message().find("KVM API version") != std::string::npos);
}

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
