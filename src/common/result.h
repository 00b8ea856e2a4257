// Result<T>: the one convention for expected failures (a missing file, a bad graph, an
// unreachable peer). The error is a message that names its place (file, task, peer).
// Fatal, unexpected failures are exceptions caught once in main().
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace zbuild {

struct Error {
  std::string message;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Error make_error(std::string msg) { return Error{std::move(msg)}; }

}  // namespace zbuild

// Propagate an error from an expression returning Result<...>.
#define ZB_TRY(expr)                                  \
  do {                                                \
    auto zb_try_r_ = (expr);                          \
    if (!zb_try_r_.ok()) return zb_try_r_.error();    \
  } while (0)
