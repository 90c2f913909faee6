#include "cyray/rpc/grpc_util.h"

#include <algorithm>
#include <limits>

#include "cyray/common/config.h"
#include "cyray/common/logging.h"
#include "cyray/common/secure_random.h"

namespace cyray::rpc {

int MaxMessageSize() {
  return static_cast<int>(std::min<int64_t>(CyrayConfig::Instance().max_grpc_message_size(),
                                            std::numeric_limits<int>::max()));
}

void AttachClusterToken(grpc::ClientContext *context) {
  const std::string &token = ClusterToken();
  if (!token.empty()) context->AddMetadata(kClusterTokenKey, token);
}

grpc::ServerUnaryReactor *RejectIfUnauthenticated(grpc::CallbackServerContext *ctx) {
  const std::string &expected = ClusterToken();
  if (expected.empty()) return nullptr;
  const auto &metadata = ctx->client_metadata();
  auto it = metadata.find(kClusterTokenKey);
  if (it != metadata.end() &&
      ConstantTimeEquals(std::string(it->second.data(), it->second.size()), expected)) {
    return nullptr;
  }
  CYRAY_LOG(WARNING) << "refused a call without the cluster token from " << ctx->peer();
  auto *reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                               "this cyray server takes only calls that carry the cluster token"));
  return reactor;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string &address) {
  grpc::ChannelArguments args;
  const int max_message = MaxMessageSize();
  args.SetMaxReceiveMessageSize(max_message);
  args.SetMaxSendMessageSize(max_message);
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
  builder.AddListeningPort(host + ":" + std::to_string(*port), grpc::InsecureServerCredentials(),
                           port);
  builder.SetMaxReceiveMessageSize(MaxMessageSize());
  builder.SetMaxSendMessageSize(MaxMessageSize());
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (grpc::Service *service : services) builder.RegisterService(service);
  return builder.BuildAndStart();
}

bool CallTracker::Start(grpc::ClientContext *context) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  in_flight_.insert(context);
  return true;
}

void CallTracker::Done(grpc::ClientContext *context) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_.erase(context);
  cv_.notify_all();
}

void CallTracker::CancelAllAndWait(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  stopping_ = true;
  for (grpc::ClientContext *context : in_flight_) context->TryCancel();
  if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                    [this] { return in_flight_.empty(); })) {
    CYRAY_LOG(WARNING) << in_flight_.size() << " RPCs still in flight at shutdown";
  }
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
