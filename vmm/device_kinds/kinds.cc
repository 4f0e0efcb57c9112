// vmm/device_kinds/kinds.cc: what is said of all the kinds at once.
#include "vmm/device_kinds/kinds.h"

namespace tandem::device_kinds {

std::string kind_names() {
  std::vector<std::string> names;
  Kinds::each([&](auto kind) { names.push_back(decltype(kind)::kName); });
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

}  // namespace tandem::device_kinds
