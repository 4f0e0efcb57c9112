// vmm/boot/kernel_kind.h: what a kernel file is, from its magic numbers alone (arch-neutral).
//
// Both architectures' loaders use it (vmm/arch/<arch>/loader), to say "kernel: this is <kind>;
// tandem for <arch> needs ..." when given a kernel for the other architecture.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace tandem::loader {

// kX86BzImage (0xAA55 at 0x1fe and "HdrS" at 0x202), kArm64Image ("ARM\x64" at 0x38), kGzipData
// (1f 8b), or "" for anything else.
inline constexpr std::string_view kX86BzImage = "an x86 bzImage";
inline constexpr std::string_view kArm64Image = "an arm64 Image";
inline constexpr std::string_view kGzipData = "gzip-compressed data";
std::string_view kernel_kind(std::span<const uint8_t> file);

}  // namespace tandem::loader
