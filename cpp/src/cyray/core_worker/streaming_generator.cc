// Streaming generators, both sides:
// - the worker running a generator task reports each yielded item to the
//   owner (ReportGeneratorItemReturns) as it is made, and flushes the reports
//   before it answers the task's push, so every item is at the owner before
//   the end is known;
// - the owner keeps each item as an object it owns, held for the consumer
//   (GeneratorStreams) until an ObjectRefGenerator takes it or is dropped.
// Item i of task T is GeneratorItemId(T, i): the same in every attempt, so a
// retried generator's repeats count once.
#include <algorithm>
#include <chrono>
#include <future>

#include "cyray/core_worker/core_worker_impl.h"

namespace cyray::core {

namespace {
// How long a worker waits for its owner to acknowledge the last items.
constexpr int64_t kFlushTimeoutMs = 60000;
}  // namespace

// ---- Owner side ---------------------------------------------------------------

std::function<void()> CoreWorker::Impl::HoldForConsumer(const ObjectID &item_id) {
  // One local reference per item reported and not taken, owned by this process.
  return [this, item_id] {
    reference_counter_.AddOwnedObject(item_id);
    reference_counter_.AddLocalReference(item_id);
  };
}

grpc::ServerUnaryReactor *CoreWorker::Impl::ReportGeneratorItemReturns(
    grpc::CallbackServerContext *ctx, const rpc::ReportGeneratorItemReturnsRequest *request,
    rpc::ReportGeneratorItemReturnsReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  TaskID generator = TaskID::FromBinary(request->generator_id());
  const rpc::ReturnObject &item = request->item();
  ObjectID item_id = ObjectID::FromBinary(item.object_id());
  if (item_id.TaskId() != generator) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "not an item of this task"));
    return reactor;
  }
  NodeID holder = item.node_id().empty() ? node_id_ : NodeID::FromBinary(item.node_id());
  // Held for the consumer before it can be taken; the value may follow (a
  // get of the item waits for it).
  bool fresh = generator_streams_.OnItemReported(
      generator, request->item_index(),
      [reactor, reply](int64_t consumed) {
        reply->set_total_num_object_consumed(consumed);
        reactor->Finish(grpc::Status::OK);
      },
      HoldForConsumer(item_id));
  if (fresh) {
    if (item.in_plasma()) object_directory_.AddPrimary(item_id, holder);
    lifetimes_.StoreIfReferenced(item_id, ValueFromReturn(item), /*owned=*/true);
  } else if (reference_counter_.Has(item_id)) {
    // A retry's repeat of an item still in use: one more copy, freed with it.
    if (item.in_plasma()) object_directory_.AddPrimary(item_id, holder);
  } else if (item.in_plasma()) {
    // Nobody holds it (the generator was dropped, or the item taken and let
    // go of): the copy just made is freed at once.
    object_directory_.AddPrimary(item_id, holder);
    lifetimes_.StoreIfReferenced(item_id, ValueFromReturn(item), /*owned=*/true);
  }
  return reactor;
}

Status CoreWorker::Impl::GeneratorNext(const TaskID &generator, int64_t timeout_ms,
                                       std::string *item_id, bool *end) {
  int64_t index = -1;
  Status status = generator_streams_.Next(
      generator, timeout_ms, [this] { return CheckSignals(); },
      CyrayConfig::Instance().get_check_signal_interval_ms(), &index, end);
  if (status.ok() && !*end) *item_id = GeneratorItemId(generator.Binary(), index);
  return status;
}

void CoreWorker::Impl::DropGenerator(const TaskID &generator) {
  for (int64_t index : generator_streams_.Remove(generator)) {
    reference_counter_.RemoveLocalReference(
        ObjectID::FromBinary(GeneratorItemId(generator.Binary(), index)));
  }
}

ObjectValuePtr CoreWorker::Impl::WithGeneratorItems(const rpc::TaskSpec &spec,
                                                    const rpc::PushTaskReply &reply,
                                                    const ObjectValuePtr &value) {
  if (ErrorTypeOf(value->metadata) != 0) return value;
  // The return lists the items: it keeps them alive from now on.
  auto listing = std::make_shared<ObjectValue>(*value);
  for (int64_t i = 0; i < reply.num_generator_items(); ++i) {
    listing->nested_refs.push_back({GeneratorItemId(spec.task_id(), i), serialized_address_});
  }
  return listing;
}

void CoreWorker::Impl::OnGeneratorTaskComplete(const rpc::TaskSpec &spec,
                                               const rpc::PushTaskReply &reply) {
  TaskID generator = TaskID::FromBinary(spec.task_id());
  int64_t num_items = reply.num_generator_items();
  if (spec.returns_dynamic()) {
    DropGenerator(generator);
  } else if (reply.is_application_error() && reply.return_objects_size() > 0) {
    // It failed outside the generator's own code (e.g. cancelled): the
    // consumer meets the error after the items.
    AppendGeneratorError(generator, num_items, ValueFromReturn(reply.return_objects(0)));
  } else {
    generator_streams_.Finish(generator, num_items);
  }
}

void CoreWorker::Impl::AppendGeneratorError(const TaskID &generator, int64_t num_items,
                                            const ObjectValuePtr &error) {
  int64_t index = std::max(num_items, generator_streams_.NumContiguous(generator));
  ObjectID item_id = ObjectID::FromBinary(GeneratorItemId(generator.Binary(), index));
  bool fresh =
      generator_streams_.OnItemReported(generator, index, nullptr, HoldForConsumer(item_id));
  if (fresh) lifetimes_.StoreIfReferenced(item_id, error, /*owned=*/true);
  generator_streams_.Finish(generator, index + 1);
}

void CoreWorker::Impl::OnGeneratorTaskFail(const rpc::TaskSpec &spec, const ObjectValuePtr &error) {
  TaskID generator = TaskID::FromBinary(spec.task_id());
  if (spec.returns_dynamic()) {
    DropGenerator(generator);  // its one return holds the error
    return;
  }
  // The error follows the items that made it: the consumer meets it there.
  AppendGeneratorError(generator, 0, error);
}

// ---- Worker side --------------------------------------------------------------

void CoreWorker::Impl::OnGeneratorTaskStart(const rpc::TaskSpec &spec) {
  GeneratorReports reports;
  reports.owner = spec.caller_address();
  reports.attempt_number = spec.attempt_number();
  reports.backpressure = spec.generator_backpressure_num_objects();
  std::lock_guard<std::mutex> lock(generator_reports_mu_);
  generator_reports_[TaskID::FromBinary(spec.task_id())] = std::move(reports);
}

Status CoreWorker::Impl::ReportGeneratorItem(const TaskID &generator, int64_t index,
                                             ObjectValue value) {
  rpc::Address owner;
  auto request = std::make_unique<rpc::ReportGeneratorItemReturnsRequest>();
  bool wait_for_ack = false;
  {
    std::lock_guard<std::mutex> lock(generator_reports_mu_);
    auto it = generator_reports_.find(generator);
    if (it == generator_reports_.end()) {
      return Status::Invalid("task " + generator.Hex() + " is not a generator running here");
    }
    owner = it->second.owner;
    request->set_attempt_number(it->second.attempt_number);
    wait_for_ack = it->second.backpressure > 0;
    it->second.outstanding++;
  }
  ObjectID item_id = ObjectID::FromBinary(GeneratorItemId(generator.Binary(), index));
  request->set_generator_id(generator.Binary());
  request->set_item_index(index);
  if (!value.nested_refs.empty()) lifetimes_.PinNested(item_id, value.nested_refs);
  bool holds_refs = FillReturnObject(item_id, value, request->mutable_item());
  auto acked = std::make_shared<std::promise<void>>();
  auto acked_future = acked->get_future();
  client_pool_.ReportGeneratorItem(
      owner, std::move(request),
      [this, generator, acked, holds_refs, owner, item_id](const Status &status) {
        if (holds_refs) {
          // The refs inside live as long as the owner keeps the item.
          if (status.ok()) {
            client_pool_.WaitForRefRemoved(
                owner, item_id.Binary(),
                [this, item_id](const Status &) { lifetimes_.ReleaseNested(item_id); });
          } else {
            lifetimes_.ReleaseNested(item_id);
          }
        }
        {
          std::lock_guard<std::mutex> lock(generator_reports_mu_);
          auto it = generator_reports_.find(generator);
          if (it != generator_reports_.end()) {
            it->second.outstanding--;
            if (!status.ok()) it->second.failed_report = status.ToString();
          }
        }
        generator_reports_cv_.notify_all();
        acked->set_value();
      });
  if (!wait_for_ack) return Status::OK();
  // Backpressure: the owner answers once its consumer caught up.
  while (acked_future.wait_for(
             std::chrono::milliseconds(CyrayConfig::Instance().get_check_signal_interval_ms())) !=
         std::future_status::ready) {
    CYRAY_RETURN_NOT_OK(CheckSignals());
  }
  return Status::OK();
}

Status CoreWorker::Impl::FlushGeneratorItems(const TaskID &generator) {
  std::unique_lock<std::mutex> lock(generator_reports_mu_);
  bool flushed = generator_reports_cv_.wait_for(
      lock, std::chrono::milliseconds(kFlushTimeoutMs), [this, &generator] {
        auto it = generator_reports_.find(generator);
        return it == generator_reports_.end() || it->second.outstanding == 0;
      });
  std::string failed_report;
  auto it = generator_reports_.find(generator);
  if (it != generator_reports_.end()) failed_report = it->second.failed_report;
  generator_reports_.erase(generator);
  if (!flushed) {
    return Status::TimedOut("the owner did not acknowledge the generator's items in time");
  }
  if (!failed_report.empty()) {
    return Status::IOError("an item could not be reported to the generator's owner: " +
                           failed_report);
  }
  return Status::OK();
}

// ---- CoreWorker: forwards to Impl -------------------------------------------

Status CoreWorker::GeneratorNext(const std::string &task_id, int64_t timeout_ms,
                                 std::string *item_id, bool *end) {
  return impl_->GeneratorNext(TaskID::FromBinary(task_id), timeout_ms, item_id, end);
}
bool CoreWorker::GeneratorNextReady(const std::string &task_id) const {
  return impl_->generator_streams_.NextReady(TaskID::FromBinary(task_id));
}
bool CoreWorker::GeneratorIsFinished(const std::string &task_id) const {
  return impl_->generator_streams_.IsFinished(TaskID::FromBinary(task_id));
}
void CoreWorker::DropGenerator(const std::string &task_id) {
  impl_->DropGenerator(TaskID::FromBinary(task_id));
}
Status CoreWorker::ReportGeneratorItem(const std::string &task_id, int64_t index,
                                       ObjectValue value) {
  return impl_->ReportGeneratorItem(TaskID::FromBinary(task_id), index, std::move(value));
}
Status CoreWorker::FlushGeneratorItems(const std::string &task_id) {
  return impl_->FlushGeneratorItems(TaskID::FromBinary(task_id));
}

}  // namespace cyray::core
