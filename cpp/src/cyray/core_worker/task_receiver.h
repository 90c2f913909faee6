// TaskReceiver: the tasks pushed to a worker, in the order they must run.
// Normal tasks run in arrival order. A caller's actor calls are released in
// its numbering order within each caller epoch, whatever order they arrive
// in; a newer epoch abandons the calls of older ones still waiting for a gap.
// Executions are counted until they finish (deferred ones, e.g. coroutines,
// until completed), so a request to exit (max_calls, exit_actor,
// __ray_terminate__) waits for every call already running.
//
// `Call` is what the worker runs (a pending RPC in the core worker; plain
// values in tests). No gRPC or Python here.
// Threads: Push and Stop from any thread (gRPC's); Next and Finish from the
// executor threads; all state is guarded by mu_.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace cyray::core {

// Where a pushed call belongs in its caller's order (actor calls only).
struct CallOrder {
  std::string caller;
  uint64_t epoch = 0;
  uint64_t seq = 0;
};

template <typename Call>
class TaskReceiver {
 public:
  enum class PushResult { kQueued, kExiting, kStaleEpoch };

  // Queues `call` (`order` for actor calls, nullopt for normal tasks). Calls
  // that a newer epoch of the caller abandons go to `abandoned`, for the
  // caller to answer. Sets *start_executors to how many more executor
  // threads should start (more calls queued than idle executors, below the
  // maximum).
  PushResult Push(const Call &call, const std::optional<CallOrder> &order,
                  std::vector<Call> *abandoned, int *start_executors) {
    std::lock_guard<std::mutex> lock(mu_);
    *start_executors = 0;
    if (exit_requested_ || exit_when_idle_) return PushResult::kExiting;
    if (!order) {
      EnqueueLocked(call, start_executors);
      return PushResult::kQueued;
    }
    CallerQueue &queue = callers_[order->caller];
    if (order->epoch > queue.epoch) {
      for (auto &[seq, buffered] : queue.buffered) abandoned->push_back(buffered);
      queue.buffered.clear();
      queue.epoch = order->epoch;
      queue.next_seq = 0;
    }
    if (order->epoch < queue.epoch) return PushResult::kStaleEpoch;
    if (order->seq < queue.next_seq) {
      // A resend of a call released already: run it again.
      EnqueueLocked(call, start_executors);
      return PushResult::kQueued;
    }
    queue.buffered.emplace(order->seq, call);
    for (auto it = queue.buffered.find(queue.next_seq); it != queue.buffered.end();
         it = queue.buffered.find(queue.next_seq)) {
      EnqueueLocked(it->second, start_executors);
      queue.buffered.erase(it);
      queue.next_seq++;
    }
    return PushResult::kQueued;
  }

  // Waits up to `timeout_ms` for the next call to run; it counts as running
  // until Finish. Returns nullopt on timeout or when the worker must exit
  // (then *exit is set).
  std::optional<Call> Next(int64_t timeout_ms, bool *exit) {
    std::unique_lock<std::mutex> lock(mu_);
    idle_executors_++;
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                 [this] { return exit_requested_ || !queue_.empty(); });
    idle_executors_--;
    *exit = exit_requested_;
    if (exit_requested_ || queue_.empty()) return std::nullopt;
    Call call = queue_.front();
    queue_.pop_front();
    running_++;
    return call;
  }

  // Whether calls wait in the queue for an executor.
  bool HasQueued() const {
    std::lock_guard<std::mutex> lock(mu_);
    return !queue_.empty();
  }

  // An execution from Next is done. With `exit_after` the worker exits once
  // no execution runs any more.
  void Finish(bool exit_after) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_--;
      if (exit_after) exit_when_idle_ = true;
      if (!exit_when_idle_ || running_ > 0) return;
      exit_requested_ = true;
    }
    cv_.notify_all();
  }

  // Ends the receiver: Next returns exit from now on, and every call queued
  // or buffered is handed back (to be answered).
  std::vector<Call> Stop() {
    std::vector<Call> unanswered;
    {
      std::lock_guard<std::mutex> lock(mu_);
      exit_requested_ = true;
      unanswered.assign(queue_.begin(), queue_.end());
      queue_.clear();
      for (auto &[caller, queue] : callers_) {
        for (auto &[seq, call] : queue.buffered) unanswered.push_back(call);
        queue.buffered.clear();
      }
    }
    cv_.notify_all();
    return unanswered;
  }

  // How many executors may run calls at once (an actor's max_concurrency).
  void SetMaxExecutors(int max_executors) {
    std::lock_guard<std::mutex> lock(mu_);
    max_executors_ = std::max(1, max_executors);
  }

  // Executions started and not finished.
  int Running() const {
    std::lock_guard<std::mutex> lock(mu_);
    return running_;
  }

  bool Exiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return exit_requested_ || exit_when_idle_;
  }

 private:
  struct CallerQueue {
    uint64_t epoch = 0;
    uint64_t next_seq = 0;
    std::map<uint64_t, Call> buffered;
  };

  void EnqueueLocked(const Call &call, int *start_executors) {
    queue_.push_back(call);
    // Idle executors (and those about to start) may not have woken for earlier
    // calls yet: compare counts.
    if (queue_.size() > static_cast<size_t>(idle_executors_ + *start_executors) &&
        num_executors_ < max_executors_) {
      num_executors_++;
      ++*start_executors;
    }
    cv_.notify_one();
  }

  // Annotations document the locking (checked only under clang's -Wthread-safety).
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Call> queue_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, CallerQueue> callers_ ABSL_GUARDED_BY(mu_);
  // Executor threads: the main thread, plus up to max_executors_ - 1 more.
  int max_executors_ ABSL_GUARDED_BY(mu_) = 1;
  int num_executors_ ABSL_GUARDED_BY(mu_) = 1;
  int idle_executors_ ABSL_GUARDED_BY(mu_) = 0;
  // Executions started and not finished, and whether to exit once none is left.
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  bool exit_when_idle_ ABSL_GUARDED_BY(mu_) = false;
  bool exit_requested_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cyray::core
