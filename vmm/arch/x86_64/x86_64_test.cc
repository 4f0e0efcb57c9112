// Unit tests for vmm/arch/x86_64: CPUID topology and XSAVE normalisation, boot tables, registers.
#include <doctest/doctest.h>

#include <string>

#include "vmm/arch/x86_64/boot_cpu.h"
#include "vmm/arch/x86_64/cpuid.h"
#include "vmm/arch/x86_64/layout.h"

using namespace tandem;
using namespace tandem::x86;

namespace {
kvm_cpuid_entry2 entry(uint32_t fn, uint32_t idx, uint32_t a, uint32_t b, uint32_t c, uint32_t d, bool indexed = false) {
  kvm_cpuid_entry2 e{};
  e.function = fn;
  e.index = idx;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  e.eax = a;
  e.ebx = b;
  e.ecx = c;
  e.edx = d;
  return e;
}

kvm::CpuidTable sample() {
  kvm::CpuidTable t;
  t.entries.push_back(entry(1, 0, 0x00a00f11, 0x00000800, 1u << 28 /*AVX*/, 0));
  t.entries.push_back(entry(7, 0, 0, 0 /*no AVX-512, no MPX*/, 0, 0, true));
  t.entries.push_back(entry(0xb, 0, 1, 2, 0x100, 7, true));
  t.entries.push_back(entry(0xb, 1, 4, 16, 0x201, 7, true));
  // Leaf 0xD as a nested KVM may report it: x87|SSE|AVX|AVX-512 supported, sizes for all.
  t.entries.push_back(entry(0xd, 0, 0xe7, 2696, 2696, 0, true));
  t.entries.push_back(entry(0xd, 1, 0xf, 2696, 0x1800, 0, true));
  t.entries.push_back(entry(0xd, 2, 256, 576, 0, 0, true));
  t.entries.push_back(entry(0xd, 5, 64, 1088, 0, 0, true));
  t.entries.push_back(entry(0xd, 6, 512, 1152, 0, 0, true));
  t.entries.push_back(entry(0xd, 7, 1024, 1664, 0, 0, true));
  t.entries.push_back(entry(0x80000008, 0, 0x3030, 0, 0x7007, 0));
  return t;
}
}  // namespace

TEST_CASE("bits_for") {
  CHECK(bits_for(1) == 0);
  CHECK(bits_for(2) == 1);
  CHECK(bits_for(3) == 2);
  CHECK(bits_for(4) == 2);
  CHECK(bits_for(5) == 3);
}

TEST_CASE("CPUID topology: per-vCPU APIC IDs and a consistent core count") {
  auto t = sample();
  normalize_cpuid(t, 3, 4);
  const auto* l1 = t.find(1);
  CHECK((l1->ebx >> 24) == 3);
  CHECK(((l1->ebx >> 16) & 0xff) == 4);
  CHECK((l1->ecx >> 31) == 1);
  CHECK(((l1->edx >> 28) & 1) == 1);
  CHECK(t.find(0xb, 0)->edx == 3);
  CHECK(t.find(0xb, 0)->ebx == 1);
  CHECK(t.find(0xb, 1)->ebx == 4);
  CHECK(t.find(0xb, 1)->eax == 2);
  CHECK((t.find(0x80000008)->ecx & 0xff) == 3);
  CHECK(((t.find(0x80000008)->ecx >> 12) & 0xf) == 2);

  auto one = sample();
  normalize_cpuid(one, 0, 1);
  CHECK(((one.find(1)->edx >> 28) & 1) == 0);
  CHECK(one.find(0xb, 1)->ebx == 1);
}

TEST_CASE("CPUID leaf 0xD exposes only components whose features are on, with matching sizes") {
  auto t = sample();
  normalize_cpuid(t, 0, 2);
  const auto* d0 = t.find(0xd, 0);
  CHECK(d0->eax == 0x7);        // x87, SSE, AVX; AVX-512 dropped (leaf 7 says no AVX-512F)
  CHECK(d0->ebx == 576 + 256);  // AVX ends at 832
  CHECK(d0->ecx == 832);
  CHECK(t.find(0xd, 5)->eax == 0);
  CHECK(t.find(0xd, 2)->eax == 256);
  CHECK(t.find(0xd, 1)->ecx == 0);
  CHECK(t.find(0xd, 1)->ebx == 832);
  CHECK(initial_xcr0(t) == 0);  // the sample's leaf 1 has no XSAVE bit
  t.find(1)->ecx |= 1u << 26;
  CHECK(initial_xcr0(t) == 0x7);
}

TEST_CASE("boot tables: identity map of 4 GiB, GDT with the boot selectors") {
  auto mem = GuestMemory::create({{0, 64 * layout::MiB}});
  REQUIRE(mem.ok());
  REQUIRE(write_boot_tables(*mem).ok());
  CHECK(mem->read_le<uint64_t>(layout::kGdtAddr + 0x10).value() == 0x00af9b000000ffffULL);
  CHECK(mem->read_le<uint64_t>(layout::kPageTablesAddr).value() == ((layout::kPageTablesAddr + 0x1000) | 0x3));
  // The PD entry mapping 3 GiB + 2 MiB is identity with the large-page bit.
  uint64_t idx = (3 * layout::GiB + 2 * layout::MiB) >> 21;
  CHECK(mem->read_le<uint64_t>(layout::kPageTablesAddr + 0x2000 + idx * 8).value() == ((idx << 21) | 0x83));

  kvm_sregs base{};
  auto s = long_mode_sregs(base);
  CHECK(s.cs.selector == 0x10);
  CHECK(s.cs.l == 1);
  CHECK(s.ds.selector == 0x18);
  CHECK((s.efer & 0x500) == 0x500);
  CHECK((s.cr0 & 0x80000001u) == 0x80000001u);
  CHECK(s.cr3 == layout::kPageTablesAddr);
  auto r = entry_regs(0x100200, 0x7000);
  CHECK(r.rip == 0x100200);
  CHECK(r.rsi == 0x7000);
}

TEST_CASE("LAPIC LINT0 is ExtINT and LINT1 is NMI") {
  kvm_lapic_state l{};
  set_lint_modes(l);
  auto* p = reinterpret_cast<uint8_t*>(l.regs);
  CHECK(((p[0x351] >> 0) & 0x7) == 0x7);
  CHECK(((p[0x361] >> 0) & 0x7) == 0x4);
}

TEST_CASE("the TSC-deadline timer bit goes into leaf 1 only, and normalisation keeps it") {
  auto t = sample();
  const uint32_t ecx = t.find(1)->ecx;
  CHECK(((ecx >> 24) & 1) == 0);
  expose_tsc_deadline(t);
  CHECK(t.find(1)->ecx == (ecx | (1u << 24)));
  CHECK(t.find(7, 0)->ecx == 0);
  normalize_cpuid(t, 0, 2);
  CHECK(((t.find(1)->ecx >> 24) & 1) == 1);
  kvm::CpuidTable none;  // no leaf 1: nothing happens
  expose_tsc_deadline(none);
  CHECK(none.entries.empty());
}

namespace {
std::string brand_of(const kvm::CpuidTable& t) {
  std::string s;
  for (uint32_t f = 0x80000002; f <= 0x80000004; ++f) {
    const auto* e = t.find(f);
    REQUIRE(e != nullptr);
    for (uint32_t r : {e->eax, e->ebx, e->ecx, e->edx}) {
      for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((r >> (8 * i)) & 0xff));
    }
  }
  return s;
}
}  // namespace

TEST_CASE("the brand string fills empty or missing leaves 0x80000002-4 and keeps a reported one") {
  SUBCASE("missing leaves, highest extended leaf too low: added, and the leaf raised") {
    auto t = sample();
    t.entries.push_back(entry(0x80000000, 0, 0x80000001, 0x68747541, 0x444d4163, 0x69746e65));
    fill_brand_string(t, "tandem virtual CPU");
    CHECK(t.find(0x80000000)->eax == 0x80000004);
    std::string b = brand_of(t);
    CHECK(b.size() == 48);
    CHECK(std::string(b.c_str()) == "tandem virtual CPU");
    CHECK(b[47] == '\0');
  }
  SUBCASE("all-zero leaves are filled; a brand of 48 bytes or more is cut to 47 and NUL-terminated") {
    auto t = sample();
    t.entries.push_back(entry(0x80000000, 0, 0x80000008, 0, 0, 0));
    for (uint32_t f = 0x80000002; f <= 0x80000004; ++f) t.entries.push_back(entry(f, 0, 0, 0, 0, 0));
    const std::string long_name(60, 'x');
    fill_brand_string(t, long_name);
    CHECK(t.find(0x80000000)->eax == 0x80000008);  // never lowered
    std::string b = brand_of(t);
    CHECK(std::string(b.c_str()) == std::string(47, 'x'));
    CHECK(t.entries.size() == sample().entries.size() + 4);  // no duplicate leaves
  }
  SUBCASE("a reported brand string stays") {
    auto t = sample();
    t.entries.push_back(entry(0x80000000, 0, 0x80000008, 0, 0, 0));
    t.entries.push_back(entry(0x80000002, 0, 0x20444d41, 0x43595045, 0, 0));  // "AMD EPYC"
    fill_brand_string(t, "tandem virtual CPU");
    CHECK(t.find(0x80000002)->eax == 0x20444d41);
    CHECK(t.find(0x80000003) == nullptr);
  }
  SUBCASE("no leaf 0x80000000 or an empty brand: nothing changes") {
    auto t = sample();
    const size_t n = t.entries.size();
    fill_brand_string(t, "tandem virtual CPU");
    CHECK(t.entries.size() == n);
    t.entries.push_back(entry(0x80000000, 0, 0x80000001, 0, 0, 0));
    fill_brand_string(t, "");
    CHECK(t.find(0x80000000)->eax == 0x80000001);
  }
  SUBCASE("the host's brand string has no padding spaces at either end") {
    std::string h = host_brand_string();
    if (!h.empty()) {
      CHECK(h.front() != ' ');
      CHECK(h.back() != ' ');
      CHECK(h.size() <= 48);
    }
  }
}

TEST_CASE("--xsave off: no XSAVE, none of the state it manages, leaf 0xD empty, XCR0 left alone") {
  auto t = sample();
  t.find(1)->ecx |= (1u << 26) | (1u << 12) | (1u << 29) | (1u << 0);  // XSAVE, FMA, F16C, SSE3
  t.find(7, 0)->ebx = (1u << 5) | (1u << 16) | (1u << 3);                 // AVX2, AVX-512F, BMI1
  t.find(7, 0)->ecx = (1u << 3) | (1u << 9);                              // PKU, VAES
  t.find(7, 0)->edx = 1u << 24;                                           // AMX-TILE
  t.entries.push_back(entry(0x80000001, 0, 0, 0, (1u << 11) | (1u << 16) | 1u, 0));  // XOP, FMA4, LAHF
  CHECK(initial_xcr0(t) != 0);
  hide_xsave(t);
  normalize_cpuid(t, 0, 1);
  CHECK(t.find(1)->ecx == (1u | (1u << 31)));  // SSE3 and the hypervisor bit stay
  CHECK(t.find(7, 0)->ebx == (1u << 3));
  CHECK(t.find(7, 0)->ecx == 0);
  CHECK(t.find(7, 0)->edx == 0);
  CHECK(t.find(0x80000001)->ecx == 1u);
  for (const auto& e : t.entries) {
    if (e.function == 0xd) CHECK((e.eax | e.ebx | e.ecx | e.edx) == 0);  // normalisation does not refill it
  }
  CHECK(initial_xcr0(t) == 0);
}
