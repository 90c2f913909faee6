#include "cyray/common/secure_random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "cyray/common/logging.h"

namespace cyray {

std::string SecureRandomBytes(size_t size) {
  std::string out(size, '\0');
  size_t filled = 0;
  while (filled < size) {
    ssize_t n = ::getrandom(&out[filled], size - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    CYRAY_CHECK(n > 0) << "getrandom failed: " << std::strerror(errno);
    filled += static_cast<size_t>(n);
  }
  return out;
}

int64_t SecureRandomPositiveInt64() {
  std::string bytes = SecureRandomBytes(sizeof(uint64_t));
  uint64_t value = 0;
  std::memcpy(&value, bytes.data(), sizeof(value));
  value &= ~(uint64_t{1} << 63);
  return value == 0 ? 1 : static_cast<int64_t>(value);
}

bool ConstantTimeEquals(const std::string &a, const std::string &b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

}  // namespace cyray
