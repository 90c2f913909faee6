// PlasmaClient: this process's connection to its node's shared-memory object
// store (hosted by the raylet). The region is mapped once; objects are created
// and written in place, sealed, then read in place by any process on the node.
// Every request is synchronous on a dedicated Unix socket. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cyray/common/id.h"
#include "cyray/common/status.h"

namespace cyray::core {

class PlasmaClient;

// A sealed object read in place; the store keeps it while this lives.
class PlasmaBuffer {
 public:
  PlasmaBuffer(std::shared_ptr<PlasmaClient> client, const ObjectID &id, const uint8_t *data,
               size_t data_size, size_t metadata_size)
      : client_(std::move(client)),
        id_(id),
        data_(data),
        data_size_(data_size),
        metadata_size_(metadata_size) {}
  ~PlasmaBuffer();
  const uint8_t *data() const { return data_; }
  size_t data_size() const { return data_size_; }
  const uint8_t *metadata() const { return data_ + data_size_; }
  size_t metadata_size() const { return metadata_size_; }

 private:
  std::shared_ptr<PlasmaClient> client_;
  ObjectID id_;
  const uint8_t *data_;
  size_t data_size_;
  size_t metadata_size_;
};

class PlasmaClient : public std::enable_shared_from_this<PlasmaClient> {
 public:
  ~PlasmaClient();

  // Connects to the raylet's socket and maps the store, presenting the token
  // the raylet gave this process when it registered.
  static StatusOr<std::shared_ptr<PlasmaClient>> Connect(const std::string &socket_path,
                                                         const std::string &plasma_token);

  // Room for an object; write data then metadata at the returned address, then
  // Seal. A full store (everything in use, nothing to spill) is retried for
  // object_store_full_timeout_ms, then ObjectStoreFull.
  Status Create(const ObjectID &id, size_t data_size, size_t metadata_size, uint8_t **address);
  Status Seal(const ObjectID &id);
  // A sealed object, or nullptr when the store does not have it.
  StatusOr<std::shared_ptr<PlasmaBuffer>> Get(const ObjectID &id);
  void Release(const ObjectID &id);
  void Delete(const std::vector<ObjectID> &ids);
  // Puts a whole object (data + metadata) in one step.
  Status Put(const ObjectID &id, const std::string &data, const std::string &metadata);
  Status Stats(uint64_t *capacity, uint64_t *used, uint64_t *num_objects,
               uint64_t *spilled_bytes = nullptr);

 private:
  PlasmaClient() = default;
  Status Request(uint32_t type, const std::string &body, uint32_t reply_type, std::string *reply);

  std::mutex mu_;
  int fd_ = -1;
  uint8_t *base_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace cyray::core
