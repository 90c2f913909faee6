#include "cyray/common/status.h"

namespace cyray {

std::string StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOK:
      return "OK";
    case StatusCode::kInvalid:
      return "Invalid";
    case StatusCode::kKeyError:
      return "KeyError";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kIOError:
      return "IOError";
    case StatusCode::kTimedOut:
      return "TimedOut";
    case StatusCode::kInterrupted:
      return "Interrupted";
    case StatusCode::kDisconnected:
      return "Disconnected";
    case StatusCode::kObjectStoreFull:
      return "ObjectStoreFull";
    case StatusCode::kNotImplemented:
      return "NotImplemented";
    case StatusCode::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return StatusCodeName(code_) + ": " + message_;
}

std::ostream &operator<<(std::ostream &os, const Status &status) { return os << status.ToString(); }

}  // namespace cyray
