#include "cyray/object_store/allocator.h"

#include <algorithm>

namespace cyray::object_store {

Allocator::Allocator(size_t capacity, size_t alignment)
    : capacity_(capacity - capacity % alignment), alignment_(alignment) {
  if (capacity_ > 0) free_[0] = capacity_;
}

size_t Allocator::RoundUp(size_t size) const {
  size = std::max<size_t>(size, 1);
  return (size + alignment_ - 1) / alignment_ * alignment_;
}

std::optional<size_t> Allocator::Allocate(size_t size) {
  size_t needed = RoundUp(size);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < needed) continue;
    size_t offset = it->first;
    size_t remaining = it->second - needed;
    free_.erase(it);
    if (remaining > 0) free_[offset + needed] = remaining;
    allocated_[offset] = needed;
    used_ += needed;
    return offset;
  }
  return std::nullopt;
}

bool Allocator::Free(size_t offset) {
  auto it = allocated_.find(offset);
  if (it == allocated_.end()) return false;
  size_t size = it->second;
  allocated_.erase(it);
  used_ -= size;
  auto next = free_.lower_bound(offset);
  // Merge with the free range that follows, then with the one before.
  if (next != free_.end() && offset + size == next->first) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += size;
      return true;
    }
  }
  free_[offset] = size;
  return true;
}

size_t Allocator::LargestFreeRange() const {
  size_t largest = 0;
  for (const auto &[offset, size] : free_) largest = std::max(largest, size);
  return largest;
}

}  // namespace cyray::object_store
