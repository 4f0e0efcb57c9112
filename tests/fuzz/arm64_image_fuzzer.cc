// tests/fuzz/arm64_image_fuzzer.cc: the arm64 Image loader (vmm/arch/aarch64/loader) on any file.
//
// The input is the kernel file, as tandem for aarch64 reads it: inflated when it is gzip (at most
// 1 MiB here), parsed, planned into 64 MiB of RAM at 1 GiB with a small initrd and device tree, and
// loaded. A refusal is fine; a crash, an out-of-bounds access, a decompressed size over the bound or
// a layout outside RAM or overlapping itself is a finding (abort).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "memory/guest_memory.h"
#include "vmm/arch/aarch64/loader/linux_loader.h"

using namespace tandem;

namespace {
constexpr uint64_t kRamBase = 0x4000'0000;
constexpr uint64_t kRam = 64ull << 20;
constexpr size_t kMaxKernel = 1u << 20;

void check(bool ok) {
  if (!ok) std::abort();
}
bool inside(uint64_t addr, uint64_t size) { return addr >= kRamBase && size <= kRam && addr - kRamBase <= kRam - size; }
bool apart(uint64_t a, uint64_t as, uint64_t b, uint64_t bs) { return a + as <= b || b + bs <= a; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<RamRegion> ram{{kRamBase, kRam}};
  static auto mem = GuestMemory::create(ram, "arm64-image-fuzz");
  if (!mem) std::abort();

  auto kernel = loader::decompress_kernel(std::span<const uint8_t>(data, size), kMaxKernel);
  if (!kernel) return 0;
  check(kernel->size() <= kMaxKernel);
  auto img = loader::parse_arm64_image(*kernel);
  if (!img) return 0;
  check(img->image_size >= img->file.size());

  static const std::vector<uint8_t> initrd(8192, 0x5a);
  static const std::vector<uint8_t> dtb(4096, 0xd7);
  auto at = loader::plan_arm64(*img, kRamBase, kRam, initrd.size(), dtb.size());
  if (!at) return 0;
  check(inside(at->kernel_addr, img->image_size));
  check(inside(at->initrd_addr, initrd.size()));
  check(inside(at->dtb_addr, dtb.size()));
  check(at->dtb_addr % 8 == 0);
  check(apart(at->kernel_addr, img->image_size, at->initrd_addr, initrd.size()));
  check(apart(at->kernel_addr, img->image_size, at->dtb_addr, dtb.size()));
  check(apart(at->initrd_addr, initrd.size(), at->dtb_addr, dtb.size()));
  check(loader::load_arm64(*mem, *img, *at, initrd, dtb).ok());
  return 0;
}
