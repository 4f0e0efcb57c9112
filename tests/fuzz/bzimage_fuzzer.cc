// tests/fuzz/bzimage_fuzzer.cc: the bzImage parser and the Linux loader (vmm/arch/x86_64/loader)
// on any file.
//
// The input is the kernel file. Whatever parse_bzimage accepts is loaded into 64 MiB of guest RAM
// with a small initrd: a refusal is fine, a crash, an out-of-bounds access or a layout outside RAM
// is a finding (abort).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "memory/guest_memory.h"
#include "vmm/arch/x86_64/loader/linux_loader.h"

using namespace tandem;

namespace {
constexpr uint64_t kRam = 64ull << 20;

void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<RamRegion> ram{{0, kRam}};
  static auto mem = GuestMemory::create(ram, "bzimage-fuzz");
  if (!mem) std::abort();

  std::span<const uint8_t> file(data, size);
  auto img = loader::parse_bzimage(file);
  if (!img) return 0;
  check(img->setup_size <= size);
  check(img->header.header_end <= size);

  static const std::vector<uint8_t> initrd(4096, 0x5a);
  loader::LoadRequest req;
  req.kernel = file;
  req.initrd = initrd;
  req.cmdline = "console=ttyS0";
  req.rsdp_addr = 0xe0000;
  auto layout = loader::load_linux(*mem, ram, req);
  if (!layout) return 0;
  check(layout->kernel_addr + img->kernel().size() <= kRam);
  check(layout->initrd_addr % 4096 == 0);
  check(layout->initrd_addr + layout->initrd_size <= kRam);
  check(layout->boot_params + 4096 <= kRam);
  check(layout->entry == layout->kernel_addr + 0x200);
  return 0;
}
