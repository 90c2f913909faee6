// TaskEventBuffer: a core worker's record of its tasks' state changes (task
// events), for the state API, the timeline and `explain`. The task path only
// appends a plain struct under a short lock; the buffer's own thread turns
// what gathered into one protobuf entry per task attempt and sends it to the
// GCS every interval. Bounded: while it holds `max_events` events, further
// ones are dropped and counted (the count travels with the next batch), so a
// flood of tasks costs bounded memory. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cyray/common/status.h"
#include "cyray/protobuf/gcs_service.pb.h"

namespace cyray::core {

// Where a task runs, or why it failed: what a state change adds.
struct TaskStatusDetail {
  std::string node_id;
  std::string worker_id;
  int32_t worker_pid = 0;
  int error_type = 0;  // rpc::ErrorType, with FAILED
  std::string error_message;
  // FINISHED/FAILED on the worker (0: not measured).
  int64_t args_deserialized_ns = 0;
  int64_t executed_ns = 0;
  int64_t outputs_stored_ns = 0;
};

class TaskEventBuffer {
 public:
  using Sender = std::function<Status(const rpc::AddTaskEventDataRequest &)>;

  // `max_events` bounds the events held between flushes.
  TaskEventBuffer(size_t max_events, Sender sender);
  ~TaskEventBuffer();
  TaskEventBuffer(const TaskEventBuffer &) = delete;
  TaskEventBuffer &operator=(const TaskEventBuffer &) = delete;

  // Sends every `interval_ms` on a thread of its own, until Stop.
  void Start(int64_t interval_ms);
  // Sends what is left and ends the thread. Idempotent.
  void Stop();

  // This process, named in every batch (the owner of the tasks it submits).
  void SetReporter(const std::string &worker_id, const std::string &node_id);

  // The owner submitted `spec` (attempt 0): records what does not change
  // between attempts, with `status` (normally PENDING_ARGS_AVAIL).
  void RecordSubmitted(const rpc::TaskSpec &spec, rpc::TaskStatus status);
  // A state change of the attempt `spec` describes.
  void Record(const rpc::TaskSpec &spec, rpc::TaskStatus status,
              const TaskStatusDetail &detail = {});
  // The same, for a task known only by its ids.
  void Record(const std::string &task_id, int32_t attempt, const std::string &job_id,
              rpc::TaskStatus status, const TaskStatusDetail &detail = {});

  // Sends what gathered now, one entry per task attempt. Returns false when
  // there was nothing to send or the send failed (the batch is then dropped
  // and counted).
  bool Flush();

  size_t NumBuffered() const;
  int64_t NumDroppedTotal() const;

 private:
  // One state change as the task path leaves it: plain data, appended under
  // a short lock; the protobufs are built by the flush.
  struct Event {
    std::string task_id;
    int32_t attempt = 0;
    std::string job_id;
    rpc::TaskStatus status = rpc::NIL;
    int64_t timestamp_ns = 0;
    TaskStatusDetail detail;
    std::unique_ptr<rpc::TaskInfoEntry> info;  // RecordSubmitted only
  };
  void Append(Event event);
  void FlushLoop(int64_t interval_ms);

  const size_t max_events_;
  const Sender sender_;
  mutable std::mutex mu_;
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  std::string reporter_worker_id_ ABSL_GUARDED_BY(mu_);
  std::string reporter_node_id_ ABSL_GUARDED_BY(mu_);
  int64_t dropped_since_flush_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dropped_total_ ABSL_GUARDED_BY(mu_) = 0;
  // One flush at a time (the thread's and Stop's).
  std::mutex flush_mu_;
  std::condition_variable wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The wall clock in ns since the epoch, as task events carry it.
int64_t NowNs();

}  // namespace cyray::core
