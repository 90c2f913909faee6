// The channel that carries PushTask between core workers: one connection per
// (caller, worker) pair, one frame each way per task, instead of a gRPC call
// (whose callback API costs several times a socket hop here). A worker listens
// on TCP (its node's address) and on a Unix socket in its node's session
// directory; a caller on the same node uses the Unix socket, which costs a
// fraction of loopback TCP per message, and TCP when that is not there.
//
// Frames (rpc::FramedConnection):
//   kHello   caller -> worker  the cluster token; must come first
//   kRefused worker -> caller  why the connection is refused (then it closes)
//   kPush    caller -> worker  [uint64 call id] PushTaskRequest
//   kReply   worker -> caller  [uint64 call id][uint8 ok][uint32 n][n bytes of error] PushTaskReply
// The GCS (Python) still pushes actor creation tasks over gRPC; both paths
// end at the same TaskResponder interface.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cyray/common/status.h"
#include "cyray/protobuf/core_worker.pb.h"
#include "cyray/rpc/framed_connection.h"

namespace cyray::core {

enum TaskChannelFrame : uint32_t {
  kTaskHello = 1,
  kTaskRefused = 2,
  kTaskPush = 3,
  kTaskReply = 4
};

// How long a reply that FinishBatched sent may wait for the next ones.
constexpr int64_t kReplyHoldUs = 500;

// Where a worker listening on `ip:port` also listens for callers on its own
// node: a Unix socket in the node's session directory `dir`.
std::string TaskSocketPath(const std::string &dir, const std::string &ip, int port);

// The answering side of one PushTask call, whatever brought it. Two owners:
// the transport (until the reply is handed over) and the task loop (until it
// lets go), each calls Release once.
class TaskResponder {
 public:
  virtual ~TaskResponder() = default;
  // Sends the reply (filled in by then) when `status` is OK, else the error
  // (the caller sees it as an unreachable worker). Call once.
  virtual void Finish(const Status &status) = 0;
  // As Finish, but the reply may wait briefly for the replies that follow it,
  // to share one write (and one wake-up of the caller); for a reply whose
  // worker has more calls queued. The caller gets it within kReplyHoldUs.
  virtual void FinishBatched(const Status &status) { Finish(status); }
  // Waits until the reply has left this process, or `timeout_ms` passed.
  virtual void WaitDone(int64_t timeout_ms) = 0;
  virtual void Release() = 0;
};

// Calls over the task channel, one connection per worker address; a closed
// connection is made again on the next call. Thread-safe: Push and Flush come
// from the owner's io thread, Shutdown from the one that shuts the process
// down, and each connection's thread delivers replies and its end.
class TaskChannelClient {
 public:
  // The reply is the callback's to keep (it may move from it).
  using Callback = std::function<void(const Status &, rpc::PushTaskReply &)>;

  TaskChannelClient(std::string token, int64_t connect_timeout_ms, uint32_t max_frame);
  ~TaskChannelClient();
  // The node this process runs on and its session directory: a worker whose
  // address names this node is called over its Unix socket there.
  void SetLocalNode(std::string node_id, std::string session_dir);
  // Sends `request` to the task channel of `worker` (its ip_address and
  // task_port, or its Unix socket when on this node). `callback` runs
  // once, on the connection's thread: with the reply, or with the reason the
  // call failed (the worker died, refused, or this client shut down).
  // With `flush` false the frame waits for Flush(): pushes made together then
  // share one write per worker. A request above the frame limit fails (Invalid)
  // without being sent.
  void Push(const rpc::Address &worker, const rpc::PushTaskRequest &request, Callback callback,
            bool flush = true);
  // Writes the frames that pushes without `flush` left waiting.
  void Flush();
  // Fails every call in flight and closes every connection.
  void Shutdown();

 private:
  struct Peer;
  std::shared_ptr<Peer> GetPeer(const rpc::Address &worker);
  void OnFrame(Peer &peer, uint32_t type, const std::string &body);
  void OnClose(const std::shared_ptr<Peer> &peer, const Status &why);

  const std::string token_;
  const int64_t connect_timeout_ms_;
  const uint32_t max_frame_;
  std::atomic<uint64_t> next_call_id_{1};
  std::mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::string local_node_id_ ABSL_GUARDED_BY(mu_);
  std::string local_dir_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, std::shared_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  // Peers holding frames that Push left for Flush.
  std::vector<std::shared_ptr<Peer>> unflushed_ ABSL_GUARDED_BY(mu_);
};

// How long a caller has to show the cluster token after connecting.
constexpr int64_t kTaskHelloTimeoutMs = 10000;
// Connections that may wait for their token at once; beyond it the oldest is closed.
constexpr int kMaxUnauthenticatedTaskConnections = 64;

// Accepts task channel connections on `ip` and hands each authenticated
// PushTask to `on_push` (on the connection's thread). Start and Stop come from
// the owner's thread; the acceptor thread and the connections' threads share
// the client table under mu_.
class TaskChannelServer {
 public:
  // The request and reply live as long as `responder` (until both Releases).
  using OnPush = std::function<void(const rpc::PushTaskRequest *request, rpc::PushTaskReply *reply,
                                    TaskResponder *responder)>;

  // A connection that has not shown the token within `hello_timeout_ms` is
  // closed, and at most `max_unauthenticated` wait at once (a new one closes
  // the oldest: callers show the token at once): a peer that never
  // authenticates cannot hold the worker's threads, nor keep callers out.
  TaskChannelServer(std::string token, uint32_t max_frame, OnPush on_push,
                    int64_t hello_timeout_ms = kTaskHelloTimeoutMs,
                    int max_unauthenticated = kMaxUnauthenticatedTaskConnections);
  ~TaskChannelServer();
  // Listens on `ip`, port chosen by the kernel (*port), and, when
  // `session_dir` is given, on TaskSocketPath there (a warning, not an error,
  // if it cannot: callers then use TCP).
  Status Start(const std::string &ip, int *port, const std::string &session_dir = "");
  // Stops accepting and closes every connection; calls still running answer
  // into closed connections, which drop the replies.
  void Stop();

 private:
  struct Client;
  void ListenLocal(const std::string &path);
  void AcceptLoop();
  // Serves one accepted connection; false once stopped. Sets *evict to the
  // oldest connection still owing the token when too many do.
  bool Accept(int fd, std::shared_ptr<rpc::FramedConnection> *evict);
  // Closes the connections whose hello deadline passed; the ms until the next
  // deadline (-1: none).
  int64_t CloseSilentConnections();
  void OnFrame(const std::shared_ptr<Client> &client, uint32_t type, std::string body);

  const std::string token_;
  const uint32_t max_frame_;
  OnPush on_push_;
  const int64_t hello_timeout_ms_;
  const int max_unauthenticated_;
  // Set by Start before the acceptor starts, closed by Stop after it ends.
  int listen_fd_ = -1;
  int local_listen_fd_ = -1;  // the Unix socket; -1 without one
  std::string local_path_;
  int stop_fd_ = -1;  // an eventfd: Stop wakes the acceptor with it
  std::thread acceptor_;
  std::mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_client_id_ ABSL_GUARDED_BY(mu_) = 0;
  int unauthenticated_ ABSL_GUARDED_BY(mu_) = 0;  // connections still owing the token
  uint64_t evicted_ ABSL_GUARDED_BY(mu_) = 0;     // connections closed for newer ones (the cap)
  std::unordered_map<uint64_t, std::shared_ptr<Client>> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cyray::core
