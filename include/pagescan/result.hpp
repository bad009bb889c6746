// Errors as values: Error (errno, kind, message with context) and Result<T>.
//
// Result<T> is shaped like C++23 std::expected<T, Error> (has_value, value, error,
// operator*, operator->) so it can become that type once the toolchain allows it.
// No exception crosses the library's public boundary; value() on an error aborts.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pagescan {

// What went wrong, independent of the errno that carried it. The kind is chosen where
// the error is raised, from what the code knows there, never derived from the errno: the
// same errno means different things in different places (ENOENT is a missing /sys file,
// a target without a /proc directory, or a range no userfaultfd registered). docs/errors.md
// lists every error with its errno and kind.
enum class ErrorKind {
  // The request is wrong (EINVAL, EFAULT on a bad range), or the caller broke a
  // contract the call relies on: a watched or captured region was unmapped or replaced
  // since it was armed (ENOENT, whatever the engine).
  invalid_argument,
  no_such_process,  // the target does not exist or exited while being read
  permission,       // the caller may not inspect or change the target (EPERM, EACCES)
  unsupported,      // the running kernel or this memory lacks the interface or category
                    // (a missing /proc or /sys interface file included)
  kernel_failure,   // the kernel refused or failed a valid request (ENOMEM, EINTR, ...)
};

// The name used in messages and JSON: "invalid_argument", "no_such_process", ...
std::string_view to_string(ErrorKind kind);

class Error {
 public:
  Error(int errno_value, ErrorKind kind, std::string message)
      : errno_(errno_value), kind_(kind), message_(std::move(message)) {}

  // Builds the Error of a failed system call: message "<context>: <strerror(errno)>",
  // with the kind the caller states (what the failure means at that call).
  static Error from_errno(int errno_value, ErrorKind kind, std::string context);

  int errno_value() const { return errno_; }
  ErrorKind kind() const { return kind_; }
  // Full text: what was done, to which pid and range, and why it failed.
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<outer>: <message>".
  Error with_context(std::string_view outer) const;

 private:
  int errno_;
  ErrorKind kind_;
  std::string message_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->checked(); }
  T&& operator*() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }

  // Precondition: !has_value().
  const Error& error() const {
    if (has_value()) std::abort();
    return std::get<1>(state_);
  }

 private:
  T& checked() {
    if (!has_value()) std::abort();
    return std::get<0>(state_);
  }
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool has_value() const { return !error_.has_value(); }
  explicit operator bool() const { return has_value(); }
  void value() const {
    if (!has_value()) std::abort();
  }
  // Precondition: !has_value().
  const Error& error() const {
    if (has_value()) std::abort();
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

}  // namespace pagescan
