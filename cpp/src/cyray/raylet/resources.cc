#include "cyray/raylet/resources.h"

#include <cmath>
#include <sstream>

namespace cyray::raylet {
namespace {
constexpr double kEpsilon = 1e-9;
}

bool IsUnitInstanceResource(const std::string &name) { return name == "GPU"; }

std::string ResourceSetToString(const ResourceSet &set) {
  std::ostringstream os;
  os << "{";
  bool first = true;
  for (const auto &[name, amount] : set) {
    if (!first) os << ", ";
    first = false;
    os << name << ": " << amount;
  }
  os << "}";
  return os.str();
}

NodeResources::NodeResources(ResourceSet total) : total_(std::move(total)) {
  for (const auto &[name, amount] : total_) {
    if (IsUnitInstanceResource(name)) {
      instance_available_[name] = std::vector<double>(static_cast<size_t>(amount), 1.0);
    } else {
      available_[name] = amount;
    }
  }
}

ResourceSet NodeResources::Available() const {
  ResourceSet out = available_;
  for (const auto &[name, instances] : instance_available_) {
    double sum = 0;
    for (double v : instances) sum += v;
    out[name] = sum;
  }
  return out;
}

bool NodeResources::IsFeasible(const ResourceSet &demand) const {
  for (const auto &[name, amount] : demand) {
    if (amount <= 0) continue;
    auto it = total_.find(name);
    if (it == total_.end() || it->second + kEpsilon < amount) return false;
    if (IsUnitInstanceResource(name) && amount > 1 && std::floor(amount) != amount) return false;
  }
  return true;
}

bool NodeResources::CanAllocate(const ResourceSet &demand) const {
  for (const auto &[name, amount] : demand) {
    if (amount <= 0) continue;
    auto inst = instance_available_.find(name);
    if (inst != instance_available_.end()) {
      if (amount >= 1) {
        int whole = 0;
        for (double v : inst->second) whole += (v >= 1.0 - kEpsilon) ? 1 : 0;
        if (whole + kEpsilon < amount) return false;
      } else {
        bool any = false;
        for (double v : inst->second) any = any || v + kEpsilon >= amount;
        if (!any) return false;
      }
      continue;
    }
    auto it = available_.find(name);
    if (it == available_.end() || it->second + kEpsilon < amount) return false;
  }
  return true;
}

std::optional<ResourceAllocation> NodeResources::Allocate(const ResourceSet &demand) {
  if (!CanAllocate(demand)) return std::nullopt;
  ResourceAllocation alloc;
  for (const auto &[name, amount] : demand) {
    if (amount <= 0) continue;
    alloc.amounts[name] = amount;
    auto inst = instance_available_.find(name);
    if (inst == instance_available_.end()) {
      available_[name] -= amount;
      continue;
    }
    auto &slots = inst->second;
    if (amount >= 1) {
      int needed = static_cast<int>(std::llround(amount));
      for (size_t i = 0; i < slots.size() && needed > 0; ++i) {
        if (slots[i] >= 1.0 - kEpsilon) {
          slots[i] = 0;
          alloc.instances[name][static_cast<int64_t>(i)] = 1.0;
          --needed;
        }
      }
    } else {
      // Fractions pack onto the fullest instance that still fits (best fit).
      int best = -1;
      for (size_t i = 0; i < slots.size(); ++i) {
        if (slots[i] + kEpsilon >= amount && (best < 0 || slots[i] < slots[best])) {
          best = static_cast<int>(i);
        }
      }
      slots[best] -= amount;
      alloc.instances[name][best] = amount;
    }
  }
  return alloc;
}

void NodeResources::Release(const ResourceAllocation &allocation) {
  for (const auto &[name, amount] : allocation.amounts) {
    auto inst = instance_available_.find(name);
    if (inst == instance_available_.end()) {
      available_[name] = std::min(total_[name], available_[name] + amount);
      continue;
    }
    auto held = allocation.instances.find(name);
    if (held == allocation.instances.end()) continue;
    for (const auto &[index, quantity] : held->second) {
      double &slot = inst->second[static_cast<size_t>(index)];
      slot = std::min(1.0, slot + quantity);
    }
  }
}

void NodeResources::ReleaseCpu(double amount) { available_["CPU"] += amount; }

void NodeResources::ReacquireCpu(double amount) { available_["CPU"] -= amount; }

}  // namespace cyray::raylet
