// MemoryStore: the in-process store of object values (task returns, small
// puts, values fetched from owners). Blocking Get waits on a condition
// variable, waking every few ms to run the caller's signal check so Ctrl-C
// works. Thread-safe: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cyray/common/id.h"
#include "cyray/common/status.h"
#include "cyray/core_worker/common.h"

namespace cyray::core {

class MemoryStore {
 public:
  using CheckSignals = std::function<Status()>;

  // Stores `value` (the first value wins); runs and drops the waiters of `id`.
  void Put(const ObjectID &id, ObjectValuePtr value);
  ObjectValuePtr GetIfExists(const ObjectID &id) const;
  bool Contains(const ObjectID &id) const;
  // Marks which of `ids` are here (one flag each in *present), in one pass
  // under the lock, and returns how many. With `remote`, lists the indexes of
  // those whose value is in another node's shared memory, not pulled here yet.
  size_t MarkPresent(const std::vector<ObjectID> &ids, std::vector<bool> *present,
                     std::vector<size_t> *remote) const;
  // Waits until at least `num_required` of `ids` are present or `timeout_ms`
  // passes (-1: no limit). `out` gets one entry per id (null when absent).
  // Returns TimedOut when fewer than `num_required` arrived in time, or the
  // status of `check_signals` when it fails. With `stop_on_error`, an error
  // object among `ids` ends the wait at once (as ray.get raises at once).
  Status Get(const std::vector<ObjectID> &ids, size_t num_required, int64_t timeout_ms,
             const CheckSignals &check_signals, int64_t check_interval_ms,
             std::vector<ObjectValuePtr> *out, bool stop_on_error = false);
  // Calls `callback` with the value once present (at once if it is).
  void GetAsync(const ObjectID &id, std::function<void(ObjectValuePtr)> callback);
  void Delete(const ObjectID &id);
  size_t Size() const;

 private:
  // One blocked Get: which of its objects are missing (id -> positions in its
  // output) and how many more it needs. Put fills it in, so a Get never
  // rescans its whole list.
  struct GetWaiter {
    std::unordered_map<ObjectID, std::vector<size_t>> missing;
    size_t still_needed = 0;
    bool stop_on_error = false;
    std::vector<ObjectValuePtr> *out = nullptr;
    std::condition_variable cv;
  };

  mutable std::mutex mu_;
  std::unordered_map<ObjectID, ObjectValuePtr> objects_ ABSL_GUARDED_BY(mu_);
  std::vector<GetWaiter *> get_waiters_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<ObjectID, std::vector<std::function<void(ObjectValuePtr)>>> async_waiters_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace cyray::core
