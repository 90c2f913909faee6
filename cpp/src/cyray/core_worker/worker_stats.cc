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
  if (request->include_memory_info()) {
    for (const auto &ref : reference_counter_.Snapshot()) {
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
