#include "cyray/rpc/grpc_util.h"

#include "cyray/common/logging.h"

namespace cyray::rpc {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string &address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  // Reconnect quickly after a peer restarts.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Each channel gets its own connection (no sharing through the global pool),
  // so one slow peer does not hold up another.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::Server> StartServer(const std::string &host, int *port,
                                          const std::vector<grpc::Service *> &services) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + std::to_string(*port),
                           grpc::InsecureServerCredentials(), port);
  builder.SetMaxReceiveMessageSize(-1);
  builder.SetMaxSendMessageSize(-1);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (grpc::Service *service : services) builder.RegisterService(service);
  return builder.BuildAndStart();
}

Status FromGrpcStatus(const grpc::Status &status, const std::string &what) {
  if (status.ok()) return Status::OK();
  std::string message = what + ": " + status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status::TimedOut(message);
    case grpc::StatusCode::UNAVAILABLE:
      return Status::Disconnected(message);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Status::Invalid(message);
    case grpc::StatusCode::NOT_FOUND:
      return Status::NotFound(message);
    default:
      return Status::IOError(message);
  }
}

}  // namespace cyray::rpc
