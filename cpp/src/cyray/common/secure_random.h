// Secrets (tokens) from the operating system's random source: getrandom(2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cyray {

// `size` random bytes from the OS; aborts if the OS cannot provide them.
std::string SecureRandomBytes(size_t size);
// A random positive 63-bit integer from the OS (e.g. a worker start-up token).
int64_t SecureRandomPositiveInt64();
// Compares two secrets in time that depends only on their lengths.
bool ConstantTimeEquals(const std::string &a, const std::string &b);

}  // namespace cyray
