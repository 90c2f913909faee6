#include "cyray/core_worker/rpc_clients.h"

#include <boost/asio/post.hpp>

#include "cyray/common/config.h"
#include "cyray/rpc/cluster_token.h"
#include "cyray/rpc/grpc_util.h"

namespace cyray::core {

namespace asio = boost::asio;

RayletLeaseClient::RayletLeaseClient(asio::io_context &io, rpc::CallTracker &tracker,
                                     const std::string &local_raylet_address)
    : io_(io), tracker_(tracker), local_address_(local_raylet_address) {}

rpc::NodeManagerService::Stub *RayletLeaseClient::Stub(const std::string &raylet) {
  const std::string &target = raylet.empty() ? local_address_ : raylet;
  std::lock_guard<std::mutex> lock(mu_);
  auto &stub = stubs_[target];
  if (!stub) stub = rpc::NodeManagerService::NewStub(rpc::MakeChannel(target));
  return stub.get();
}

void RayletLeaseClient::RequestWorkerLease(
    const std::string &raylet, const rpc::TaskSpec &resource_spec, int64_t backlog,
    bool grant_or_reject,
    std::function<void(const Status &, const rpc::RequestWorkerLeaseReply &)> callback) {
  using Call = rpc::AsyncCall<rpc::RequestWorkerLeaseRequest, rpc::RequestWorkerLeaseReply>;
  auto call = std::make_shared<Call>();
  *call->request.mutable_resource_spec() = resource_spec;
  call->request.set_backlog_size(backlog);
  call->request.set_grant_or_reject(grant_or_reject);
  if (!tracker_.Start(&call->context)) return;
  Stub(raylet)->async()->RequestWorkerLease(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        asio::post(io_, [call, callback, status] {
          callback(rpc::FromGrpcStatus(status, "RequestWorkerLease"), call->reply);
        });
        tracker_.Done(&call->context);
      });
}

void RayletLeaseClient::ReturnWorker(const std::string &raylet, const std::string &worker_id,
                                     bool disconnect, const std::string &reason) {
  using Call = rpc::AsyncCall<rpc::ReturnWorkerRequest, rpc::ReturnWorkerReply>;
  auto call = std::make_shared<Call>();
  call->request.set_worker_id(worker_id);
  call->request.set_disconnect_worker(disconnect);
  call->request.set_disconnect_reason(reason);
  if (!tracker_.Start(&call->context)) return;
  Stub(raylet)->async()->ReturnWorker(
      &call->context, &call->request, &call->reply,
      [this, call](grpc::Status) { tracker_.Done(&call->context); });
}

void RayletLeaseClient::CancelWorkerLease(const std::string &raylet, const std::string &task_id,
                                          const std::string &owner_id) {
  using Call = rpc::AsyncCall<rpc::CancelWorkerLeaseRequest, rpc::CancelWorkerLeaseReply>;
  auto call = std::make_shared<Call>();
  call->request.set_task_id(task_id);
  call->request.set_owner_worker_id(owner_id);
  if (!tracker_.Start(&call->context)) return;
  // The canceled requests' own replies say what happened; this one adds nothing.
  Stub(raylet)->async()->CancelWorkerLease(
      &call->context, &call->request, &call->reply,
      [this, call](grpc::Status) { tracker_.Done(&call->context); });
}

void RayletLeaseClient::GetWorkerFailureCause(const std::string &raylet,
                                              const std::string &worker_id, int64_t wait_ms,
                                              std::function<void(const std::string &)> callback) {
  using Call = rpc::AsyncCall<rpc::GetWorkerFailureCauseRequest, rpc::GetWorkerFailureCauseReply>;
  auto call = std::make_shared<Call>();
  call->request.set_worker_id(worker_id);
  call->request.set_wait_ms(wait_ms);
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(wait_ms + 2000));
  if (!tracker_.Start(&call->context)) return;
  Stub(raylet)->async()->GetWorkerFailureCause(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        std::string detail = status.ok() && call->reply.found() ? call->reply.exit_detail() : "";
        asio::post(io_, [callback, detail] { callback(detail); });
        tracker_.Done(&call->context);
      });
}

GcsActorClient::GcsActorClient(asio::io_context &io, rpc::CallTracker &tracker,
                               const std::string &gcs_address)
    : io_(io),
      tracker_(tracker),
      stub_(rpc::ActorInfoGcsService::NewStub(rpc::MakeChannel(gcs_address))) {}

void GcsActorClient::WaitActorStateChange(
    const std::string &actor_id, int64_t known_version,
    std::function<void(const Status &, const rpc::ActorTableData &)> callback) {
  using Call = rpc::AsyncCall<rpc::WaitActorStateChangeRequest, rpc::WaitActorStateChangeReply>;
  auto call = std::make_shared<Call>();
  call->request.set_actor_id(actor_id);
  call->request.set_known_version(known_version);
  if (!tracker_.Start(&call->context)) return;
  stub_->async()->WaitActorStateChange(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        asio::post(io_, [call, callback, status] {
          Status s = rpc::FromGrpcStatus(status, "WaitActorStateChange");
          if (s.ok() && !call->reply.found()) s = Status::NotFound("unknown actor");
          callback(s, call->reply.actor());
        });
        tracker_.Done(&call->context);
      });
}

void GcsActorClient::CreateActor(const rpc::TaskSpec &spec,
                                 std::function<void(const Status &)> callback) {
  using Call = rpc::AsyncCall<rpc::CreateActorRequest, rpc::CreateActorReply>;
  auto call = std::make_shared<Call>();
  *call->request.mutable_task_spec() = spec;
  if (!tracker_.Start(&call->context)) return;
  stub_->async()->CreateActor(&call->context, &call->request, &call->reply,
                              [this, call, callback = std::move(callback)](grpc::Status status) {
                                asio::post(io_, [callback, status] {
                                  callback(rpc::FromGrpcStatus(status, "CreateActor"));
                                });
                                tracker_.Done(&call->context);
                              });
}

rpc::CoreWorkerService::Stub *CoreWorkerClientPool::GetStub(const rpc::Address &address) {
  std::string target = address.ip_address() + ":" + std::to_string(address.port());
  std::lock_guard<std::mutex> lock(mu_);
  auto &stub = stubs_[target];
  if (!stub) stub = rpc::CoreWorkerService::NewStub(rpc::MakeChannel(target));
  return stub.get();
}

CoreWorkerClientPool::CoreWorkerClientPool(asio::io_context &io, rpc::CallTracker &tracker)
    : io_(io),
      tracker_(tracker),
      task_channel_(rpc::ClusterToken(), CyrayConfig::Instance().rpc_connect_timeout_ms(),
                    static_cast<uint32_t>(rpc::MaxMessageSize())) {}

void CoreWorkerClientPool::PushTask(const rpc::Address &worker,
                                    std::shared_ptr<const rpc::PushTaskRequest> request,
                                    PushCallback callback, PushCallback on_reply_thread) {
  if (worker.task_port() != 0) {
    task_channel_.Push(
        worker, *request,
        [this, callback = std::move(callback), on_reply_thread = std::move(on_reply_thread)](
            const Status &status, rpc::PushTaskReply &reply) {
          if (on_reply_thread) on_reply_thread(status, reply);
          auto owned = std::make_shared<rpc::PushTaskReply>(std::move(reply));
          asio::post(io_, [callback, status, owned] { callback(status, *owned); });
        },
        /*flush=*/false);
    if (!flush_posted_.exchange(true)) {
      asio::post(io_, [this] {
        flush_posted_ = false;
        task_channel_.Flush();
      });
    }
    return;
  }
  using Call = rpc::AsyncCall<rpc::PushTaskRequest, rpc::PushTaskReply>;
  auto call = std::make_shared<Call>();
  call->request = *request;
  if (!tracker_.Start(&call->context)) return;
  GetStub(worker)->async()->PushTask(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback),
       on_reply_thread = std::move(on_reply_thread)](grpc::Status status) {
        if (on_reply_thread) on_reply_thread(rpc::FromGrpcStatus(status, "PushTask"), call->reply);
        asio::post(io_, [call, callback, status] {
          callback(rpc::FromGrpcStatus(status, "PushTask"), call->reply);
        });
        tracker_.Done(&call->context);
      });
}

void CoreWorkerClientPool::CancelTask(const rpc::Address &worker, const std::string &task_id,
                                      bool force_kill, bool recursive,
                                      std::function<void(bool)> callback) {
  using Call = rpc::AsyncCall<rpc::CancelTaskRequest, rpc::CancelTaskReply>;
  auto call = std::make_shared<Call>();
  call->request.set_intended_task_id(task_id);
  call->request.set_force_kill(force_kill);
  call->request.set_recursive(recursive);
  if (!tracker_.Start(&call->context)) return;
  GetStub(worker)->async()->CancelTask(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        // An unreachable worker counts as done: its task fails through its push.
        bool succeeded = !status.ok() || call->reply.attempt_succeeded();
        asio::post(io_, [callback, succeeded] { callback(succeeded); });
        tracker_.Done(&call->context);
      });
}

void CoreWorkerClientPool::RemoteCancelTask(
    const rpc::Address &owner, const std::string &object_id, bool force_kill, bool recursive,
    std::function<void(const Status &, const std::string &)> callback) {
  using Call = rpc::AsyncCall<rpc::RemoteCancelTaskRequest, rpc::RemoteCancelTaskReply>;
  auto call = std::make_shared<Call>();
  call->request.set_object_id(object_id);
  call->request.set_force_kill(force_kill);
  call->request.set_recursive(recursive);
  if (!tracker_.Start(&call->context)) {
    callback(Status::Disconnected("shutting down"), "");
    return;
  }
  GetStub(owner)->async()->RemoteCancelTask(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        asio::post(io_, [call, callback, status] {
          callback(rpc::FromGrpcStatus(status, "RemoteCancelTask"), call->reply.error());
        });
        tracker_.Done(&call->context);
      });
}

void CoreWorkerClientPool::ReportGeneratorItem(
    const rpc::Address &owner, std::unique_ptr<rpc::ReportGeneratorItemReturnsRequest> request,
    std::function<void(const Status &)> callback) {
  using Call =
      rpc::AsyncCall<rpc::ReportGeneratorItemReturnsRequest, rpc::ReportGeneratorItemReturnsReply>;
  auto call = std::make_shared<Call>();
  call->request = std::move(*request);
  if (!tracker_.Start(&call->context)) {
    callback(Status::Disconnected("shutting down"));
    return;
  }
  GetStub(owner)->async()->ReportGeneratorItemReturns(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        asio::post(io_, [callback, status] {
          callback(rpc::FromGrpcStatus(status, "ReportGeneratorItemReturns"));
        });
        tracker_.Done(&call->context);
      });
}

void CoreWorkerClientPool::GetObjectStatus(
    const rpc::Address &owner, const std::string &object_id,
    std::function<void(const Status &, const rpc::GetObjectStatusReply &)> callback) {
  using Call = rpc::AsyncCall<rpc::GetObjectStatusRequest, rpc::GetObjectStatusReply>;
  auto call = std::make_shared<Call>();
  call->request.set_owner_worker_id(owner.worker_id());
  call->request.set_object_id(object_id);
  if (!tracker_.Start(&call->context)) return;
  GetStub(owner)->async()->GetObjectStatus(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        asio::post(io_, [call, callback, status] {
          callback(rpc::FromGrpcStatus(status, "GetObjectStatus"), call->reply);
        });
        tracker_.Done(&call->context);
      });
}

Status CoreWorkerClientPool::AddBorrower(const rpc::Address &owner, const std::string &object_id,
                                         const rpc::Address &borrower, bool *found) {
  grpc::ClientContext context;
  rpc::AttachClusterToken(&context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  rpc::AddBorrowerRequest request;
  request.set_object_id(object_id);
  *request.mutable_borrower_address() = borrower;
  rpc::AddBorrowerReply reply;
  Status s =
      rpc::FromGrpcStatus(GetStub(owner)->AddBorrower(&context, request, &reply), "AddBorrower");
  *found = s.ok() && reply.found();
  return s;
}

void CoreWorkerClientPool::WaitForRefRemoved(const rpc::Address &borrower,
                                             const std::string &object_id,
                                             std::function<void(const Status &)> callback) {
  using Call = rpc::AsyncCall<rpc::WaitForRefRemovedRequest, rpc::WaitForRefRemovedReply>;
  auto call = std::make_shared<Call>();
  call->request.set_object_id(object_id);
  if (!tracker_.Start(&call->context)) return;
  GetStub(borrower)->async()->WaitForRefRemoved(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        asio::post(io_, [callback, status] {
          callback(rpc::FromGrpcStatus(status, "WaitForRefRemoved"));
        });
        tracker_.Done(&call->context);
      });
}

}  // namespace cyray::core
