// Small helpers around gRPC shared by the raylet and the core worker: channel
// creation with cyray's options and a holder for one asynchronous unary call.
// Channels and stubs are thread-safe; an AsyncCall belongs to one call.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "cyray/common/status.h"
#include "cyray/rpc/cluster_token.h"

namespace cyray::rpc {

// The largest message a cyray channel or server sends or accepts (max_grpc_message_size).
int MaxMessageSize();

// Every call between cyray processes carries the cluster token
// (cluster_token.h) as metadata kClusterTokenKey, and every cyray server
// refuses calls without it. A call gets it from AttachClusterToken, which
// AsyncCall runs for every asynchronous call; sync calls run it on their
// context. (A per-call header costs less than a client interceptor, which
// added ~10k instructions to every call.)
inline constexpr char kClusterTokenKey[] = "cyray-token";
void AttachClusterToken(grpc::ClientContext *context);

// For a server handler: nullptr when the call carries the cluster token;
// otherwise the call's reactor, finished with UNAUTHENTICATED (return it), and
// a log line naming the peer. The one check every cyray C++ handler starts with.
grpc::ServerUnaryReactor *RejectIfUnauthenticated(grpc::CallbackServerContext *ctx);

// A channel to "host:port" (or "unix:path") with cyray's message size limit.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string &address);

// Starts a server on `host:*port` (0 picks a free port, written back to *port)
// with `services` registered.
std::unique_ptr<grpc::Server> StartServer(const std::string &host, int *port,
                                          const std::vector<grpc::Service *> &services);

Status FromGrpcStatus(const grpc::Status &status, const std::string &what);

// Keeps count of a client's asynchronous calls in flight, so that shutdown can
// cancel them and wait until no completion callback can run any more (they
// point into objects about to be destroyed). Thread-safe.
class CallTracker {
 public:
  // Returns false once shutting down: then the call must not be started.
  bool Start(grpc::ClientContext *context);
  void Done(grpc::ClientContext *context);
  void CancelAllAndWait(int64_t timeout_ms);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_set<grpc::ClientContext *> in_flight_;
  bool stopping_ = false;
};

// The request, reply and context of one asynchronous call, kept alive until the
// completion callback ran: create with std::make_shared and capture it.
template <typename Request, typename Reply>
struct AsyncCall {
  AsyncCall() { AttachClusterToken(&context); }

  grpc::ClientContext context;
  Request request;
  Reply reply;

  void SetTimeoutMs(int64_t ms) {
    if (ms > 0) {
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
    }
  }
};

}  // namespace cyray::rpc
