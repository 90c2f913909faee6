#include "cyray/core_worker/common.h"

#include <cstdlib>

#include "cyray/common/id.h"
#include "cyray/core_worker/plasma_client.h"

namespace cyray::core {

std::string GeneratorItemId(const std::string &task_id, int64_t index) {
  constexpr uint32_t kFirstItemIndex = 1u << 30;
  return ObjectID::FromIndex(TaskID::FromBinary(task_id),
                             kFirstItemIndex + static_cast<uint32_t>(index))
      .Binary();
}

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

const uint8_t *ValueData(const ObjectValue &value) {
  if (value.plasma) return value.plasma->data();
  return reinterpret_cast<const uint8_t *>(value.data.data());
}

size_t ValueDataSize(const ObjectValue &value) {
  return value.plasma ? value.plasma->data_size() : value.data.size();
}

std::string ValueMetadata(const ObjectValue &value) {
  if (value.plasma) {
    return std::string(reinterpret_cast<const char *>(value.plasma->metadata()),
                       value.plasma->metadata_size());
  }
  return value.metadata;
}

}  // namespace cyray::core
