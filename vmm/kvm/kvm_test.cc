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
