#include "cyray/rpc/gcs_client.h"

#include <thread>

#include "cyray/protobuf/gcs_service.grpc.pb.h"
#include "cyray/rpc/grpc_util.h"

namespace cyray::rpc {

struct GcsClient::Stubs {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<NodeInfoGcsService::Stub> nodes;
  std::unique_ptr<JobInfoGcsService::Stub> jobs;
  std::unique_ptr<InternalKVGcsService::Stub> kv;
  std::unique_ptr<ActorInfoGcsService::Stub> actors;
  std::unique_ptr<TaskInfoGcsService::Stub> tasks;
};

namespace {
void SetDeadline(grpc::ClientContext *ctx, int64_t timeout_ms) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
}
}  // namespace

GcsClient::GcsClient(const std::string &address, int64_t timeout_ms)
    : address_(address), timeout_ms_(timeout_ms), stubs_(std::make_unique<Stubs>()) {
  stubs_->channel = MakeChannel(address);
  stubs_->nodes = NodeInfoGcsService::NewStub(stubs_->channel);
  stubs_->jobs = JobInfoGcsService::NewStub(stubs_->channel);
  stubs_->kv = InternalKVGcsService::NewStub(stubs_->channel);
  stubs_->actors = ActorInfoGcsService::NewStub(stubs_->channel);
  stubs_->tasks = TaskInfoGcsService::NewStub(stubs_->channel);
}

GcsClient::~GcsClient() = default;

Status GcsClient::WaitUntilReady(int64_t timeout_ms) {
  auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (stubs_->channel->WaitForConnected(deadline)) return Status::OK();
  return Status::TimedOut("the GCS at " + address_ + " did not answer within " +
                          std::to_string(timeout_ms) + " ms");
}

Status GcsClient::RegisterNode(const std::string &serialized_node_info) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  RegisterNodeRequest req;
  if (!req.mutable_node_info()->ParseFromString(serialized_node_info)) {
    return Status::Invalid("bad node info");
  }
  RegisterNodeReply reply;
  return FromGrpcStatus(stubs_->nodes->RegisterNode(&ctx, req, &reply), "RegisterNode");
}

Status GcsClient::UnregisterNode(const std::string &node_id, const std::string &reason) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, 2000);
  UnregisterNodeRequest req;
  req.set_node_id(node_id);
  req.set_reason(reason);
  UnregisterNodeReply reply;
  return FromGrpcStatus(stubs_->nodes->UnregisterNode(&ctx, req, &reply), "UnregisterNode");
}

Status GcsClient::GetAllNodeInfo(std::vector<std::string> *nodes) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  GetAllNodeInfoRequest req;
  GetAllNodeInfoReply reply;
  CYRAY_RETURN_NOT_OK(
      FromGrpcStatus(stubs_->nodes->GetAllNodeInfo(&ctx, req, &reply), "GetAllNodeInfo"));
  nodes->clear();
  for (const auto &node : reply.node_info_list()) nodes->push_back(node.SerializeAsString());
  return Status::OK();
}

Status GcsClient::ReportHeartbeat(const std::string &serialized_request, bool *alive) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  ReportHeartbeatRequest req;
  if (!req.ParseFromString(serialized_request)) return Status::Invalid("bad heartbeat request");
  ReportHeartbeatReply reply;
  CYRAY_RETURN_NOT_OK(
      FromGrpcStatus(stubs_->nodes->ReportHeartbeat(&ctx, req, &reply), "ReportHeartbeat"));
  *alive = reply.alive();
  return Status::OK();
}

Status GcsClient::ReportWorkerFailure(const std::string &worker_id, const std::string &node_id,
                                      bool intentional, bool is_driver,
                                      const std::string &message) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  ReportWorkerFailureRequest req;
  req.set_worker_id(worker_id);
  req.set_node_id(node_id);
  req.set_intentional(intentional);
  req.set_is_driver(is_driver);
  req.set_message(message);
  ReportWorkerFailureReply reply;
  return FromGrpcStatus(stubs_->nodes->ReportWorkerFailure(&ctx, req, &reply),
                        "ReportWorkerFailure");
}

Status GcsClient::RegisterActor(const std::string &serialized_task_spec) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  RegisterActorRequest req;
  if (!req.mutable_task_spec()->ParseFromString(serialized_task_spec)) {
    return Status::Invalid("bad actor creation task spec");
  }
  RegisterActorReply reply;
  CYRAY_RETURN_NOT_OK(
      FromGrpcStatus(stubs_->actors->RegisterActor(&ctx, req, &reply), "RegisterActor"));
  if (!reply.success()) return Status::KeyError(reply.error_message());
  return Status::OK();
}

Status GcsClient::GetNamedActorInfo(const std::string &name, const std::string &ns, bool *found,
                                    std::string *serialized_actor,
                                    std::string *serialized_task_spec) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  GetNamedActorInfoRequest req;
  req.set_name(name);
  req.set_ray_namespace(ns);
  GetNamedActorInfoReply reply;
  CYRAY_RETURN_NOT_OK(
      FromGrpcStatus(stubs_->actors->GetNamedActorInfo(&ctx, req, &reply), "GetNamedActorInfo"));
  *found = reply.found();
  *serialized_actor = reply.actor().SerializeAsString();
  *serialized_task_spec = reply.task_spec().SerializeAsString();
  return Status::OK();
}

Status GcsClient::GetActorInfo(const std::string &actor_id, bool *found,
                               std::string *serialized_actor) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  GetActorInfoRequest req;
  req.set_actor_id(actor_id);
  GetActorInfoReply reply;
  CYRAY_RETURN_NOT_OK(
      FromGrpcStatus(stubs_->actors->GetActorInfo(&ctx, req, &reply), "GetActorInfo"));
  *found = reply.found();
  *serialized_actor = reply.actor().SerializeAsString();
  return Status::OK();
}

Status GcsClient::KillActor(const std::string &actor_id, bool force_kill, bool no_restart) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  KillActorRequest req;
  req.set_actor_id(actor_id);
  req.set_force_kill(force_kill);
  req.set_no_restart(no_restart);
  KillActorReply reply;
  return FromGrpcStatus(stubs_->actors->KillActor(&ctx, req, &reply), "KillActor");
}

Status GcsClient::AddTaskEventData(const AddTaskEventDataRequest &request, int64_t timeout_ms) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms);
  AddTaskEventDataReply reply;
  return FromGrpcStatus(stubs_->tasks->AddTaskEventData(&ctx, request, &reply), "AddTaskEventData");
}

Status GcsClient::GetNextJobID(int *job_id) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  GetNextJobIDRequest req;
  GetNextJobIDReply reply;
  CYRAY_RETURN_NOT_OK(
      FromGrpcStatus(stubs_->jobs->GetNextJobID(&ctx, req, &reply), "GetNextJobID"));
  *job_id = reply.job_id();
  return Status::OK();
}

Status GcsClient::AddJob(const std::string &serialized_job_data) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  AddJobRequest req;
  if (!req.mutable_data()->ParseFromString(serialized_job_data)) {
    return Status::Invalid("bad job data");
  }
  AddJobReply reply;
  return FromGrpcStatus(stubs_->jobs->AddJob(&ctx, req, &reply), "AddJob");
}

Status GcsClient::MarkJobFinished(const std::string &job_id) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, 2000);
  MarkJobFinishedRequest req;
  req.set_job_id(job_id);
  MarkJobFinishedReply reply;
  return FromGrpcStatus(stubs_->jobs->MarkJobFinished(&ctx, req, &reply), "MarkJobFinished");
}

Status GcsClient::KVGet(const std::string &ns, const std::string &key,
                        std::optional<std::string> *value) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  InternalKVGetRequest req;
  req.set_namespace_(ns);
  req.set_key(key);
  InternalKVGetReply reply;
  CYRAY_RETURN_NOT_OK(FromGrpcStatus(stubs_->kv->InternalKVGet(&ctx, req, &reply), "KVGet"));
  if (reply.found()) {
    *value = reply.value();
  } else {
    value->reset();
  }
  return Status::OK();
}

Status GcsClient::KVPut(const std::string &ns, const std::string &key, const std::string &value,
                        bool overwrite, bool *added) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  InternalKVPutRequest req;
  req.set_namespace_(ns);
  req.set_key(key);
  req.set_value(value);
  req.set_overwrite(overwrite);
  InternalKVPutReply reply;
  CYRAY_RETURN_NOT_OK(FromGrpcStatus(stubs_->kv->InternalKVPut(&ctx, req, &reply), "KVPut"));
  if (added) *added = reply.added();
  return Status::OK();
}

Status GcsClient::KVDel(const std::string &ns, const std::string &key, bool by_prefix,
                        int *deleted) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  InternalKVDelRequest req;
  req.set_namespace_(ns);
  req.set_key(key);
  req.set_del_by_prefix(by_prefix);
  InternalKVDelReply reply;
  CYRAY_RETURN_NOT_OK(FromGrpcStatus(stubs_->kv->InternalKVDel(&ctx, req, &reply), "KVDel"));
  if (deleted) *deleted = reply.deleted_num();
  return Status::OK();
}

Status GcsClient::KVExists(const std::string &ns, const std::string &key, bool *exists) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  InternalKVExistsRequest req;
  req.set_namespace_(ns);
  req.set_key(key);
  InternalKVExistsReply reply;
  CYRAY_RETURN_NOT_OK(FromGrpcStatus(stubs_->kv->InternalKVExists(&ctx, req, &reply), "KVExists"));
  *exists = reply.exists();
  return Status::OK();
}

Status GcsClient::KVKeys(const std::string &ns, const std::string &prefix,
                         std::vector<std::string> *keys) {
  grpc::ClientContext ctx;
  AttachClusterToken(&ctx);
  SetDeadline(&ctx, timeout_ms_);
  InternalKVKeysRequest req;
  req.set_namespace_(ns);
  req.set_prefix(prefix);
  InternalKVKeysReply reply;
  CYRAY_RETURN_NOT_OK(FromGrpcStatus(stubs_->kv->InternalKVKeys(&ctx, req, &reply), "KVKeys"));
  keys->assign(reply.results().begin(), reply.results().end());
  return Status::OK();
}

}  // namespace cyray::rpc
