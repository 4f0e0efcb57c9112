// base/size_text.cc: parse_size.
#include "base/size_text.h"

#include <cctype>

namespace tandem {

Result<uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return Error{"empty size"};
  size_t i = 0;
  uint64_t v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    uint64_t d = static_cast<uint64_t>(text[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return Error{"size '" + text + "' is too large"};
    v = v * 10 + d;
    ++i;
  }
  if (i == 0) return Error{"size '" + text + "' does not start with a number"};
  std::string unit = text.substr(i);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KB" || unit == "KIB") shift = 10;
  else if (unit == "M" || unit == "MB" || unit == "MIB") shift = 20;
  else if (unit == "G" || unit == "GB" || unit == "GIB") shift = 30;
  else if (unit == "T" || unit == "TB" || unit == "TIB") shift = 40;
  else return Error{"size '" + text + "' has an unknown unit (use K, M, G or T)"};
  if (shift && v > (UINT64_MAX >> shift)) return Error{"size '" + text + "' is too large"};
  return v << shift;
}

}  // namespace tandem
