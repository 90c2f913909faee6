#include "cyray/core_worker/memory_store.h"

#include <algorithm>
#include <chrono>

namespace cyray::core {

void MemoryStore::Put(const ObjectID &id, ObjectValuePtr value) {
  std::vector<std::function<void(ObjectValuePtr)>> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!objects_.emplace(id, value).second) return;
    auto it = async_waiters_.find(id);
    if (it != async_waiters_.end()) {
      waiters = std::move(it->second);
      async_waiters_.erase(it);
    }
    for (GetWaiter *waiter : get_waiters_) {
      auto missing = waiter->missing.find(id);
      if (missing == waiter->missing.end()) continue;
      for (size_t index : missing->second) {
        (*waiter->out)[index] = value;
        if (waiter->still_needed > 0) waiter->still_needed--;
      }
      if (waiter->stop_on_error && ErrorTypeOf(value->metadata) != 0) waiter->still_needed = 0;
      waiter->missing.erase(missing);
      if (waiter->still_needed == 0) waiter->cv.notify_one();
    }
  }
  for (auto &waiter : waiters) waiter(value);
}

ObjectValuePtr MemoryStore::GetIfExists(const ObjectID &id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  return it == objects_.end() ? nullptr : it->second;
}

bool MemoryStore::Contains(const ObjectID &id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.count(id) > 0;
}

size_t MemoryStore::MarkPresent(const std::vector<ObjectID> &ids, std::vector<bool> *present,
                                std::vector<size_t> *remote) const {
  present->assign(ids.size(), false);
  size_t count = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = objects_.find(ids[i]);
    if (it == objects_.end()) continue;
    (*present)[i] = true;
    count++;
    if (remote && it->second->in_plasma && !it->second->plasma) remote->push_back(i);
  }
  return count;
}

Status MemoryStore::Get(const std::vector<ObjectID> &ids, size_t num_required, int64_t timeout_ms,
                        const CheckSignals &check_signals, int64_t check_interval_ms,
                        std::vector<ObjectValuePtr> *out, bool stop_on_error) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  out->assign(ids.size(), nullptr);
  GetWaiter waiter;
  waiter.out = out;
  std::unique_lock<std::mutex> lock(mu_);
  size_t found = 0;
  bool error = false;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = objects_.find(ids[i]);
    if (it != objects_.end()) {
      (*out)[i] = it->second;
      found++;
      error = error || ErrorTypeOf(it->second->metadata) != 0;
    }
  }
  if (found >= num_required || (stop_on_error && error)) return Status::OK();
  if (timeout_ms == 0) {
    return Status::TimedOut("Get timed out: " + std::to_string(found) + " of " +
                            std::to_string(num_required) + " objects ready after 0 ms");
  }
  // Only a call that waits pays for the index of what it waits for.
  for (size_t i = 0; i < ids.size(); ++i) {
    if ((*out)[i] == nullptr) waiter.missing[ids[i]].push_back(i);
  }
  waiter.stop_on_error = stop_on_error;
  waiter.still_needed = num_required - found;
  get_waiters_.push_back(&waiter);
  Status status = Status::OK();
  while (waiter.still_needed > 0) {
    auto now = Clock::now();
    if (timeout_ms >= 0 && now >= deadline) {
      size_t ready = num_required - waiter.still_needed;
      status = Status::TimedOut("Get timed out: " + std::to_string(ready) + " of " +
                                std::to_string(num_required) + " objects ready after " +
                                std::to_string(timeout_ms) + " ms");
      break;
    }
    auto wake = now + std::chrono::milliseconds(check_interval_ms);
    if (timeout_ms >= 0 && deadline < wake) wake = deadline;
    waiter.cv.wait_until(lock, wake);
    if (waiter.still_needed > 0 && check_signals) {
      lock.unlock();
      Status s = check_signals();
      lock.lock();
      if (!s.ok()) {
        status = s;
        break;
      }
    }
  }
  get_waiters_.erase(std::find(get_waiters_.begin(), get_waiters_.end(), &waiter));
  return status;
}

void MemoryStore::GetAsync(const ObjectID &id, std::function<void(ObjectValuePtr)> callback) {
  ObjectValuePtr value;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(id);
    if (it == objects_.end()) {
      async_waiters_[id].push_back(std::move(callback));
      return;
    }
    value = it->second;
  }
  callback(value);
}

void MemoryStore::Delete(const ObjectID &id) {
  std::lock_guard<std::mutex> lock(mu_);
  objects_.erase(id);
}

size_t MemoryStore::Size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.size();
}

}  // namespace cyray::core
