// Status: the result of an operation that can fail. C++ code in cyray returns a
// Status (or a StatusOr<T>) and never throws; the Cython layer turns a bad Status
// into a Python exception in one place (`check_status` in pyx/status.pxi).
// Value type; safe to copy between threads.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <utility>

namespace cyray {

enum class StatusCode : int {
  kOK = 0,
  kInvalid = 1,          // bad argument from the caller
  kKeyError = 2,         // a key or name that does not exist
  kNotFound = 3,         // an object or entity that does not exist (any more)
  kIOError = 4,          // a socket, file or RPC failed
  kTimedOut = 5,         // a deadline passed
  kInterrupted = 6,      // a signal (Ctrl-C) interrupted a wait
  kDisconnected = 7,     // the peer (raylet, GCS, worker) went away
  kObjectStoreFull = 8,  // no room in the object store
  kNotImplemented = 9,
  kUnknown = 10,
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status Invalid(std::string msg) { return {StatusCode::kInvalid, std::move(msg)}; }
  static Status KeyError(std::string msg) { return {StatusCode::kKeyError, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status TimedOut(std::string msg) { return {StatusCode::kTimedOut, std::move(msg)}; }
  static Status Interrupted(std::string msg) { return {StatusCode::kInterrupted, std::move(msg)}; }
  static Status Disconnected(std::string msg) {
    return {StatusCode::kDisconnected, std::move(msg)};
  }
  static Status ObjectStoreFull(std::string msg) {
    return {StatusCode::kObjectStoreFull, std::move(msg)};
  }
  static Status NotImplemented(std::string msg) {
    return {StatusCode::kNotImplemented, std::move(msg)};
  }
  static Status Unknown(std::string msg) { return {StatusCode::kUnknown, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOK; }
  StatusCode code() const { return code_; }
  int code_int() const { return static_cast<int>(code_); }
  const std::string &message() const { return message_; }
  bool IsTimedOut() const { return code_ == StatusCode::kTimedOut; }
  bool IsInterrupted() const { return code_ == StatusCode::kInterrupted; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsDisconnected() const { return code_ == StatusCode::kDisconnected; }

  // "TimedOut: message", for logs.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOK;
  std::string message_;
};

std::string StatusCodeName(StatusCode code);
std::ostream &operator<<(std::ostream &os, const Status &status);

// A value or the Status explaining why there is none.
template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {}  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status &status() const { return status_; }
  T &value() { return *value_; }
  const T &value() const { return *value_; }
  T &operator*() { return *value_; }
  T *operator->() { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace cyray

#define CYRAY_RETURN_NOT_OK(expr) \
  do {                            \
    ::cyray::Status _s = (expr);  \
    if (!_s.ok()) return _s;      \
  } while (0)
