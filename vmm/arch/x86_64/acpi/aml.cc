// vmm/arch/x86_64/acpi/aml.cc: AML encodings (ACPI 6.x chapter 20) and resource descriptors
// (section 6.4).
#include "vmm/arch/x86_64/acpi/aml.h"

#include "base/hex.h"

#include <sstream>
#include <string>

namespace tandem::acpi::aml {

namespace {

// AML opcodes and prefixes.
constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kBytePrefix = 0x0a;
constexpr uint8_t kWordPrefix = 0x0b;
constexpr uint8_t kDWordPrefix = 0x0c;
constexpr uint8_t kStringPrefix = 0x0d;
constexpr uint8_t kQWordPrefix = 0x0e;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kMethodOp = 0x14;
constexpr uint8_t kDualNamePrefix = 0x2e;
constexpr uint8_t kMultiNamePrefix = 0x2f;
constexpr uint8_t kExtOpPrefix = 0x5b;
constexpr uint8_t kOpRegionOp = 0x80;  // after kExtOpPrefix
constexpr uint8_t kFieldOp = 0x81;     // after kExtOpPrefix
constexpr uint8_t kDeviceOp = 0x82;    // after kExtOpPrefix
constexpr uint8_t kRootChar = 0x5c;
constexpr uint8_t kParentPrefixChar = 0x5e;
constexpr uint8_t kLocal0Op = 0x60;
constexpr uint8_t kArg0Op = 0x68;
constexpr uint8_t kStoreOp = 0x70;
constexpr uint8_t kShiftLeftOp = 0x79;
constexpr uint8_t kAndOp = 0x7b;
constexpr uint8_t kNotifyOp = 0x86;
constexpr uint8_t kIfOp = 0xa0;
constexpr uint8_t kNullName = 0x00;
constexpr uint8_t kRegionSystemIo = 0x01;
constexpr uint8_t kFieldDWordNoLockWriteAsZeros = 0x43;  // AccessType 3, LockRule 0, UpdateRule 2
constexpr uint8_t kReturnOp = 0xa4;
constexpr uint8_t kOnesOp = 0xff;

// Resource descriptor tags.
constexpr uint8_t kIrqNoFlagsTag = 0x22;     // small item 0x04, length 2
constexpr uint8_t kIoTag = 0x47;             // small item 0x08, length 7
constexpr uint8_t kEndTag = 0x79;            // small item 0x0f, length 1
constexpr uint8_t kMemory32FixedTag = 0x86;
constexpr uint8_t kDWordAddressTag = 0x87;
constexpr uint8_t kWordAddressTag = 0x88;
constexpr uint8_t kQWordAddressTag = 0x8a;
constexpr uint8_t kExtendedInterruptTag = 0x89;

// Address space resource types.
constexpr uint8_t kResourceMemory = 0;
constexpr uint8_t kResourceIo = 1;
constexpr uint8_t kResourceBusNumber = 2;


void put_le(Bytes& out, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

// Concatenates terms, or returns the first error among them.
Aml concat(const std::vector<Aml>& terms) {
  Bytes out;
  for (const auto& t : terms) {
    if (!t.ok()) return t.error();
    append(out, t.value());
  }
  return out;
}

// op [ext] PkgLength body: the shape of every package-sized term.
Aml with_pkg_length(const Bytes& opcode, const Bytes& body) {
  auto len = pkg_length_for(body.size());
  if (!len) return len.error();
  Bytes out = opcode;
  append(out, *len);
  append(out, body);
  return out;
}

// Name-prefixed body: NameString followed by the terms.
Aml named_body(std::string_view path, const std::vector<Aml>& terms) {
  auto n = name_string(path);
  if (!n) return n.error();
  auto body = concat(terms);
  if (!body) return body.error();
  Bytes out = std::move(n).value();
  append(out, *body);
  return out;
}

bool is_lead_char(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_lead_char(c) || (c >= '0' && c <= '9'); }

// The fields shared by the Word/DWord/QWord address space descriptors.
Aml address_space(uint8_t tag, size_t width, uint8_t resource_type, uint8_t type_flags, const AddressRange& r,
                  const char* what) {
  if (r.max < r.min) return Error{std::string(what) + ": max " + hex(r.max) + " is below min " + hex(r.min)};
  const uint64_t length = r.max - r.min + 1;
  if (length == 0) return Error{std::string(what) + ": range covers the whole 64-bit space"};
  const uint64_t limit = width == 8 ? UINT64_MAX : (uint64_t{1} << (8 * width)) - 1;
  for (uint64_t v : {r.min, r.max, r.granularity, r.translation, length}) {
    if (v > limit) return Error{std::string(what) + ": value " + hex(v) + " does not fit " + std::to_string(width) + " bytes"};
  }
  Bytes out{tag};
  put_le(out, 3 + 5 * width, 2);  // bytes after the length field
  out.push_back(resource_type);
  // General flags: bit 0 consumer, bit 1 subtractive decode, bit 2 min fixed, bit 3 max fixed.
  uint8_t general = static_cast<uint8_t>((r.producer ? 0 : 1) | (r.min_fixed ? 1 << 2 : 0) | (r.max_fixed ? 1 << 3 : 0));
  out.push_back(general);
  out.push_back(type_flags);
  for (uint64_t v : {r.granularity, r.min, r.max, r.translation, length}) put_le(out, v, width);
  return out;
}

uint8_t memory_flags(Cacheable cacheable, bool read_write) {
  return static_cast<uint8_t>((read_write ? 1 : 0) | (static_cast<uint8_t>(cacheable) << 1));
}

}  // namespace

Aml encode_pkg_length(uint32_t value) {
  if (value <= 0x3f) return Bytes{static_cast<uint8_t>(value)};
  size_t follow;  // bytes after the lead byte; the lead byte keeps 4 bits
  if (value <= 0xfff) {
    follow = 1;
  } else if (value <= 0xfffff) {
    follow = 2;
  } else if (value <= 0xfffffff) {
    follow = 3;
  } else {
    return Error{"AML package length " + hex(value) + " exceeds the 28-bit PkgLength limit"};
  }
  Bytes out{static_cast<uint8_t>((follow << 6) | (value & 0xf))};
  for (size_t i = 0; i < follow; ++i) out.push_back(static_cast<uint8_t>(value >> (4 + 8 * i)));
  return out;
}

Aml pkg_length_for(size_t content_len) {
  for (size_t n = 1; n <= 4; ++n) {
    const size_t total = content_len + n;
    const size_t max = n == 1 ? 0x3f : (size_t{1} << (4 + 8 * (n - 1))) - 1;
    if (total <= max) return encode_pkg_length(static_cast<uint32_t>(total));
  }
  return Error{"AML package of " + std::to_string(content_len) + " bytes exceeds the 28-bit PkgLength limit"};
}

Result<uint32_t> eisa_id_value(std::string_view id) {
  auto bad = [&] { return Error{"bad EISA id \"" + std::string(id) + "\" (want 3 letters A-Z and 4 hex digits)"}; };
  if (id.size() != 7) return bad();
  uint32_t v = 0;
  for (size_t i = 0; i < 3; ++i) {
    if (id[i] < 'A' || id[i] > 'Z') return bad();
    v |= static_cast<uint32_t>(id[i] - 0x40) << (26 - 5 * i);
  }
  for (size_t i = 3; i < 7; ++i) {
    char c = id[i];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return bad();
    }
    v |= d << (4 * (6 - i));
  }
  // The compressed id is stored most significant byte first.
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >> 8) & 0xff00) | (v >> 24);
}

Aml name_seg(std::string_view seg) {
  auto bad = [&] { return Error{"bad ACPI name segment \"" + std::string(seg) + "\""}; };
  if (seg.empty() || seg.size() > 4 || !is_lead_char(seg[0])) return bad();
  Bytes out;
  for (char c : seg) {
    if (!is_name_char(c)) return bad();
    out.push_back(static_cast<uint8_t>(c));
  }
  while (out.size() < 4) out.push_back('_');
  return out;
}

Aml name_string(std::string_view path) {
  Bytes out;
  std::string_view rest = path;
  if (!rest.empty() && rest[0] == '\\') {
    out.push_back(kRootChar);
    rest.remove_prefix(1);
  } else {
    while (!rest.empty() && rest[0] == '^') {
      out.push_back(kParentPrefixChar);
      rest.remove_prefix(1);
    }
  }
  if (rest.empty()) {
    if (out.empty()) return Error{"empty ACPI name"};
    out.push_back(0x00);  // NullName
    return out;
  }
  std::vector<Bytes> segs;
  while (true) {
    size_t dot = rest.find('.');
    auto seg = name_seg(rest.substr(0, dot));
    if (!seg) return Error{"in ACPI name \"" + std::string(path) + "\": " + seg.message()};
    segs.push_back(std::move(seg).value());
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  if (segs.size() > 255) return Error{"ACPI name \"" + std::string(path) + "\" has too many segments"};
  if (segs.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (const auto& s : segs) append(out, s);
  return out;
}

Aml integer(uint64_t value) {
  if (value == 0) return Bytes{kZeroOp};
  if (value == 1) return Bytes{kOneOp};
  if (value == UINT64_MAX) return Bytes{kOnesOp};
  if (value <= 0xff) return byte_const(static_cast<uint8_t>(value));
  if (value <= 0xffff) return word_const(static_cast<uint16_t>(value));
  if (value <= 0xffffffff) return dword_const(static_cast<uint32_t>(value));
  return qword_const(value);
}

Aml byte_const(uint8_t value) { return Bytes{kBytePrefix, value}; }

Aml word_const(uint16_t value) {
  Bytes out{kWordPrefix};
  put_le(out, value, 2);
  return out;
}

Aml dword_const(uint32_t value) {
  Bytes out{kDWordPrefix};
  put_le(out, value, 4);
  return out;
}

Aml qword_const(uint64_t value) {
  Bytes out{kQWordPrefix};
  put_le(out, value, 8);
  return out;
}

Aml string(std::string_view s) {
  Bytes out{kStringPrefix};
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u == 0 || u > 0x7f) return Error{"AML string contains a byte outside ASCII 0x01-0x7f"};
    out.push_back(u);
  }
  out.push_back(0x00);
  return out;
}

Aml eisa_id(std::string_view id) {
  auto v = eisa_id_value(id);
  if (!v) return v.error();
  return dword_const(*v);
}

Aml buffer(std::span<const uint8_t> bytes) {
  auto size = integer(bytes.size());
  if (!size) return size.error();
  Bytes body = std::move(size).value();
  body.insert(body.end(), bytes.begin(), bytes.end());
  return with_pkg_length({kBufferOp}, body);
}

Aml package(const std::vector<Aml>& elements) {
  if (elements.size() > 255) return Error{"AML Package with " + std::to_string(elements.size()) + " elements (max 255)"};
  auto items = concat(elements);
  if (!items) return items.error();
  Bytes body{static_cast<uint8_t>(elements.size())};
  append(body, *items);
  return with_pkg_length({kPackageOp}, body);
}

Aml local(unsigned n) {
  if (n > 7) return Error{"Local" + std::to_string(n) + " does not exist (Local0-Local7)"};
  return Bytes{static_cast<uint8_t>(kLocal0Op + n)};
}

Aml arg(unsigned n) {
  if (n > 6) return Error{"Arg" + std::to_string(n) + " does not exist (Arg0-Arg6)"};
  return Bytes{static_cast<uint8_t>(kArg0Op + n)};
}

Aml name(std::string_view path, const Aml& value) {
  auto body = named_body(path, {value});
  if (!body) return body.error();
  Bytes out{kNameOp};
  append(out, *body);
  return out;
}

Aml scope(std::string_view path, const std::vector<Aml>& terms) {
  auto body = named_body(path, terms);
  if (!body) return body.error();
  return with_pkg_length({kScopeOp}, *body);
}

Aml device(std::string_view path, const std::vector<Aml>& terms) {
  auto body = named_body(path, terms);
  if (!body) return body.error();
  return with_pkg_length({kExtOpPrefix, kDeviceOp}, *body);
}

Aml method(std::string_view path, unsigned num_args, bool serialized, const std::vector<Aml>& terms,
           unsigned sync_level) {
  if (num_args > 7) return Error{"AML Method with " + std::to_string(num_args) + " arguments (max 7)"};
  if (sync_level > 15) return Error{"AML Method sync level " + std::to_string(sync_level) + " (max 15)"};
  auto n = name_string(path);
  if (!n) return n.error();
  auto code = concat(terms);
  if (!code) return code.error();
  Bytes body = std::move(n).value();
  body.push_back(static_cast<uint8_t>(num_args | (serialized ? 1 << 3 : 0) | (sync_level << 4)));
  append(body, *code);
  return with_pkg_length({kMethodOp}, body);
}

Aml return_value(const Aml& value) {
  if (!value) return value.error();
  Bytes out{kReturnOp};
  append(out, *value);
  return out;
}

Aml store(const Aml& source, const Aml& target) {
  auto operands = concat({source, target});
  if (!operands) return operands.error();
  Bytes out{kStoreOp};
  append(out, *operands);
  return out;
}

Aml notify(const Aml& object, const Aml& value) {
  auto operands = concat({object, value});
  if (!operands) return operands.error();
  Bytes out{kNotifyOp};
  append(out, *operands);
  return out;
}

Aml if_(const Aml& predicate, const std::vector<Aml>& terms) {
  std::vector<Aml> all{predicate};
  all.insert(all.end(), terms.begin(), terms.end());
  auto body = concat(all);
  if (!body) return body.error();
  return with_pkg_length({kIfOp}, *body);
}

namespace {
// Op operand operand NullName: a two-operand expression whose result is only returned.
Aml binary_expression(uint8_t op, const Aml& a, const Aml& b) {
  auto operands = concat({a, b});
  if (!operands) return operands.error();
  Bytes out{op};
  append(out, *operands);
  out.push_back(kNullName);
  return out;
}
}  // namespace

Aml and_(const Aml& a, const Aml& b) { return binary_expression(kAndOp, a, b); }
Aml shift_left(const Aml& value, const Aml& count) { return binary_expression(kShiftLeftOp, value, count); }

Aml io_region(std::string_view path, uint16_t port, uint16_t length) {
  if (length == 0) return Error{"AML OperationRegion " + std::string(path) + " of length 0"};
  if (uint32_t{port} + length > 0x10000) return Error{"AML OperationRegion " + std::string(path) + " leaves the 64 KiB port space"};
  auto n = name_string(path);
  if (!n) return n.error();
  Bytes out{kExtOpPrefix, kOpRegionOp};
  append(out, *n);
  out.push_back(kRegionSystemIo);
  append(out, integer(port).value());
  append(out, integer(length).value());
  return out;
}

Aml dword_fields(std::string_view region, const std::vector<std::string_view>& names) {
  auto n = name_string(region);
  if (!n) return n.error();
  Bytes body = std::move(n).value();
  body.push_back(kFieldDWordNoLockWriteAsZeros);
  for (auto f : names) {
    auto seg = name_seg(f);
    if (!seg) return seg.error();
    append(body, *seg);
    body.push_back(32);  // the field's width in bits, as a 1-byte PkgLength
  }
  return with_pkg_length({kExtOpPrefix, kFieldOp}, body);
}

Aml term_list(const std::vector<Aml>& terms) { return concat(terms); }

Aml resource_template(const std::vector<Aml>& descriptors) {
  auto body = concat(descriptors);
  if (!body) return body.error();
  Bytes bytes = std::move(body).value();
  bytes.push_back(kEndTag);
  uint8_t sum = 0;
  for (uint8_t b : bytes) sum = static_cast<uint8_t>(sum + b);
  bytes.push_back(static_cast<uint8_t>(-sum));  // the whole template sums to zero
  return buffer(bytes);
}

Aml io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length, bool decode16) {
  if (max < min) return Error{"IO descriptor: max " + hex(max) + " is below min " + hex(min)};
  Bytes out{kIoTag, static_cast<uint8_t>(decode16 ? 1 : 0)};
  put_le(out, min, 2);
  put_le(out, max, 2);
  out.push_back(alignment);
  out.push_back(length);
  return out;
}

Aml irq_no_flags(const std::vector<uint8_t>& irqs) {
  if (irqs.empty()) return Error{"IRQNoFlags descriptor without IRQs"};
  uint16_t mask = 0;
  for (uint8_t irq : irqs) {
    if (irq > 15) return Error{"IRQNoFlags descriptor: IRQ " + std::to_string(irq) + " is not an ISA IRQ (0-15)"};
    mask = static_cast<uint16_t>(mask | (1u << irq));
  }
  Bytes out{kIrqNoFlagsTag};
  put_le(out, mask, 2);
  return out;
}

Aml interrupt(const std::vector<uint32_t>& gsis, bool edge_triggered, bool active_low) {
  if (gsis.empty() || gsis.size() > 255) {
    return Error{"Interrupt descriptor with " + std::to_string(gsis.size()) + " interrupts (1 to 255)"};
  }
  Bytes out{kExtendedInterruptTag};
  put_le(out, 2 + 4 * gsis.size(), 2);
  // Flags: bit 0 consumer, bit 1 edge, bit 2 active low (exclusive, not wake capable).
  out.push_back(static_cast<uint8_t>(1u | (edge_triggered ? 2u : 0u) | (active_low ? 4u : 0u)));
  out.push_back(static_cast<uint8_t>(gsis.size()));
  for (uint32_t g : gsis) put_le(out, g, 4);
  return out;
}

Aml memory32_fixed(uint32_t base, uint32_t length, bool read_write) {
  if (length != 0 && uint64_t{base} + length - 1 > UINT32_MAX) {
    return Error{"Memory32Fixed descriptor: " + hex(base) + "+" + hex(length) + " crosses 4 GiB"};
  }
  Bytes out{kMemory32FixedTag};
  put_le(out, 9, 2);
  out.push_back(read_write ? 1 : 0);
  put_le(out, base, 4);
  put_le(out, length, 4);
  return out;
}

Aml word_bus_number(const AddressRange& r) {
  return address_space(kWordAddressTag, 2, kResourceBusNumber, 0, r, "WordBusNumber");
}

Aml word_io(const AddressRange& r) {
  // Type-specific flags: _RNG = 3 (EntireRange), TypeStatic, DenseTranslation.
  return address_space(kWordAddressTag, 2, kResourceIo, 3, r, "WordIO");
}

Aml dword_memory(const AddressRange& r, Cacheable cacheable, bool read_write) {
  return address_space(kDWordAddressTag, 4, kResourceMemory, memory_flags(cacheable, read_write), r, "DWordMemory");
}

Aml qword_memory(const AddressRange& r, Cacheable cacheable, bool read_write) {
  return address_space(kQWordAddressTag, 8, kResourceMemory, memory_flags(cacheable, read_write), r, "QWordMemory");
}

}  // namespace tandem::acpi::aml
