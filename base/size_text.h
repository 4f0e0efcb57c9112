// base/size_text.h: sizes as people write them: "512M", "2G", "65536K", "1073741824".
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace tandem {

// Binary units (K=1024; KB and KiB too), up to T; plain numbers are bytes. Errors name the text.
Result<uint64_t> parse_size(const std::string& text);

}  // namespace tandem
