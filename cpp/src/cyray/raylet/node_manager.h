// NodeManager: the raylet's brain. Serves RequestWorkerLease/ReturnWorker over
// gRPC, accepts worker and driver connections on the node's Unix socket,
// registers the node with the GCS and reports heartbeats, and reacts to worker
// and owner death. All state lives on the main io_context thread: gRPC handlers
// and the heartbeat thread post their work there.
#pragma once

#include <boost/asio.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cyray/common/id.h"
#include "cyray/object_store/object_store.h"
#include "cyray/protobuf/gcs_service.pb.h"
#include "cyray/protobuf/node_manager.grpc.pb.h"
#include "cyray/raylet/cluster_view.h"
#include "cyray/raylet/cluster_view_subscriber.h"
#include "cyray/raylet/lease_manager.h"
#include "cyray/raylet/object_manager.h"
#include "cyray/raylet/process_launcher.h"
#include "cyray/raylet/pull_manager.h"
#include "cyray/raylet/scheduling_policy.h"
#include "cyray/raylet/worker_exits.h"
#include "cyray/raylet/worker_pool.h"
#include "cyray/rpc/gcs_client.h"
#include "cyray/rpc/grpc_util.h"

namespace cyray::raylet {

struct NodeManagerConfig {
  NodeID node_id;
  std::string node_ip_address = "127.0.0.1";
  int node_manager_port = 0;
  std::string socket_path;
  std::string gcs_address;
  ResourceSet resources;
  std::vector<std::string> worker_argv;  // without --startup-token
  std::string session_dir;
  std::string log_dir;
  int num_prestart_workers = 0;
  int maximum_startup_concurrency = 1;
  bool is_head = false;
  std::string node_name;
  // Written with the gRPC port once the raylet serves.
  std::string ready_file;
  // Bytes of the node's shared-memory object store.
  size_t object_store_memory = 256 << 20;
  // The cluster token drivers must present to register (empty: none asked).
  std::string auth_token;
  // The node's labels (for NodeLabelSchedulingStrategy and label selectors).
  std::map<std::string, std::string> labels;
};

class NodeManager : public rpc::NodeManagerService::CallbackService {
 public:
  NodeManager(boost::asio::io_context &io, NodeManagerConfig config);
  ~NodeManager() override;

  // Starts serving; fails when the socket, the port or the GCS is unusable.
  Status Start();
  // Ends workers, leaves the GCS and stops the io_context.
  void Stop(const std::string &reason);

  grpc::ServerUnaryReactor *RequestWorkerLease(grpc::CallbackServerContext *ctx,
                                               const rpc::RequestWorkerLeaseRequest *request,
                                               rpc::RequestWorkerLeaseReply *reply) override;
  grpc::ServerUnaryReactor *ReturnWorker(grpc::CallbackServerContext *ctx,
                                         const rpc::ReturnWorkerRequest *request,
                                         rpc::ReturnWorkerReply *reply) override;
  grpc::ServerUnaryReactor *GetWorkerFailureCause(grpc::CallbackServerContext *ctx,
                                                  const rpc::GetWorkerFailureCauseRequest *request,
                                                  rpc::GetWorkerFailureCauseReply *reply) override;
  grpc::ServerUnaryReactor *PullObject(grpc::CallbackServerContext *ctx,
                                       const rpc::PullObjectRequest *request,
                                       rpc::PullObjectReply *reply) override;
  grpc::ServerUnaryReactor *FreeObjects(grpc::CallbackServerContext *ctx,
                                        const rpc::FreeObjectsRequest *request,
                                        rpc::FreeObjectsReply *reply) override;
  grpc::ServerUnaryReactor *CancelWorkerLease(grpc::CallbackServerContext *ctx,
                                              const rpc::CancelWorkerLeaseRequest *request,
                                              rpc::CancelWorkerLeaseReply *reply) override;
  // node_stats.cc: what this node is doing, and its log files.
  grpc::ServerUnaryReactor *GetNodeStats(grpc::CallbackServerContext *ctx,
                                         const rpc::GetNodeStatsRequest *request,
                                         rpc::GetNodeStatsReply *reply) override;
  grpc::ServerUnaryReactor *ListLogs(grpc::CallbackServerContext *ctx,
                                     const rpc::ListLogsRequest *request,
                                     rpc::ListLogsReply *reply) override;
  grpc::ServerUnaryReactor *ReadLog(grpc::CallbackServerContext *ctx,
                                    const rpc::ReadLogRequest *request,
                                    rpc::ReadLogReply *reply) override;

 private:
  struct LocalConnection;
  using ConnectionPtr = std::shared_ptr<LocalConnection>;

  // Asks every registered worker and driver for its stats, in parallel, into
  // `reply`; finishes `reactor` when all answered or timed out.
  void GatherWorkerStats(rpc::GetNodeStatsReply *reply, grpc::ServerUnaryReactor *reactor);
  void DoAccept();
  void ReadHeader(const ConnectionPtr &conn);
  void HandleMessage(const ConnectionPtr &conn, uint32_t type, const std::string &body);
  void HandleRegister(const ConnectionPtr &conn, const std::string &body);
  // The shared-memory object store's requests (PLASMA_*).
  void HandlePlasma(const ConnectionPtr &conn, uint32_t type, const std::string &body);
  // Sends a frame with the store's fd attached (SCM_RIGHTS); synchronous.
  Status SendWithFd(const ConnectionPtr &conn, uint32_t type, const std::string &body, int fd);
  void Send(const ConnectionPtr &conn, uint32_t type, const std::string &body);
  void CloseConnection(const ConnectionPtr &conn);
  // A worker or driver went away (socket closed or process exited).
  void OnClientGone(const WorkerPtr &worker, const std::string &why);
  // Kills the workers leased by `owner_id` and drops its queued requests.
  void OnOwnerGone(const WorkerID &owner_id);
  void WaitForChildren();
  void OnTimer();
  void HeartbeatLoop();
  // Asks the heartbeat thread to report resources now (they changed).
  void RequestResourceReport();
  rpc::ReportHeartbeatRequest MakeResourceReport();
  void OnClusterViewUpdate(const rpc::ClusterViewUpdate &update);
  // A node of the cluster died: local clients hear of it (owners retry and
  // rebuild what was there).
  void OnNodeRemoved(const NodeView &node);
  void Broadcast(uint32_t type, const std::string &body);
  // Tells the owner of an infeasible request (once per owner and shape) that
  // it waits, as Ray's warning does.
  void WarnInfeasible(const LeaseRequest &request, const std::string &why);
  std::set<std::pair<WorkerID, std::string>> warned_infeasible_;
  // Tells the GCS (off the main thread) that a worker or driver is gone, so it
  // can restart or bury actors.
  void ReportFailureToGcs(const WorkerExit &exit);
  // A worker's exit is final (reaped or given up on): tell the GCS and anyone
  // waiting in GetWorkerFailureCause.
  void OnExitFinal(const WorkerExit &exit);
  // A worker the runtime kills on purpose: its exit will name `reason`.
  void KillWorker(const WorkerPtr &worker, const std::string &reason);
  struct CauseWaiter;
  void GcsReporterLoop();
  Status RegisterWithGcs();
  void WriteReadyFile();

  boost::asio::io_context &io_;
  NodeManagerConfig config_;
  // The object store's shared memory (a memfd) and what is in it.
  int store_fd_ = -1;
  uint8_t *store_base_ = nullptr;
  object_store::Allocator store_allocator_;
  object_store::FileSpillStorage spill_storage_;
  object_store::ObjectStore object_store_;
  NodeResources resources_;
  ProcessLauncher launcher_;
  WorkerPool worker_pool_;
  ClusterView cluster_view_;
  SchedulingPolicy scheduling_policy_;
  LeaseManager lease_manager_;
  std::unique_ptr<ClusterViewSubscriber> view_subscriber_;
  // Outgoing calls of the object manager; outlives nothing it must cancel.
  rpc::CallTracker call_tracker_;
  GrpcObjectTransfer object_transfer_;
  StorePullTarget pull_target_;
  ObjectChunkService chunk_service_;
  PullManager pull_manager_;
  rpc::GcsClient gcs_client_;
  std::unique_ptr<grpc::Server> grpc_server_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::signal_set child_signals_;
  boost::asio::signal_set stop_signals_;
  boost::asio::steady_timer timer_;
  uint64_t next_connection_id_ = 1;
  std::unordered_map<uint64_t, ConnectionPtr> connections_;
  WorkerExits exits_;
  // Object-store connection tokens handed to registered clients, by token:
  // the client's local connection id.
  std::unordered_map<std::string, uint64_t> plasma_tokens_;
  // GetWorkerFailureCause calls waiting for a worker's exit to be reaped.
  std::unordered_multimap<WorkerID, std::shared_ptr<CauseWaiter>> cause_waiters_;
  std::thread heartbeat_thread_;
  // Between the main thread (RequestResourceReport) and the heartbeat thread.
  std::mutex heartbeat_mu_;
  std::condition_variable heartbeat_cv_;
  bool report_requested_ ABSL_GUARDED_BY(heartbeat_mu_) = false;
  std::thread gcs_reporter_thread_;
  // Shuts the gRPC server down while the main thread keeps serving (Stop).
  std::thread server_stopper_;
  std::mutex report_mu_;
  std::condition_variable report_cv_;
  std::deque<rpc::ReportWorkerFailureRequest> reports_;
  std::atomic<bool> stopping_{false};
  // Which worker each startup token became (its log files are named after the
  // token), kept after it exits so its logs can still be found.
  struct LoggedWorker {
    int pid = 0;
    WorkerID worker_id;
  };
  std::unordered_map<int64_t, LoggedWorker> workers_by_token_;
};

}  // namespace cyray::raylet
