#include "cyray/core_worker/object_directory.h"

namespace cyray::core {

void ObjectDirectory::AddPrimary(const ObjectID &id, const NodeID &node) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry &entry = objects_[id];
  entry.nodes.insert(node);
  entry.state = State::kPresent;
}

bool ObjectDirectory::AddCopy(const ObjectID &id, const NodeID &node) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it == objects_.end() || it->second.state != State::kPresent) return false;
  it->second.nodes.insert(node);
  return true;
}

std::vector<NodeID> ObjectDirectory::Remove(const ObjectID &id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it == objects_.end()) return {};
  std::vector<NodeID> nodes(it->second.nodes.begin(), it->second.nodes.end());
  objects_.erase(it);
  return nodes;
}

ObjectDirectory::State ObjectDirectory::Locations(const ObjectID &id,
                                                  std::vector<NodeID> *nodes) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it == objects_.end()) return State::kUnknown;
  nodes->assign(it->second.nodes.begin(), it->second.nodes.end());
  return it->second.state;
}

ObjectDirectory::Removal ObjectDirectory::RemoveNode(
    const NodeID &node, const std::function<bool(const ObjectID &)> &can_rebuild) {
  std::lock_guard<std::mutex> lock(mu_);
  Removal removal;
  for (auto &[id, entry] : objects_) {
    if (entry.nodes.erase(node) > 0 && entry.nodes.empty() && entry.state == State::kPresent) {
      if (can_rebuild && can_rebuild(id)) {
        entry.state = State::kReconstructing;
        removal.rebuilding.push_back(id);
      } else {
        entry.state = State::kLost;
        removal.lost.push_back(id);
      }
    }
  }
  return removal;
}

void ObjectDirectory::MarkReconstructing(const ObjectID &id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it != objects_.end()) it->second.state = State::kReconstructing;
}

void ObjectDirectory::MarkLost(const ObjectID &id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it != objects_.end() && it->second.nodes.empty()) {
    it->second.state = State::kReconstructionFailed;
  }
}

size_t ObjectDirectory::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.size();
}

}  // namespace cyray::core
