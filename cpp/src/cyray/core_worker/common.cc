#include "cyray/core_worker/common.h"

#include <cstdlib>

namespace cyray::core {

std::string ErrorMetadata(int error_type) { return "E" + std::to_string(error_type); }

int ErrorTypeOf(const std::string &metadata) {
  if (metadata.size() < 2 || metadata[0] != 'E') return 0;
  return std::atoi(metadata.c_str() + 1);
}

ObjectValuePtr MakeErrorObject(int error_type, const std::string &message) {
  auto value = std::make_shared<ObjectValue>();
  value->data = message;
  value->metadata = ErrorMetadata(error_type);
  return value;
}

}  // namespace cyray::core
