// ClusterViewSubscriber: keeps a server stream of cluster view updates open
// to the GCS on its own thread and hands each update to a callback (which
// posts it to the raylet's main thread). The open stream is also how the GCS
// knows this raylet lives: it marks the node dead as soon as the stream
// breaks. Reconnects (asking for what changed since the last version seen)
// when the GCS restarts; `on_lost` runs when it could not for
// raylet_gcs_lost_timeout_ms. Thread-safe: Start and Stop from one thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "cyray/protobuf/gcs_service.grpc.pb.h"

namespace cyray::raylet {

class ClusterViewSubscriber {
 public:
  using OnUpdate = std::function<void(rpc::ClusterViewUpdate)>;
  using OnLost = std::function<void(const std::string &why)>;

  ClusterViewSubscriber(const std::string &gcs_address, std::string node_id, OnUpdate on_update,
                        OnLost on_lost);
  ~ClusterViewSubscriber();

  void Start();
  void Stop();

 private:
  void Run();

  std::unique_ptr<rpc::NodeInfoGcsService::Stub> stub_;
  std::string node_id_;
  OnUpdate on_update_;
  OnLost on_lost_;
  std::thread thread_;
  // Between Stop (the raylet's main thread) and Run (the subscriber thread).
  std::mutex mu_;
  std::condition_variable cv_;
  grpc::ClientContext *active_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::atomic<bool> stopping_{false};
};

}  // namespace cyray::raylet
