// ClusterView: what one raylet knows of every node of the cluster (totals,
// free resources, labels, liveness), fed by the GCS's versioned view updates
// and by this node's own accounting, which it trusts over any report. The
// scheduling policy reads it. Not thread-safe: the raylet's main thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cyray/common/id.h"
#include "cyray/raylet/resources.h"

namespace cyray::raylet {

using LabelSet = std::map<std::string, std::string>;

struct NodeView {
  NodeID node_id;
  std::string ip_address;
  int port = 0;
  ResourceSet total;
  ResourceSet available;
  LabelSet labels;
  bool alive = true;
  // What the node last reported free, and when requests were last counted
  // against it here (see ClusterView::Subtract).
  ResourceSet reported_available;
  int64_t subtracted_at_ms = -1;

  std::string Address() const { return ip_address + ":" + std::to_string(port); }
};

class ClusterView {
 public:
  using Clock = std::function<int64_t()>;
  explicit ClusterView(NodeID local_node_id, Clock now_ms = nullptr);

  const NodeID &local_node_id() const { return local_node_id_; }
  // Adds or replaces a node's entry (a dead node stays, marked not alive).
  void Upsert(NodeView node);
  // This node's own free resources (always current, unlike reports).
  void SetLocalAvailable(const ResourceSet &available);
  // Counts a request sent to `node_id` for a short while (its report may
  // not change if the request comes and goes in between): afterwards the
  // node's last report stands again.
  void Subtract(const NodeID &node_id, const ResourceSet &demand);
  // Drops the counts older than kSubtractionLifetimeMs.
  void ExpireSubtractions();
  static constexpr int64_t kSubtractionLifetimeMs = 1000;
  const NodeView *Find(const NodeID &node_id) const;
  std::vector<const NodeView *> AliveNodes() const;
  // The version of the last update applied from the GCS.
  int64_t version() const { return version_; }
  void set_version(int64_t version) { version_ = version; }

 private:
  NodeID local_node_id_;
  Clock now_ms_;
  // Ordered by id, so every raylet walks the nodes in the same order.
  std::map<NodeID, NodeView> nodes_;
  int64_t version_ = 0;
};

}  // namespace cyray::raylet
