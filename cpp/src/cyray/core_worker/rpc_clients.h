// gRPC-backed implementations of the submitter's seams: the local raylet's
// lease API and the CoreWorkerService of other processes (with a stub cache).
// Replies are posted to the core worker's io_context. Thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>

#include <mutex>
#include <unordered_map>

#include "cyray/core_worker/actor_task_submitter.h"
#include "cyray/core_worker/task_channel.h"
#include "cyray/core_worker/task_submitter.h"
#include "cyray/protobuf/core_worker.grpc.pb.h"
#include "cyray/protobuf/gcs_service.grpc.pb.h"
#include "cyray/protobuf/node_manager.grpc.pb.h"
#include "cyray/rpc/grpc_util.h"

namespace cyray::core {

// The node manager services of the local raylet and of the others the
// submitter is sent to (stubs cached by address).
class RayletLeaseClient : public LeaseClientInterface {
 public:
  RayletLeaseClient(boost::asio::io_context &io, rpc::CallTracker &tracker,
                    const std::string &local_raylet_address);
  void RequestWorkerLease(
      const std::string &raylet, const rpc::TaskSpec &resource_spec, int64_t backlog,
      bool grant_or_reject,
      std::function<void(const Status &, const rpc::RequestWorkerLeaseReply &)> callback) override;
  void ReturnWorker(const std::string &raylet, const std::string &worker_id, bool disconnect,
                    const std::string &reason) override;
  void GetWorkerFailureCause(const std::string &raylet, const std::string &worker_id,
                             int64_t wait_ms,
                             std::function<void(const std::string &)> callback) override;
  void CancelWorkerLease(const std::string &raylet, const std::string &task_id,
                         const std::string &owner_id) override;
  // The stub of `raylet` ("host:port"; empty: the local raylet).
  rpc::NodeManagerService::Stub *Stub(const std::string &raylet);
  const std::string &local_address() const { return local_address_; }

 private:
  boost::asio::io_context &io_;
  rpc::CallTracker &tracker_;
  std::string local_address_;
  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<rpc::NodeManagerService::Stub>> stubs_;
};

// Asynchronous calls to the GCS actor service.
class GcsActorClient : public ActorStateSourceInterface {
 public:
  GcsActorClient(boost::asio::io_context &io, rpc::CallTracker &tracker,
                 const std::string &gcs_address);
  void WaitActorStateChange(
      const std::string &actor_id, int64_t known_version,
      std::function<void(const Status &, const rpc::ActorTableData &)> callback) override;
  void CreateActor(const rpc::TaskSpec &spec, std::function<void(const Status &)> callback);

 private:
  boost::asio::io_context &io_;
  rpc::CallTracker &tracker_;
  std::unique_ptr<rpc::ActorInfoGcsService::Stub> stub_;
};

class CoreWorkerClientPool : public WorkerClientInterface {
 public:
  CoreWorkerClientPool(boost::asio::io_context &io, rpc::CallTracker &tracker);
  // Fails the pushes in flight over the task channel and closes it.
  void Shutdown() { task_channel_.Shutdown(); }
  // Workers on `node_id` are called over their Unix sockets in `session_dir`.
  void SetLocalNode(const std::string &node_id, const std::string &session_dir) {
    task_channel_.SetLocalNode(node_id, session_dir);
  }
  // Pushes over the worker's task channel (gRPC for an address without one).
  void PushTask(const rpc::Address &worker, std::shared_ptr<const rpc::PushTaskRequest> request,
                PushCallback callback, PushCallback on_reply_thread = nullptr) override;
  void CancelTask(const rpc::Address &worker, const std::string &task_id, bool force_kill,
                  bool recursive, std::function<void(bool attempt_succeeded)> callback) override;
  // Asks the owner of `object_id` to cancel the task that makes it; `callback`
  // (io thread) gets the owner's refusal, empty when it accepted.
  void RemoteCancelTask(const rpc::Address &owner, const std::string &object_id, bool force_kill,
                        bool recursive,
                        std::function<void(const Status &, const std::string &error)> callback);
  // Reports a generator's item to its owner; `callback` (io thread) runs once
  // the owner acknowledged it (or the call failed).
  void ReportGeneratorItem(const rpc::Address &owner,
                           std::unique_ptr<rpc::ReportGeneratorItemReturnsRequest> request,
                           std::function<void(const Status &)> callback);
  void GetObjectStatus(
      const rpc::Address &owner, const std::string &object_id,
      std::function<void(const Status &, const rpc::GetObjectStatusReply &)> callback);
  // Blocking: tells `owner` that this process borrows `object_id`.
  Status AddBorrower(const rpc::Address &owner, const std::string &object_id,
                     const rpc::Address &borrower, bool *found);
  // Calls back once `borrower` no longer holds the object (or is gone).
  void WaitForRefRemoved(const rpc::Address &borrower, const std::string &object_id,
                         std::function<void(const Status &)> callback);

 private:
  rpc::CoreWorkerService::Stub *GetStub(const rpc::Address &address);

  boost::asio::io_context &io_;
  rpc::CallTracker &tracker_;
  TaskChannelClient task_channel_;
  // A flush of the task channel is posted to io_: pushes made by the handlers
  // queued before it go out together.
  std::atomic<bool> flush_posted_{false};
  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<rpc::CoreWorkerService::Stub>> stubs_;
};

}  // namespace cyray::core
