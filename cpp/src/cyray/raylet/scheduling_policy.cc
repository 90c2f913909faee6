#include "cyray/raylet/scheduling_policy.h"

#include <algorithm>
#include <cmath>

namespace cyray::raylet {

namespace {
constexpr double kEpsilon = 1e-9;
// DEFAULT picks at random among this fraction of the best nodes (at least one).
constexpr double kTopFraction = 0.2;

bool LabelMatches(const LabelSet &labels, const rpc::LabelMatch &condition) {
  auto it = labels.find(condition.key());
  bool has = it != labels.end();
  auto listed = [&] {
    return has && std::find(condition.values().begin(), condition.values().end(), it->second) !=
                      condition.values().end();
  };
  switch (condition.op()) {
    case rpc::LabelMatch::IN:
      return listed();
    case rpc::LabelMatch::NOT_IN:
      return !listed();
    case rpc::LabelMatch::EXISTS:
      return has;
    case rpc::LabelMatch::DOES_NOT_EXIST:
      return !has;
    default:
      return false;
  }
}
}  // namespace

bool LabelsMatch(const LabelSet &labels,
                 const google::protobuf::RepeatedPtrField<rpc::LabelMatch> &conditions) {
  for (const auto &condition : conditions) {
    if (!LabelMatches(labels, condition)) return false;
  }
  return true;
}

SchedulingPolicy::SchedulingPolicy(double spread_threshold, std::function<uint64_t()> random)
    : spread_threshold_(spread_threshold), random_(std::move(random)) {}

bool SchedulingPolicy::Fits(const ResourceSet &amounts, const ResourceSet &demand) {
  for (const auto &[name, amount] : demand) {
    if (amount <= 0) continue;
    auto it = amounts.find(name);
    if (it == amounts.end() || it->second + kEpsilon < amount) return false;
  }
  return true;
}

double SchedulingPolicy::Utilization(const NodeView &node, const ResourceSet &demand) {
  double worst = 0;
  auto consider = [&](const std::string &name) {
    auto total = node.total.find(name);
    if (total == node.total.end() || total->second <= 0) return;
    auto free = node.available.find(name);
    double available = free == node.available.end() ? 0 : free->second;
    worst = std::max(worst, 1.0 - available / total->second);
  };
  bool any = false;
  for (const auto &[name, amount] : demand) {
    if (amount > 0) {
      consider(name);
      any = true;
    }
  }
  if (!any) consider("CPU");
  return worst;
}

SchedulingDecision SchedulingPolicy::Place(const ClusterView &view, const NodeView &node) {
  SchedulingDecision decision;
  decision.node = node.node_id;
  decision.kind = node.node_id == view.local_node_id() ? SchedulingDecision::Kind::kLocal
                                                       : SchedulingDecision::Kind::kSpillback;
  return decision;
}

SchedulingDecision SchedulingPolicy::Schedule(const ClusterView &view, const ResourceSet &demand,
                                              const rpc::SchedulingStrategy &strategy,
                                              bool grant_or_reject) {
  const NodeView *local = view.Find(view.local_node_id());
  if (grant_or_reject) {
    SchedulingDecision decision;
    if (local != nullptr && Fits(local->total, demand) &&
        LabelsMatch(local->labels, strategy.hard())) {
      decision.kind = SchedulingDecision::Kind::kLocal;
      decision.node = view.local_node_id();
    } else {
      decision.kind = SchedulingDecision::Kind::kReject;
      decision.message = "this node cannot fit the request";
    }
    return decision;
  }
  if (strategy.kind() == rpc::SchedulingStrategy::NODE_AFFINITY) {
    NodeID target = NodeID::FromBinary(strategy.node_id());
    const NodeView *node = view.Find(target);
    if (node != nullptr && node->alive && Fits(node->total, demand)) {
      // As Ray: a node that could fit the request gets it, and a busy one
      // queues it, unless the caller asked to move on or fail when it is busy.
      bool unavailable = (strategy.spill_on_unavailable() || strategy.fail_on_unavailable()) &&
                         !Fits(node->available, demand);
      if (!unavailable) return Place(view, *node);
      if (strategy.fail_on_unavailable()) {
        SchedulingDecision decision;
        decision.kind = SchedulingDecision::Kind::kUnschedulable;
        decision.message = "the node " + target.Hex() +
                           " named by NodeAffinitySchedulingStrategy(_fail_on_unavailable=True) "
                           "has no room for " +
                           ResourceSetToString(demand) + " now";
        return decision;
      }
      if (!strategy.soft()) return Place(view, *node);
    } else if (!strategy.soft()) {
      SchedulingDecision decision;
      decision.kind = SchedulingDecision::Kind::kUnschedulable;
      decision.message = node == nullptr || !node->alive
                             ? "the node " + target.Hex() +
                                   " named by NodeAffinitySchedulingStrategy(soft=False) "
                                   "is not an alive node of the cluster"
                             : "the node " + target.Hex() +
                                   " named by NodeAffinitySchedulingStrategy(soft=False) "
                                   "can never fit the request " +
                                   ResourceSetToString(demand);
      return decision;
    }
  }
  std::vector<const NodeView *> candidates;
  for (const NodeView *node : view.AliveNodes()) {
    if (LabelsMatch(node->labels, strategy.hard())) candidates.push_back(node);
  }
  if (strategy.soft_labels_size() > 0) {
    std::vector<const NodeView *> preferred;
    for (const NodeView *node : candidates) {
      if (LabelsMatch(node->labels, strategy.soft_labels()) && Fits(node->available, demand)) {
        preferred.push_back(node);
      }
    }
    if (!preferred.empty()) candidates = std::move(preferred);
  }
  if (strategy.kind() == rpc::SchedulingStrategy::SPREAD) {
    return Spread(view, demand, candidates);
  }
  return Hybrid(view, demand, candidates);
}

SchedulingDecision SchedulingPolicy::Hybrid(const ClusterView &view, const ResourceSet &demand,
                                            const std::vector<const NodeView *> &candidates) {
  const NodeView *local = nullptr;
  std::vector<std::pair<double, const NodeView *>> free;
  const NodeView *best_feasible = nullptr;
  double best_feasible_utilization = 2;
  for (const NodeView *node : candidates) {
    if (!Fits(node->total, demand)) continue;
    double utilization = Utilization(*node, demand);
    if (node->node_id == view.local_node_id()) local = node;
    if (Fits(node->available, demand)) free.emplace_back(utilization, node);
    if (utilization < best_feasible_utilization) {
      best_feasible_utilization = utilization;
      best_feasible = node;
    }
  }
  if (local != nullptr && Fits(local->available, demand) &&
      Utilization(*local, demand) < spread_threshold_) {
    return Place(view, *local);
  }
  if (!free.empty()) {
    // Below the threshold every node counts as idle; then the local node first.
    for (auto &[utilization, node] : free) {
      if (utilization < spread_threshold_) utilization = 0;
    }
    std::stable_sort(free.begin(), free.end(), [&](const auto &a, const auto &b) {
      if (a.first != b.first) return a.first < b.first;
      return a.second == local && b.second != local;
    });
    size_t top = std::max<size_t>(1, static_cast<size_t>(std::ceil(free.size() * kTopFraction)));
    // Only nodes as good as the best are in the running.
    size_t equal = 1;
    while (equal < top && free[equal].first <= free[0].first + kEpsilon) ++equal;
    return Place(view, *free[random_() % equal].second);
  }
  if (local != nullptr) return Place(view, *local);
  if (best_feasible != nullptr) return Place(view, *best_feasible);
  SchedulingDecision decision;
  decision.kind = SchedulingDecision::Kind::kInfeasible;
  decision.message = "no alive node of the cluster can fit the request " +
                     ResourceSetToString(demand) + "; it waits until a node that can joins";
  return decision;
}

SchedulingDecision SchedulingPolicy::Spread(const ClusterView &view, const ResourceSet &demand,
                                            const std::vector<const NodeView *> &candidates) {
  std::vector<const NodeView *> free, feasible;
  for (const NodeView *node : candidates) {
    if (!Fits(node->total, demand)) continue;
    feasible.push_back(node);
    if (Fits(node->available, demand)) free.push_back(node);
  }
  const auto &pool = free.empty() ? feasible : free;
  if (pool.empty()) return Hybrid(view, demand, candidates);
  return Place(view, *pool[spread_counter_++ % pool.size()]);
}

}  // namespace cyray::raylet
