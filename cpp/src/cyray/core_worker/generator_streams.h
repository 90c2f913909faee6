// GeneratorStreams: the owner's side of streaming generator tasks. The worker
// running a generator reports each yielded item (index 0, 1, ...) as it is
// made; the owner's consumer takes them in order (ObjectRefGenerator.__next__)
// and learns the end once the task finished with its item count. Reports may
// repeat (a retried task yields again from 0) or come out of order; each index
// counts once. With backpressure (a threshold > 0) the acknowledgement of an
// item waits while the consumer has that many items or more not taken yet, so
// the worker pauses. No gRPC or values here: the core worker stores the items
// and holds their references. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cyray/common/id.h"
#include "cyray/common/status.h"

namespace cyray::core {

class GeneratorStreams {
 public:
  using CheckSignals = std::function<Status()>;
  // Answers a report (with the number of items the consumer took so far).
  using Ack = std::function<void(int64_t consumed)>;

  // A generator task was submitted; `backpressure` <= 0 means none.
  void Create(const TaskID &generator, int64_t backpressure);
  // A worker reported item `index`. Returns true the first time the index is
  // reported to a live stream (the caller stores and holds the item), false
  // for a repeat or a stream that is gone. `ack` runs now or, under
  // backpressure, once the consumer catches up or the stream goes.
  // `on_fresh` runs for a fresh item before it can be taken (under the lock:
  // it must not call back into this class).
  bool OnItemReported(const TaskID &generator, int64_t index, Ack ack,
                      const std::function<void()> &on_fresh = nullptr);
  // The task ended after yielding `num_items` items (an error raised by the
  // generator counts as its last item).
  void Finish(const TaskID &generator, int64_t num_items);
  // Items reported with no gap from 0 (where a failure's error item goes).
  int64_t NumContiguous(const TaskID &generator) const;
  // Waits up to `timeout_ms` (< 0: no limit) for the next item: sets *index
  // and returns OK; sets *end when the stream ended instead. TimedOut when
  // nothing came in time; the status of `check_signals` when it fails.
  Status Next(const TaskID &generator, int64_t timeout_ms, const CheckSignals &check_signals,
              int64_t check_interval_ms, int64_t *index, bool *end);
  // Without waiting: whether Next would return at once.
  bool NextReady(const TaskID &generator) const;
  bool IsFinished(const TaskID &generator) const;
  // The consumer let go of the generator: forgets it and returns the indexes
  // of the items reported but never taken (the caller releases them). Later
  // reports for it return false.
  std::vector<int64_t> Remove(const TaskID &generator);
  // Shutdown: answers every held acknowledgement (the server waits for them)
  // and forgets every stream.
  void ReleaseAll();

 private:
  struct Stream {
    int64_t backpressure = 0;
    std::vector<bool> reported;                      // by index
    int64_t contiguous = 0;                          // reported[0..contiguous) all true
    int64_t consumed = 0;                            // items the consumer took
    int64_t num_items = -1;                          // known once the task ended
    std::vector<std::pair<int64_t, Ack>> held_acks;  // (index, ack) waiting for the consumer
  };
  // Acks whose items the consumer caught up with (run them without the lock).
  static std::vector<Ack> ReleasableAcks(Stream &stream);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<TaskID, Stream> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cyray::core
