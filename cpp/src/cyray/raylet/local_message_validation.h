// Validation of the messages a client sends on the raylet's Unix socket, before
// anything acts on them: a known type, a body that parses, object ids of the
// right length, sizes that fit the store without overflow, bounded counts.
// Pure functions, no state: fuzzed by local_message_validation_test.cc.
#pragma once

#include <cstdint>
#include <string>

#include "cyray/common/status.h"

namespace cyray::raylet {

// Most object ids one PLASMA_DELETE may carry.
constexpr int kMaxIdsPerDelete = 100000;
// Largest object size (data + metadata) a message may name: 2^56 bytes.
constexpr uint64_t kMaxObjectSize = uint64_t{1} << 56;

// OK when the message of `type` with `body` is well-formed; otherwise
// Invalid, saying what is wrong. (A well-formed object larger than the store
// is left to the store to refuse clearly.)
Status ValidateLocalMessage(uint32_t type, const std::string &body);

}  // namespace cyray::raylet
