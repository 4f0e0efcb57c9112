// base/result.h: errors as values at module borders.
//
// Result<T> holds either a T or an Error (a message that says what failed and where). Modules return
// it instead of throwing; only the top level turns an Error into "cannot continue". Small on purpose:
// C++20 has no std::expected yet.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace tandem {

struct Error {
  std::string message;
};

// An Error from a message and the current errno ("what: strerror(errno)").
inline Error errno_error(const std::string& what, int err = errno) {
  return Error{what + ": " + std::strerror(err)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose, like expected
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }
  const std::string& message() const { return error().message; }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  const std::string& message() const { return error_.message; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

// Prefixes an error with context: "while X: <inner message>".
template <typename T>
Result<T> with_context(Result<T> r, const std::string& context) {
  if (r.ok()) return r;
  return Error{context + ": " + r.message()};
}

}  // namespace tandem

// TRY(expr): return the Error of a failed Result from the enclosing function.
#define TANDEM_TRY(expr)                              \
  do {                                                \
    auto tandem_try_result_ = (expr);                 \
    if (!tandem_try_result_.ok()) return tandem_try_result_.error(); \
  } while (0)
