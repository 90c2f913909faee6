#include "cyray/raylet/cluster_view_subscriber.h"

#include <chrono>

#include "cyray/common/clock.h"
#include "cyray/common/config.h"
#include "cyray/common/logging.h"
#include "cyray/rpc/grpc_util.h"

namespace cyray::raylet {

ClusterViewSubscriber::ClusterViewSubscriber(const std::string &gcs_address, std::string node_id,
                                             OnUpdate on_update, OnLost on_lost)
    : stub_(rpc::NodeInfoGcsService::NewStub(rpc::MakeChannel(gcs_address))),
      node_id_(std::move(node_id)),
      on_update_(std::move(on_update)),
      on_lost_(std::move(on_lost)) {}

ClusterViewSubscriber::~ClusterViewSubscriber() { Stop(); }

void ClusterViewSubscriber::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ClusterViewSubscriber::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (active_ != nullptr) active_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ClusterViewSubscriber::Run() {
  int64_t known_version = 0;
  int64_t last_connected = SteadyNowMs();
  const int64_t lost_after = CyrayConfig::Instance().raylet_gcs_lost_timeout_ms();
  while (!stopping_) {
    grpc::ClientContext ctx;
    rpc::AttachClusterToken(&ctx);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      active_ = &ctx;
    }
    rpc::SubscribeClusterViewRequest request;
    request.set_node_id(node_id_);
    request.set_known_version(known_version);
    auto reader = stub_->SubscribeClusterView(&ctx, request);
    rpc::ClusterViewUpdate update;
    while (reader->Read(&update)) {
      last_connected = SteadyNowMs();
      known_version = std::max(known_version, update.version());
      on_update_(std::move(update));
      update = rpc::ClusterViewUpdate();
    }
    grpc::Status status = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(mu_);
      active_ = nullptr;
    }
    if (stopping_) return;
    if (SteadyNowMs() - last_connected > lost_after) {
      on_lost_("the cluster view stream from the GCS broke and could not be reopened for " +
               std::to_string(lost_after) + " ms: " + status.error_message());
      return;
    }
    CYRAY_LOG(DEBUG) << "cluster view stream ended (" << status.error_message() << "); reopening";
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_.load(); });
  }
}

}  // namespace cyray::raylet
