// vmm/boot/kernel_kind.cc: a kernel file's kind from its magic numbers.
#include "vmm/boot/kernel_kind.h"

#include "base/le.h"

namespace tandem::loader {

namespace {
constexpr size_t kBootFlag = 0x1fe;     // x86 boot sector signature 0xAA55
constexpr size_t kHeaderMagic = 0x202;  // x86 setup header "HdrS"
constexpr size_t kArm64Magic = 0x38;    // "ARM\x64", arm64 booting.rst
}  // namespace

std::string_view kernel_kind(std::span<const uint8_t> file) {
  if (load_le<uint16_t>(file, kBootFlag) == 0xaa55 && load_le<uint32_t>(file, kHeaderMagic) == 0x53726448u) return kX86BzImage;
  if (load_le<uint32_t>(file, kArm64Magic) == 0x644d5241u) return kArm64Image;
  if (file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b) return kGzipData;
  return {};
}

}  // namespace tandem::loader
