// SchedulingPolicy: picks the node a lease request should run on, from the
// raylet's ClusterView. Ray's policies:
//  - DEFAULT (hybrid): this node while its utilisation stays below a
//    threshold; otherwise the least utilised node that has the resources free,
//    chosen at random among the best few so that raylets deciding at once do
//    not all pick the same node; when none has them free, queue here if this
//    node could ever fit the request, else on the best node that could.
//  - SPREAD: round robin over the nodes with the resources free.
//  - NODE_AFFINITY: that node (queued there when busy); when it is dead or can
//    never fit the request, soft falls back to DEFAULT and hard fails.
//  - NODE_LABEL / label selectors: the nodes whose labels match the hard
//    conditions, preferring those that match the soft ones.
// A request spilled here from another raylet (grant_or_reject) is queued here
// if this node could ever fit it and rejected otherwise: requests never bounce
// between raylets. Not thread-safe: the raylet's main thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cyray/protobuf/common.pb.h"
#include "cyray/raylet/cluster_view.h"

namespace cyray::raylet {

struct SchedulingDecision {
  enum class Kind {
    // Queue the request on this node.
    kLocal,
    // Send the owner to `node`.
    kSpillback,
    // No alive node could ever fit it: wait for one to join.
    kInfeasible,
    // A grant_or_reject request this node cannot fit: the owner asks its own raylet again.
    kReject,
    // It can never run (hard affinity to a dead or unknown node): fail it.
    kUnschedulable,
  };
  Kind kind = Kind::kLocal;
  NodeID node;
  std::string message;
};

// Whether a node's labels meet every condition.
bool LabelsMatch(const LabelSet &labels,
                 const google::protobuf::RepeatedPtrField<rpc::LabelMatch> &conditions);

class SchedulingPolicy {
 public:
  // `random` returns a uniformly random number; `spread_threshold` is the
  // utilisation (0..1) under which DEFAULT keeps work on this node.
  SchedulingPolicy(double spread_threshold, std::function<uint64_t()> random);

  SchedulingDecision Schedule(const ClusterView &view, const ResourceSet &demand,
                              const rpc::SchedulingStrategy &strategy, bool grant_or_reject);

  // The fraction of its most used demanded resource a node has in use (CPU
  // when the demand names none).
  static double Utilization(const NodeView &node, const ResourceSet &demand);
  static bool Fits(const ResourceSet &amounts, const ResourceSet &demand);

 private:
  SchedulingDecision Hybrid(const ClusterView &view, const ResourceSet &demand,
                            const std::vector<const NodeView *> &candidates);
  SchedulingDecision Spread(const ClusterView &view, const ResourceSet &demand,
                            const std::vector<const NodeView *> &candidates);
  static SchedulingDecision Place(const ClusterView &view, const NodeView &node);

  double spread_threshold_;
  std::function<uint64_t()> random_;
  uint64_t spread_counter_ = 0;
};

}  // namespace cyray::raylet
