// GetCoreWorkerStats: what this process references and runs, for the state
// API's objects and workers and `cyray memory`.
#include <unistd.h>

#include "cyray/core_worker/core_worker_impl.h"

namespace cyray::core {

grpc::ServerUnaryReactor *CoreWorker::Impl::GetCoreWorkerStats(
    grpc::CallbackServerContext *ctx, const rpc::GetCoreWorkerStatsRequest *request,
    rpc::GetCoreWorkerStatsReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  reply->set_worker_id(worker_id_.Binary());
  reply->set_pid(static_cast<int32_t>(getpid()));
  reply->set_is_driver(options_.is_driver);
  reply->set_ip_address(address_.ip_address());
  {
    std::lock_guard<std::mutex> lock(context_mu_);
    reply->set_job_id(job_id_.Binary());
  }
  {
    std::lock_guard<std::mutex> lock(exec_mu_);
    reply->set_actor_id(actor_id_);
  }
  {
    std::lock_guard<std::mutex> lock(submitted_mu_);
    reply->set_num_pending_tasks(static_cast<int64_t>(submitted_tasks_.size()));
  }
  if (task_events_) reply->set_task_events_dropped(task_events_->NumDroppedTotal());
  if (request->include_memory_info()) {
    size_t total = 0;
    auto refs = reference_counter_.Snapshot(
        request->limit() > 0 ? static_cast<size_t>(request->limit()) : 0, &total);
    reply->set_num_object_refs(static_cast<int64_t>(total));
    for (const auto &ref : refs) {
      auto *out = reply->add_object_refs();
      out->set_object_id(ref.id.Binary());
      out->set_owned(ref.owned);
      out->set_local_refs(ref.local_refs);
      out->set_submitted_task_refs(ref.submitted_task_refs);
      out->set_borrowers(ref.borrowers);
      out->set_call_site(ref.call_site);
      out->set_object_size(-1);
      ObjectValuePtr value = memory_store_.GetIfExists(ref.id);
      if (value) {
        out->set_ready(true);
        out->set_in_plasma(value->in_plasma);
        if (value->in_plasma) {
          if (value->plasma_size > 0)
            out->set_object_size(static_cast<int64_t>(value->plasma_size));
        } else {
          out->set_object_size(static_cast<int64_t>(value->data.size() + value->metadata.size()));
        }
      }
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace cyray::core
