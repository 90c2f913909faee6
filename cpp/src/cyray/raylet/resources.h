// Resource accounting of one node: totals, what is available, and which
// instances (e.g. GPU indices) each allocation holds. Not thread-safe: owned by
// the raylet's main thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cyray::raylet {

using ResourceSet = std::map<std::string, double>;

// Resources whose instances are handed out individually (so a task learns
// which GPU it holds); others are plain quantities.
bool IsUnitInstanceResource(const std::string &name);

struct ResourceAllocation {
  ResourceSet amounts;
  // For unit-instance resources: instance index -> quantity held.
  std::map<std::string, std::map<int64_t, double>> instances;
};

std::string ResourceSetToString(const ResourceSet &set);

class NodeResources {
 public:
  explicit NodeResources(ResourceSet total);

  const ResourceSet &total() const { return total_; }
  ResourceSet Available() const;
  // True when `demand` could fit if nothing else were running.
  bool IsFeasible(const ResourceSet &demand) const;
  bool CanAllocate(const ResourceSet &demand) const;
  // Takes `demand` out of the available resources; nullopt if it does not fit.
  std::optional<ResourceAllocation> Allocate(const ResourceSet &demand);
  void Release(const ResourceAllocation &allocation);
  // Gives back / takes again the CPU of a worker blocked in `get`; taking it
  // again may oversubscribe the node for a while, as in Ray.
  void ReleaseCpu(double amount);
  void ReacquireCpu(double amount);

 private:
  ResourceSet total_;
  ResourceSet available_;  // for plain resources
  // Per-instance availability of unit-instance resources.
  std::map<std::string, std::vector<double>> instance_available_;
};

}  // namespace cyray::raylet
