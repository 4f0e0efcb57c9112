// base/le.h: bounds-checked little-endian loads and stores on byte spans (guest and peer data).
// A load or store that would leave the span fails (nullopt / false); nothing is ever cast in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>

namespace tandem {

template <typename T>
  requires std::is_unsigned_v<T>
std::optional<T> load_le(std::span<const uint8_t> bytes, size_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return std::nullopt;
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(bytes[offset + i]) << (8 * i));
  return v;
}

template <typename T>
  requires std::is_unsigned_v<T>
bool store_le(std::span<uint8_t> bytes, size_t offset, T value) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return false;
  for (size_t i = 0; i < sizeof(T); ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
  return true;
}

// Reads the low `bytes.size()` bytes of a little-endian register value (1, 2, 4 or 8 bytes), as a
// bus access of that width delivers them.
inline uint64_t le_to_u64(std::span<const uint8_t> bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) v |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return v;
}

inline void u64_to_le(uint64_t v, std::span<uint8_t> bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = i < 8 ? static_cast<uint8_t>(v >> (8 * i)) : 0;
}

}  // namespace tandem
