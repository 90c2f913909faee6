// Allocator: hands out aligned byte ranges of one fixed-size region (the node's
// shared-memory object store). First fit over a free list kept sorted by
// offset; freeing coalesces with free neighbours, so fragmentation only lasts
// while objects live. Not thread-safe: owned by the raylet's main thread.
#pragma once

#include <cstddef>
#include <map>
#include <optional>

namespace cyray::object_store {

class Allocator {
 public:
  // Manages [0, capacity); every allocation starts at a multiple of `alignment`.
  explicit Allocator(size_t capacity, size_t alignment = 64);

  // The offset of a new range of at least `size` bytes, or nullopt when no free
  // range is large enough.
  std::optional<size_t> Allocate(size_t size);
  // Frees the range that Allocate returned at `offset`; returns false (and
  // changes nothing) for an offset that is not allocated.
  bool Free(size_t offset);

  size_t capacity() const { return capacity_; }
  size_t used() const { return used_; }
  size_t LargestFreeRange() const;
  size_t NumAllocations() const { return allocated_.size(); }

 private:
  size_t RoundUp(size_t size) const;

  size_t capacity_;
  size_t alignment_;
  size_t used_ = 0;
  std::map<size_t, size_t> free_;       // offset -> size
  std::map<size_t, size_t> allocated_;  // offset -> rounded size
};

}  // namespace cyray::object_store
