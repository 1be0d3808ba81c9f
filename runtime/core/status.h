// Status and Result<T>: how every fallible runtime function reports failure.
// The runtime never throws across its API and never aborts on input a file,
// a user or a model controls; it returns a code plus a message saying what
// went wrong and where.
#pragma once

#include <cstdint>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

namespace kite {

// Frozen list: values are mirrored by kite_status in kite.h.
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,
  kNotFound = 2,
  kIoError = 3,
  kCorruptArtifact = 4,
  kUnsupported = 5,
  kOutOfRange = 6,
  kOutOfMemory = 7,
  kInternal = 8,
  kContextFull = 9,
  kCancelled = 10,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt artifact: tensor 'x' ends past the file"
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status IoError(std::string message);
Status CorruptArtifact(std::string message);
Status Unsupported(std::string message);
Status OutOfRange(std::string message);
Status Internal(std::string message);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : has_value_(true) { new (&storage_) T(std::move(value)); }  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {                          // NOLINT
    if (status_.ok()) status_ = Internal("Result constructed from an OK status without a value");
  }
  Result(const Result& other) : status_(other.status_), has_value_(other.has_value_) {
    if (has_value_) new (&storage_) T(other.value());
  }
  Result(Result&& other) noexcept : status_(std::move(other.status_)), has_value_(other.has_value_) {
    if (has_value_) new (&storage_) T(std::move(other.value()));
  }
  Result& operator=(Result other) {
    this->~Result();
    new (this) Result(std::move(other));
    return *this;
  }
  ~Result() {
    if (has_value_) value().~T();
  }

  bool ok() const { return has_value_; }
  const Status& status() const { return status_; }
  T& value() & { return *reinterpret_cast<T*>(&storage_); }
  const T& value() const& { return *reinterpret_cast<const T*>(&storage_); }
  T&& value() && { return std::move(*reinterpret_cast<T*>(&storage_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  bool has_value_ = false;
  typename std::aligned_storage<sizeof(T), alignof(T)>::type storage_;
};

}  // namespace kite

#define KITE_CONCAT_INNER(a, b) a##b
#define KITE_CONCAT(a, b) KITE_CONCAT_INNER(a, b)

// Propagates a failed Status out of the current function.
#define KITE_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::kite::Status kite_status_tmp_ = (expr);       \
    if (!kite_status_tmp_.ok()) return kite_status_tmp_; \
  } while (0)

// `KITE_ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a Result or returns its error.
#define KITE_ASSIGN_OR_RETURN(lhs, expr) \
  KITE_ASSIGN_OR_RETURN_IMPL(KITE_CONCAT(kite_result_, __LINE__), lhs, expr)
#define KITE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
