#include "cyray/core_worker/task_event_buffer.h"

#include <chrono>
#include <unordered_map>

#include "cyray/common/logging.h"

namespace cyray::core {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// "module.function" or "module.Class.method", as Ray's func_or_class_name.
std::string FuncOrClassName(const rpc::TaskSpec &spec) {
  const auto &fd = spec.function_descriptor();
  std::string name = fd.module_name();
  if (!name.empty()) name += ".";
  if (spec.type() == rpc::ACTOR_CREATION_TASK) return name + fd.class_name();
  if (spec.type() == rpc::ACTOR_TASK) return name + fd.class_name() + "." + fd.function_name();
  return name + fd.function_name();
}

std::string StrategyName(const rpc::SchedulingStrategy &strategy) {
  switch (strategy.kind()) {
    case rpc::SchedulingStrategy::SPREAD:
      return "SPREAD";
    case rpc::SchedulingStrategy::NODE_AFFINITY:
      return "NODE_AFFINITY";
    case rpc::SchedulingStrategy::NODE_LABEL:
      return "NODE_LABEL";
    default:
      return "DEFAULT";
  }
}

void FillDetail(rpc::TaskStateUpdate *update, const TaskStatusDetail &detail) {
  if (!detail.node_id.empty()) update->set_node_id(detail.node_id);
  if (!detail.worker_id.empty()) update->set_worker_id(detail.worker_id);
  if (detail.worker_pid != 0) update->set_worker_pid(detail.worker_pid);
  if (detail.error_type != 0)
    update->set_error_type(static_cast<rpc::ErrorType>(detail.error_type));
  if (!detail.error_message.empty()) update->set_error_message(detail.error_message);
  if (detail.outputs_stored_ns != 0) {
    auto *profile = update->mutable_profile();
    profile->set_args_deserialized_ns(detail.args_deserialized_ns);
    profile->set_executed_ns(detail.executed_ns);
    profile->set_outputs_stored_ns(detail.outputs_stored_ns);
  }
}

}  // namespace

TaskEventBuffer::TaskEventBuffer(size_t max_events, Sender sender)
    : max_events_(max_events), sender_(std::move(sender)) {}

TaskEventBuffer::~TaskEventBuffer() { Stop(); }

void TaskEventBuffer::Start(int64_t interval_ms) {
  thread_ = std::thread([this, interval_ms] { FlushLoop(interval_ms); });
}

void TaskEventBuffer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  Flush();
}

void TaskEventBuffer::FlushLoop(int64_t interval_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(interval_ms), [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    Flush();
    lock.lock();
  }
}

void TaskEventBuffer::SetReporter(const std::string &worker_id, const std::string &node_id) {
  std::lock_guard<std::mutex> lock(mu_);
  reporter_worker_id_ = worker_id;
  reporter_node_id_ = node_id;
}

void TaskEventBuffer::Append(Event event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (events_.size() >= max_events_) {
    dropped_since_flush_++;
    dropped_total_++;
    return;
  }
  events_.push_back(std::move(event));
}

void TaskEventBuffer::RecordSubmitted(const rpc::TaskSpec &spec, rpc::TaskStatus status) {
  if (spec.disable_task_events()) return;
  Event event;
  event.task_id = spec.task_id();
  event.attempt = static_cast<int32_t>(spec.attempt_number());
  event.job_id = spec.job_id();
  event.status = status;
  event.timestamp_ns = NowNs();
  event.info = std::make_unique<rpc::TaskInfoEntry>();
  rpc::TaskInfoEntry *info = event.info.get();
  info->set_type(spec.type());
  info->set_name(spec.name());
  info->set_func_or_class_name(FuncOrClassName(spec));
  if (spec.type() == rpc::ACTOR_CREATION_TASK) {
    info->set_actor_id(spec.actor_creation_spec().actor_id());
  } else if (spec.type() == rpc::ACTOR_TASK) {
    info->set_actor_id(spec.actor_task_spec().actor_id());
  }
  info->set_parent_task_id(spec.parent_task_id());
  const auto &resources = spec.required_placement_resources().empty()
                              ? spec.required_resources()
                              : spec.required_placement_resources();
  info->mutable_required_resources()->insert(resources.begin(), resources.end());
  info->set_scheduling_strategy(StrategyName(spec.scheduling_strategy()));
  for (const auto &arg : spec.args()) {
    if (!arg.is_inline() && !arg.object_ref().object_id().empty()) {
      info->add_dependencies(arg.object_ref().object_id());
    }
  }
  Append(std::move(event));
}

void TaskEventBuffer::Record(const rpc::TaskSpec &spec, rpc::TaskStatus status,
                             const TaskStatusDetail &detail) {
  if (spec.disable_task_events()) return;
  Record(spec.task_id(), static_cast<int32_t>(spec.attempt_number()), spec.job_id(), status,
         detail);
}

void TaskEventBuffer::Record(const std::string &task_id, int32_t attempt, const std::string &job_id,
                             rpc::TaskStatus status, const TaskStatusDetail &detail) {
  Event event;
  event.task_id = task_id;
  event.attempt = attempt;
  event.job_id = job_id;
  event.status = status;
  event.timestamp_ns = NowNs();
  event.detail = detail;
  Append(std::move(event));
}

bool TaskEventBuffer::Flush() {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  std::vector<Event> events;
  rpc::AddTaskEventDataRequest request;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (events_.empty() && dropped_since_flush_ == 0) return false;
    events.swap(events_);
    request.set_num_dropped(dropped_since_flush_);
    request.set_reporter_worker_id(reporter_worker_id_);
    request.set_reporter_node_id(reporter_node_id_);
    dropped_since_flush_ = 0;
  }
  // One entry per task attempt, its updates in the order they happened.
  std::unordered_map<std::string, rpc::TaskEvents *> entries;
  for (auto &event : events) {
    std::string key = event.task_id;
    key.append(reinterpret_cast<const char *>(&event.attempt), sizeof(event.attempt));
    rpc::TaskEvents *&entry = entries[key];
    if (entry == nullptr) {
      entry = request.add_events();
      entry->set_task_id(event.task_id);
      entry->set_attempt_number(event.attempt);
      entry->set_job_id(event.job_id);
      if (request.job_id().empty()) request.set_job_id(event.job_id);
    }
    if (event.info) entry->set_allocated_task_info(event.info.release());
    auto *update = entry->add_state_updates();
    update->set_status(event.status);
    update->set_timestamp_ns(event.timestamp_ns);
    FillDetail(update, event.detail);
  }
  Status status = sender_(request);
  if (status.ok()) return true;
  CYRAY_LOG(DEBUG) << "could not send " << events.size() << " task events to the GCS: " << status;
  std::lock_guard<std::mutex> lock(mu_);
  dropped_since_flush_ += static_cast<int64_t>(events.size()) + request.num_dropped();
  dropped_total_ += static_cast<int64_t>(events.size());
  return false;
}

size_t TaskEventBuffer::NumBuffered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.size();
}

int64_t TaskEventBuffer::NumDroppedTotal() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_total_;
}

}  // namespace cyray::core
