#include "cyray/raylet/cluster_view.h"

#include <algorithm>
#include <chrono>

#include "cyray/common/clock.h"

namespace cyray::raylet {

ClusterView::ClusterView(NodeID local_node_id, Clock now_ms)
    : local_node_id_(local_node_id), now_ms_(now_ms ? std::move(now_ms) : SteadyNowMs) {}

void ClusterView::Upsert(NodeView node) {
  NodeID id = node.node_id;
  node.reported_available = node.available;
  node.subtracted_at_ms = -1;
  auto it = nodes_.find(id);
  if (id == local_node_id_ && it != nodes_.end()) {
    // Our own free resources are known better here than in any report.
    node.available = it->second.available;
  }
  nodes_[id] = std::move(node);
}

void ClusterView::SetLocalAvailable(const ResourceSet &available) {
  nodes_[local_node_id_].node_id = local_node_id_;
  nodes_[local_node_id_].available = available;
}

void ClusterView::Subtract(const NodeID &node_id, const ResourceSet &demand) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || node_id == local_node_id_) return;
  for (const auto &[name, amount] : demand) {
    auto free = it->second.available.find(name);
    if (free != it->second.available.end()) free->second = std::max(0.0, free->second - amount);
  }
  it->second.subtracted_at_ms = now_ms_();
}

void ClusterView::ExpireSubtractions() {
  int64_t now = now_ms_();
  for (auto &[id, node] : nodes_) {
    if (node.subtracted_at_ms >= 0 && now - node.subtracted_at_ms >= kSubtractionLifetimeMs) {
      node.available = node.reported_available;
      node.subtracted_at_ms = -1;
    }
  }
}

const NodeView *ClusterView::Find(const NodeID &node_id) const {
  auto it = nodes_.find(node_id);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<const NodeView *> ClusterView::AliveNodes() const {
  std::vector<const NodeView *> out;
  for (const auto &[id, node] : nodes_) {
    if (node.alive) out.push_back(&node);
  }
  return out;
}

}  // namespace cyray::raylet
