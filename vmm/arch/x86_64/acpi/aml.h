// vmm/arch/x86_64/acpi/aml.h: a small AML (ACPI Machine Language) byte-code builder, enough for
// tandem's DSDT.
//
// Every builder returns an Aml: either the encoded bytes of one term or an Error (a bad name, a value
// out of range, ...). Builders taking children propagate the first child's error, so a whole tree is
// built with plain nested calls and checked once at the end. Encodings follow the ACPI 6.x spec,
// chapter 20 (AML) and section 6.4 (resource data types). Only what tandem needs is here; new terms
// are one more function each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace tandem::acpi::aml {

using Bytes = std::vector<uint8_t>;
using Aml = Result<Bytes>;

// --- Encoding primitives ---------------------------------------------------------------------------

// PkgLength for a package whose total length (these PkgLength bytes included) is `value`:
// 1 byte up to 63, 2 up to 4095, 3 up to 2^20-1, 4 up to 2^28-1; larger is an Error.
Aml encode_pkg_length(uint32_t value);
// PkgLength for `content_len` bytes following it (picks the size so the total includes itself).
Aml pkg_length_for(size_t content_len);

// The 32-bit EISA id of "PNP0501"-style strings (3 upper-case letters, 4 hex digits), as stored in
// AML (0x0105D041 for PNP0501).
Result<uint32_t> eisa_id_value(std::string_view id);

// One NameSeg: 1 to 4 characters ([A-Z_] then [A-Z0-9_]), padded to 4 with '_'.
Aml name_seg(std::string_view seg);
// A NameString: optional '\' (root) or '^'... (parent) prefixes, then dot-separated segments:
// "\\_SB_.PCI0", "_S5", "^COM1". A bare prefix ("\\") is followed by the NullName.
Aml name_string(std::string_view path);

// --- Data objects ----------------------------------------------------------------------------------

// The shortest encoding: Zero, One, Ones (all 64 bits set), else Byte/Word/DWord/QWordPrefix.
Aml integer(uint64_t value);
// Fixed-width encodings (BytePrefix etc.) regardless of the value.
Aml byte_const(uint8_t value);
Aml word_const(uint16_t value);
Aml dword_const(uint32_t value);
Aml qword_const(uint64_t value);
// A String: ASCII without NULs (error otherwise), terminated by NUL.
Aml string(std::string_view s);
// EisaId("PNP0501"): the id as a DWord constant.
Aml eisa_id(std::string_view id);
// Buffer(n) { bytes }.
Aml buffer(std::span<const uint8_t> bytes);
// Package(n) { elements } with n = elements.size() (at most 255).
Aml package(const std::vector<Aml>& elements);
// A name used as a term (a reference to an object), same encoding as name_string.
inline Aml reference(std::string_view path) { return name_string(path); }
// Local0..Local7, Arg0..Arg6.
Aml local(unsigned n);
Aml arg(unsigned n);

// --- Named objects and control -----------------------------------------------------------------------

// Name(path, value).
Aml name(std::string_view path, const Aml& value);
// Scope(path) { terms }.
Aml scope(std::string_view path, const std::vector<Aml>& terms);
// Device(path) { terms }.
Aml device(std::string_view path, const std::vector<Aml>& terms);
// Method(path, args, Serialized/NotSerialized, sync_level) { terms }.
Aml method(std::string_view path, unsigned num_args, bool serialized, const std::vector<Aml>& terms,
           unsigned sync_level = 0);
// Return(value).
Aml return_value(const Aml& value);
// Store(source, target).
Aml store(const Aml& source, const Aml& target);
// Notify(object, value).
Aml notify(const Aml& object, const Aml& value);
// If(predicate) { terms }: the terms run when the predicate's integer value is non-zero.
Aml if_(const Aml& predicate, const std::vector<Aml>& terms);
// And(a, b): the bitwise and, as an operand (no target: the result is only used, never stored).
Aml and_(const Aml& a, const Aml& b);
// ShiftLeft(value, count), as an operand (no target).
Aml shift_left(const Aml& value, const Aml& count);
// OperationRegion(path, SystemIO, offset, length): a window of I/O ports for a Field.
Aml io_region(std::string_view path, uint16_t port, uint16_t length);
// Field(region, DWordAcc, NoLock, WriteAsZeros) { name, 32, ... }: 32-bit registers in order.
Aml dword_fields(std::string_view region, const std::vector<std::string_view>& names);
// The concatenation of several terms (a TermList), e.g. a DSDT body.
Aml term_list(const std::vector<Aml>& terms);

// --- Resource templates (ACPI 6.x section 6.4) ---------------------------------------------------

// ResourceTemplate() { descriptors }: a Buffer ending in an EndTag whose checksum makes the
// template's bytes sum to zero.
Aml resource_template(const std::vector<Aml>& descriptors);

// IO(Decode16 or Decode10, min, max, alignment, length): I/O port descriptor. A fixed port has
// min == max.
Aml io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length, bool decode16 = true);
// IRQNoFlags() { irqs }: edge-triggered, active-high ISA IRQs 0..15 (at least one).
Aml irq_no_flags(const std::vector<uint8_t>& irqs);
// Interrupt(ResourceConsumer, Edge/Level, ActiveHigh/ActiveLow, Exclusive) { gsis }: the extended
// interrupt descriptor (ACPI 6.4.3.6), 1 to 255 GSIs.
Aml interrupt(const std::vector<uint32_t>& gsis, bool edge_triggered, bool active_low);
// Memory32Fixed(ReadWrite/ReadOnly, base, length).
Aml memory32_fixed(uint32_t base, uint32_t length, bool read_write = true);

// An address range for the Word/DWord/QWord address space descriptors. The descriptor's length
// is max - min + 1.
struct AddressRange {
  uint64_t min = 0;
  uint64_t max = 0;          // inclusive
  uint64_t granularity = 0;
  uint64_t translation = 0;
  bool producer = true;      // ResourceProducer (a bridge window) or ResourceConsumer
  bool min_fixed = true;
  bool max_fixed = true;
};
enum class Cacheable : uint8_t { kNonCacheable = 0, kCacheable = 1, kWriteCombining = 2, kPrefetchable = 3 };

// WordBusNumber(...), WordIO(..., EntireRange), DWordMemory(...), QWordMemory(...). Values that
// do not fit the descriptor's width, or max < min, are Errors.
Aml word_bus_number(const AddressRange& r);
Aml word_io(const AddressRange& r);
Aml dword_memory(const AddressRange& r, Cacheable cacheable = Cacheable::kNonCacheable, bool read_write = true);
Aml qword_memory(const AddressRange& r, Cacheable cacheable = Cacheable::kNonCacheable, bool read_write = true);

}  // namespace tandem::acpi::aml
