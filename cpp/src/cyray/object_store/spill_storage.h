// Where a node's object store puts objects it spills when memory runs out.
// SpillStorageInterface is the seam; FileSpillStorage keeps one file per object
// in a directory (under the session dir). Not thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "cyray/common/id.h"
#include "cyray/common/status.h"

namespace cyray::object_store {

class SpillStorageInterface {
 public:
  virtual ~SpillStorageInterface() = default;
  virtual Status Write(const ObjectID &id, const uint8_t *data, size_t size) = 0;
  virtual Status Read(const ObjectID &id, uint8_t *out, size_t size) = 0;
  virtual void Remove(const ObjectID &id) = 0;
};

class FileSpillStorage : public SpillStorageInterface {
 public:
  // Creates `directory` on first write.
  explicit FileSpillStorage(std::string directory) : directory_(std::move(directory)) {}
  Status Write(const ObjectID &id, const uint8_t *data, size_t size) override;
  Status Read(const ObjectID &id, uint8_t *out, size_t size) override;
  void Remove(const ObjectID &id) override;

 private:
  std::string PathOf(const ObjectID &id) const { return directory_ + "/" + id.Hex(); }
  std::string directory_;
  bool created_ = false;
};

}  // namespace cyray::object_store
