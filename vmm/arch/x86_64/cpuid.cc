// vmm/arch/x86_64/cpuid.cc: per-vCPU CPUID normalisation (topology, APIC IDs, XSAVE leaf 0xD) and
// the brand string.
#include "vmm/arch/x86_64/cpuid.h"

#include <cpuid.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>

namespace tandem::x86 {

uint32_t bits_for(uint32_t n) {
  uint32_t b = 0;
  while ((1u << b) < n) ++b;
  return b;
}

namespace {

// XSAVE state components and the CPUID feature that must be present for each.
bool component_enabled(const kvm::CpuidTable& t, uint32_t comp) {
  const auto* l1 = t.find(1);
  const auto* l7 = t.find(7, 0);
  auto ecx1 = [&](int bit) { return l1 && (l1->ecx >> bit) & 1; };
  auto ebx7 = [&](int bit) { return l7 && (l7->ebx >> bit) & 1; };
  auto ecx7 = [&](int bit) { return l7 && (l7->ecx >> bit) & 1; };
  auto edx7 = [&](int bit) { return l7 && (l7->edx >> bit) & 1; };
  switch (comp) {
    case 0: case 1: return true;               // x87, SSE
    case 2: return ecx1(28);                   // AVX
    case 3: case 4: return ebx7(14);           // MPX
    case 5: case 6: case 7: return ebx7(16);   // AVX-512
    case 9: return ecx7(3);                    // PKRU (PKU)
    case 17: case 18: return edx7(24) && edx7(25);  // AMX tile config/data
    default: return false;                     // supervisor or unknown user states: not exposed
  }
}

void fix_xsave(kvm::CpuidTable& t) {
  auto* d0 = t.find(0xd, 0);
  if (!d0 || (d0->eax | d0->edx) == 0) return;  // no state components (hide_xsave): the leaf stays empty
  uint64_t supported = d0->eax | (static_cast<uint64_t>(d0->edx) << 32);
  uint64_t mask = 0;
  uint32_t size = 512 + 64;  // legacy area + XSAVE header
  for (uint32_t c = 0; c < 63; ++c) {
    if (!((supported >> c) & 1) || !component_enabled(t, c)) continue;
    if (c >= 2) {
      const auto* sub = t.find(0xd, c);
      if (!sub || sub->eax == 0) continue;  // no size or offset reported: do not expose it
      size = std::max(size, sub->ebx + sub->eax);
    }
    mask |= 1ULL << c;
  }
  d0->eax = static_cast<uint32_t>(mask);
  d0->edx = static_cast<uint32_t>(mask >> 32);
  d0->ebx = size;  // KVM recomputes this from the guest's XCR0 at run time
  d0->ecx = size;
  // Components the guest cannot enable get empty sub-leaves.
  for (auto& e : t.entries) {
    if (e.function == 0xd && e.index >= 2 && e.index < 63 && !((mask >> e.index) & 1)) {
      e.eax = e.ebx = e.ecx = e.edx = 0;
    }
  }
  // Sub-leaf 1: no supervisor states (IA32_XSS) exposed, so XSAVES covers XCR0 only.
  if (auto* d1 = t.find(0xd, 1)) {
    d1->ecx = 0;
    d1->edx = 0;
    d1->ebx = size;
  }
}

}  // namespace

void expose_tsc_deadline(kvm::CpuidTable& t) {
  if (auto* l1 = t.find(1)) l1->ecx |= 1u << 24;
}

void hide_xsave(kvm::CpuidTable& t) {
  auto bits = [](std::initializer_list<int> list) {
    uint32_t m = 0;
    for (int b : list) m |= 1u << b;
    return m;
  };
  for (auto& e : t.entries) {
    switch (e.function) {
      case 0x1: e.ecx &= ~bits({12 /*FMA*/, 26 /*XSAVE*/, 27 /*OSXSAVE*/, 28 /*AVX*/, 29 /*F16C*/}); break;
      case 0x7:
        if (e.index == 0) {
          e.ebx &= ~bits({5 /*AVX2*/, 16, 17, 21, 26, 27, 28, 30, 31 /*AVX-512*/});
          e.ecx &= ~bits({1 /*AVX512_VBMI*/, 3 /*PKU*/, 4 /*OSPKE*/, 6, 9 /*VAES*/, 10 /*VPCLMULQDQ*/, 11, 12, 14});
          e.edx &= ~bits({2, 3, 8, 22, 23, 24, 25 /*AVX-512 and AMX*/});
        } else if (e.index == 1) {
          e.eax &= ~bits({4 /*AVX-VNNI*/, 5 /*AVX512_BF16*/});
        }
        break;
      case 0xd: e.eax = e.ebx = e.ecx = e.edx = 0; break;
      case 0x80000001: e.ecx &= ~bits({11 /*XOP*/, 16 /*FMA4*/}); break;
      default: break;
    }
  }
}

void fill_brand_string(kvm::CpuidTable& t, std::string_view brand) {
  constexpr uint32_t kFirst = 0x80000002, kLast = 0x80000004;
  auto* top = t.find(0x80000000);
  if (!top || brand.empty()) return;
  bool present = top->eax >= kLast;  // leaves past the highest extended leaf do not count
  bool empty = true;
  for (uint32_t f = kFirst; f <= kLast; ++f) {
    if (const auto* e = t.find(f); e && (e->eax | e->ebx | e->ecx | e->edx) != 0) empty = false;
  }
  if (present && !empty) return;  // a brand string the host reported: keep it
  top->eax = std::max(top->eax, kLast);
  std::array<char, 48> text{};
  std::memcpy(text.data(), brand.data(), std::min(brand.size(), text.size() - 1));  // NUL-terminated
  for (uint32_t f = kFirst; f <= kLast; ++f) {
    auto* e = t.find(f);
    if (!e) {
      kvm_cpuid_entry2 fresh{};
      fresh.function = f;
      t.entries.push_back(fresh);
      e = &t.entries.back();
    }
    uint32_t regs[4];
    std::memcpy(regs, text.data() + 16 * (f - kFirst), sizeof regs);
    e->eax = regs[0];
    e->ebx = regs[1];
    e->ecx = regs[2];
    e->edx = regs[3];
  }
}

std::string host_brand_string() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) == 0 || a < 0x80000004) return {};
  char text[49] = {};
  for (unsigned f = 0; f < 3; ++f) {
    __get_cpuid(0x80000002 + f, &a, &b, &c, &d);
    const unsigned regs[4] = {a, b, c, d};
    std::memcpy(text + 16 * f, regs, sizeof regs);
  }
  std::string s(text);
  auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  s.erase(0, first);
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

uint64_t initial_xcr0(const kvm::CpuidTable& t) {
  const auto* l1 = t.find(1);
  const auto* d0 = t.find(0xd, 0);
  if (!l1 || !d0 || !((l1->ecx >> 26) & 1)) return 0;
  return d0->eax | (static_cast<uint64_t>(d0->edx) << 32);
}

void normalize_cpuid(kvm::CpuidTable& t, uint32_t apic_id, uint32_t num_cpus) {
  const uint32_t core_bits = bits_for(num_cpus);
  for (auto& e : t.entries) {
    switch (e.function) {
      case 0x1:
        e.ebx = (e.ebx & 0x0000ffff) | (std::min<uint32_t>(num_cpus, 255) << 16) | (apic_id << 24);
        e.ecx |= 1u << 31;  // running on a hypervisor
        if (num_cpus > 1) e.edx |= 1u << 28; else e.edx &= ~(1u << 28);  // HTT: more than one logical CPU
        break;
      case 0x4:  // deterministic cache parameters (Intel): cores per package, threads per cache
        if ((e.eax & 0x1f) != 0) {
          e.eax &= 0x3fff;
          e.eax |= ((1u << core_bits) - 1) << 26;  // cores per package - 1 (rounded to a power of two)
        }
        break;
      case 0xb:
      case 0x1f:
        e.edx = apic_id;
        if (e.index == 0) {  // SMT level: one thread per core
          e.eax = 0;
          e.ebx = 1;
          e.ecx = (1u << 8) | 0;
        } else if (e.index == 1) {  // core level
          e.eax = core_bits;
          e.ebx = num_cpus;
          e.ecx = (2u << 8) | 1;
        } else {
          e.eax = 0;
          e.ebx = 0;
          e.ecx = e.index;
        }
        break;
      case 0x80000001:
        if (num_cpus > 1) e.ecx |= 1u << 1; else e.ecx &= ~(1u << 1);  // CmpLegacy
        break;
      case 0x80000008:  // AMD: NC = cores - 1, ApicIdCoreIdSize
        e.ecx = (e.ecx & ~0xf0ffu) | ((num_cpus - 1) & 0xff) | (core_bits << 12);
        break;
      case 0x8000001e:  // AMD: extended APIC ID, core (compute unit) ID, node ID
        e.eax = apic_id;
        e.ebx = (e.ebx & ~0xffffu) | (apic_id & 0xff);  // one thread per core
        e.ecx = 0;
        break;
      default:
        break;
    }
  }
  fix_xsave(t);
}

}  // namespace tandem::x86
