// The raylet's introspection RPCs: GetNodeStats (workers, waiting leases, the
// object store, pulls and, when asked, every local worker's reference table)
// and the node's log files (ListLogs, ReadLog), for the state API,
// `cyray status -v`, `cyray memory`, `cyray logs` and `explain`.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <vector>

#include "cyray/raylet/node_manager.h"

namespace cyray::raylet {

namespace asio = boost::asio;

namespace {

constexpr int64_t kDefaultReadBytes = 1 << 20;
// A worker that does not answer GetCoreWorkerStats by then is left out.
constexpr int64_t kWorkerStatsTimeoutMs = 3000;

// The workers' answers to one GetNodeStats, gathered on gRPC's threads.
struct StatsGathering {
  std::mutex mu;
  size_t remaining = 0;
  rpc::GetNodeStatsReply *reply = nullptr;
  grpc::ServerUnaryReactor *reactor = nullptr;
  // Counts one answer (or one worker given up on); the last finishes the call.
  void Done(rpc::GetCoreWorkerStatsReply *stats) {
    bool last;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stats != nullptr) reply->add_core_worker_stats()->Swap(stats);
      last = --remaining == 0;
    }
    if (last) reactor->Finish(grpc::Status::OK);
  }
};
constexpr int64_t kMaxReadBytes = 16 << 20;

// A name inside the log directory: no path separators, no "..".
bool IsPlainFileName(const std::string &name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

// The startup token in "worker-<raylet pid>-<token>.out" of this raylet, or -1.
int64_t StartupTokenOf(const std::string &name) {
  std::string prefix = "worker-" + std::to_string(getpid()) + "-";
  if (name.rfind(prefix, 0) != 0) return -1;
  size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos) return -1;
  try {
    return std::stoll(name.substr(prefix.size(), dot - prefix.size()));
  } catch (...) {
    return -1;
  }
}

}  // namespace

grpc::ServerUnaryReactor *NodeManager::GetNodeStats(grpc::CallbackServerContext *ctx,
                                                    const rpc::GetNodeStatsRequest *request,
                                                    rpc::GetNodeStatsReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  asio::post(io_, [this, request, reply, reactor] {
    reply->set_node_id(config_.node_id.Binary());
    reply->set_log_dir(config_.log_dir);
    for (const auto &worker : worker_pool_.AllWorkers()) {
      auto *out = reply->add_workers();
      out->set_worker_id(worker->worker_id.Binary());
      out->set_pid(worker->pid);
      out->set_is_driver(worker->is_driver);
      out->set_ip_address(worker->ip_address);
      out->set_port(worker->port);
      out->set_leased(worker->leased);
      if (worker->leased) out->set_lease_owner_id(worker->lease_owner.Binary());
      out->set_is_actor_worker(worker->use.has_value() && worker->use->actor);
      out->set_registered(worker->port > 0);
    }
    for (const auto &[name, amount] : resources_.total()) {
      (*reply->mutable_resources_total())[name] = amount;
    }
    for (const auto &[name, amount] : resources_.Available()) {
      (*reply->mutable_resources_available())[name] = amount;
    }
    lease_manager_.ForEachWaiting([reply](const LeaseRequest &request, bool infeasible) {
      auto *out = reply->add_queued_leases();
      out->set_task_id(request.task_id);
      out->set_task_name(request.task_name);
      const ResourceSet &shape =
          request.placement_demand.empty() ? request.demand : request.placement_demand;
      for (const auto &[name, amount] : shape) (*out->mutable_shape())[name] = amount;
      out->set_owner_worker_id(request.owner_id.Binary());
      out->set_infeasible(infeasible);
      out->set_backlog_size(request.backlog_size);
    });
    object_store::StoreStats stats = object_store_.Stats();
    reply->set_store_capacity_bytes(stats.capacity);
    reply->set_store_used_bytes(stats.used);
    reply->set_store_num_objects(stats.num_objects);
    reply->set_spilled_bytes(stats.spilled_bytes);
    for (const auto &id : pull_manager_.ActivePulls()) reply->add_pulls_in_progress(id.Binary());
    if (request->include_memory_info()) {
      GatherWorkerStats(reply, reactor);
    } else {
      reactor->Finish(grpc::Status::OK);
    }
  });
  return reactor;
}

void NodeManager::GatherWorkerStats(rpc::GetNodeStatsReply *reply,
                                    grpc::ServerUnaryReactor *reactor) {
  std::vector<WorkerPtr> targets;
  for (const auto &worker : worker_pool_.AllWorkers()) {
    if (worker->port > 0) targets.push_back(worker);
  }
  if (targets.empty()) {
    reactor->Finish(grpc::Status::OK);
    return;
  }
  auto gathering = std::make_shared<StatsGathering>();
  gathering->remaining = targets.size();
  gathering->reply = reply;
  gathering->reactor = reactor;
  for (const auto &worker : targets) {
    using Call = rpc::AsyncCall<rpc::GetCoreWorkerStatsRequest, rpc::GetCoreWorkerStatsReply>;
    auto call = std::make_shared<Call>();
    call->request.set_include_memory_info(true);
    call->SetTimeoutMs(kWorkerStatsTimeoutMs);
    std::shared_ptr<rpc::CoreWorkerService::Stub> stub = rpc::CoreWorkerService::NewStub(
        rpc::MakeChannel(worker->ip_address + ":" + std::to_string(worker->port)));
    if (!call_tracker_.Start(&call->context)) {
      gathering->Done(nullptr);  // shutting down
      continue;
    }
    stub->async()->GetCoreWorkerStats(&call->context, &call->request, &call->reply,
                                      [this, call, stub, gathering](grpc::Status status) {
                                        call_tracker_.Done(&call->context);
                                        gathering->Done(status.ok() ? &call->reply : nullptr);
                                      });
  }
}

grpc::ServerUnaryReactor *NodeManager::ListLogs(grpc::CallbackServerContext *ctx,
                                                const rpc::ListLogsRequest *request,
                                                rpc::ListLogsReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  // The directory is read on the io thread too: it also owns workers_by_token_.
  asio::post(io_, [this, reply, reactor] {
    std::error_code ec;
    for (const auto &entry : std::filesystem::directory_iterator(config_.log_dir, ec)) {
      std::error_code file_ec;
      if (!entry.is_regular_file(file_ec)) continue;
      auto *out = reply->add_files();
      std::string name = entry.path().filename().string();
      out->set_name(name);
      out->set_size(entry.file_size(file_ec));
      struct stat st {};
      if (::stat(entry.path().c_str(), &st) == 0) {
        out->set_modified_ms(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 +
                             st.st_mtim.tv_nsec / 1000000);
      }
      int64_t token = StartupTokenOf(name);
      auto it = token < 0 ? workers_by_token_.end() : workers_by_token_.find(token);
      if (it != workers_by_token_.end()) {
        out->set_pid(it->second.pid);
        out->set_worker_id(it->second.worker_id.Binary());
      }
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor *NodeManager::ReadLog(grpc::CallbackServerContext *ctx,
                                               const rpc::ReadLogRequest *request,
                                               rpc::ReadLogReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  if (!IsPlainFileName(request->name())) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "a log is named by its file name in the node's log directory"));
    return reactor;
  }
  // Plain file reads: done here, off the raylet's main thread.
  std::ifstream file(config_.log_dir + "/" + request->name(), std::ios::binary);
  if (!file) {
    reactor->Finish(grpc::Status::OK);  // found = false
    return reactor;
  }
  file.seekg(0, std::ios::end);
  int64_t size = static_cast<int64_t>(file.tellg());
  int64_t start = request->offset() >= 0 ? std::min(request->offset(), size)
                                         : std::max<int64_t>(0, size + request->offset());
  int64_t want =
      request->max_bytes() > 0 ? std::min(request->max_bytes(), kMaxReadBytes) : kDefaultReadBytes;
  int64_t length = std::min(want, size - start);
  std::string data(static_cast<size_t>(length), '\0');
  file.seekg(start);
  file.read(data.data(), length);
  data.resize(static_cast<size_t>(file.gcount()));
  reply->set_found(true);
  reply->set_start(static_cast<uint64_t>(start));
  reply->set_size(static_cast<uint64_t>(size));
  reply->set_data(std::move(data));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace cyray::raylet
