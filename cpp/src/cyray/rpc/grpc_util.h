// Small helpers around gRPC shared by the raylet and the core worker: channel
// creation with cyray's options and a holder for one asynchronous unary call.
// Channels and stubs are thread-safe; an AsyncCall belongs to one call.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "cyray/common/status.h"

namespace cyray::rpc {

// A channel to "host:port" (or "unix:path") without message size limits.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string &address);

// Starts a server on `host:*port` (0 picks a free port, written back to *port)
// with `services` registered.
std::unique_ptr<grpc::Server> StartServer(const std::string &host, int *port,
                                          const std::vector<grpc::Service *> &services);

Status FromGrpcStatus(const grpc::Status &status, const std::string &what);

// The request, reply and context of one asynchronous call, kept alive until the
// completion callback ran: create with std::make_shared and capture it.
template <typename Request, typename Reply>
struct AsyncCall {
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
