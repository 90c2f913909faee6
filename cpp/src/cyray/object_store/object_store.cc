#include "cyray/object_store/object_store.h"

namespace cyray::object_store {

Status ObjectStore::Create(const ObjectID &id, size_t data_size, size_t metadata_size,
                           ClientId client, ObjectLocation *location) {
  if (objects_.count(id)) return Status::Invalid("object " + id.Hex() + " already exists");
  size_t total = data_size + metadata_size;
  if (total > allocator_.capacity()) {
    return Status::ObjectStoreFull(
        "object " + id.Hex() + " needs " + std::to_string(total) +
        " bytes, more than the whole object store (" + std::to_string(allocator_.capacity()) +
        " bytes); start cyray with a larger object_store_memory");
  }
  auto offset = allocator_.Allocate(total);
  if (!offset) {
    return Status::ObjectStoreFull(
        "no room for object " + id.Hex() + " of " + std::to_string(total) + " bytes: " +
        std::to_string(allocator_.used()) + " of " + std::to_string(allocator_.capacity()) +
        " bytes in use, largest free range " + std::to_string(allocator_.LargestFreeRange()) +
        " bytes");
  }
  Entry entry;
  entry.location = ObjectLocation{*offset, data_size, metadata_size};
  entry.creator = client;
  objects_.emplace(id, entry);
  client_objects_[client].insert(id);
  *location = entry.location;
  return Status::OK();
}

Status ObjectStore::Seal(const ObjectID &id, ClientId client) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return Status::NotFound("object " + id.Hex() + " does not exist");
  if (it->second.sealed) return Status::Invalid("object " + id.Hex() + " is already sealed");
  if (it->second.creator != client) {
    return Status::Invalid("object " + id.Hex() + " can only be sealed by its creator");
  }
  it->second.sealed = true;
  client_objects_[client].erase(id);
  if (on_sealed_) on_sealed_(id);
  return Status::OK();
}

ObjectStore::GetResult ObjectStore::Get(const ObjectID &id, ClientId client,
                                        ObjectLocation *location) {
  auto it = objects_.find(id);
  if (it == objects_.end() || it->second.delete_pending) return GetResult::kMissing;
  if (!it->second.sealed) return GetResult::kNotSealed;
  it->second.readers[client]++;
  client_objects_[client].insert(id);
  *location = it->second.location;
  return GetResult::kFound;
}

void ObjectStore::Release(const ObjectID &id, ClientId client) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  auto reader = it->second.readers.find(client);
  if (reader == it->second.readers.end()) return;
  if (--reader->second == 0) {
    it->second.readers.erase(reader);
    client_objects_[client].erase(id);
  }
  if (it->second.delete_pending && it->second.readers.empty()) Free(it);
}

void ObjectStore::Delete(const ObjectID &id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  if (it->second.readers.empty()) {
    Free(it);
  } else {
    it->second.delete_pending = true;
  }
}

void ObjectStore::DisconnectClient(ClientId client) {
  auto held = client_objects_.find(client);
  if (held == client_objects_.end()) return;
  std::unordered_set<ObjectID> ids = std::move(held->second);
  client_objects_.erase(held);
  for (const ObjectID &id : ids) {
    auto it = objects_.find(id);
    if (it == objects_.end()) continue;
    if (!it->second.sealed && it->second.creator == client) {
      Free(it);  // half-written: never visible to anyone
      continue;
    }
    it->second.readers.erase(client);
    if (it->second.delete_pending && it->second.readers.empty()) Free(it);
  }
}

void ObjectStore::Free(std::unordered_map<ObjectID, Entry>::iterator it) {
  allocator_.Free(it->second.location.offset);
  for (const auto &[client, count] : it->second.readers) client_objects_[client].erase(it->first);
  objects_.erase(it);
}

StoreStats ObjectStore::Stats() const {
  StoreStats stats;
  stats.capacity = allocator_.capacity();
  stats.used = allocator_.used();
  stats.num_objects = objects_.size();
  for (const auto &[id, entry] : objects_) stats.num_unsealed += entry.sealed ? 0 : 1;
  return stats;
}

}  // namespace cyray::object_store
