// The raylet's side of moving objects between nodes, over gRPC:
//  - GrpcObjectTransfer: the calls a pull makes (owners' object directory,
//    other raylets' chunks, frees forwarded to other raylets);
//  - StorePullTarget: this node's ObjectStore as the destination of pulls;
//  - ObjectChunkService: serves chunks of this node's sealed objects to
//    raylets that pull them.
// Completions are posted to the raylet's io_context; the store is touched
// only there. Chunks travel as raw gRPC byte buffers in FetchObjectChunkReply's
// wire format: the holder sends the store's bytes without copying them, and
// the puller copies them once, from gRPC's receive buffers into its store.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <boost/asio/io_context.hpp>

#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "cyray/object_store/object_store.h"
#include "cyray/protobuf/core_worker.grpc.pb.h"
#include "cyray/protobuf/node_manager.grpc.pb.h"
#include "cyray/raylet/pull_manager.h"
#include "cyray/rpc/grpc_util.h"

namespace cyray::raylet {

// Store client ids the raylet itself uses (connection ids count up from 1).
constexpr object_store::ClientId kPullClientId = ~0ull - 1;
constexpr object_store::ClientId kChunkServerClientId = ~0ull - 2;

class GrpcObjectTransfer : public ObjectTransferInterface {
 public:
  GrpcObjectTransfer(boost::asio::io_context &io, rpc::CallTracker &tracker)
      : io_(io), tracker_(tracker) {}
  void GetObjectLocations(
      const rpc::Address &owner, const ObjectID &id,
      std::function<void(const Status &, const rpc::GetObjectLocationsReply &)> callback) override;
  void FetchObjectChunk(
      const std::string &raylet, const ObjectID &id, uint64_t offset, uint64_t length,
      int64_t timeout_ms,
      std::function<void(const Status &, const FetchedChunk &)> callback) override;
  void AddObjectLocation(const rpc::Address &owner, const ObjectID &id,
                         std::function<void(bool kept)> callback) override;
  // Asks the raylet at `raylet` to drop its copies of `ids` (fire and forget).
  void FreeObjects(const std::string &raylet, const std::vector<std::string> &ids);
  // This raylet's own address, reported to owners as the new copy's place.
  void set_self(const rpc::Address &self) { self_ = self; }

 private:
  rpc::CoreWorkerService::Stub *WorkerStub(const rpc::Address &address);
  grpc::GenericStub *ChunkStub(const std::string &raylet);
  rpc::NodeManagerService::Stub *NodeStub(const std::string &raylet);

  boost::asio::io_context &io_;
  rpc::CallTracker &tracker_;
  rpc::Address self_;
  // The stub caches are filled from the main thread and read from it only;
  // the lock keeps them safe should a gRPC thread ever ask.
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, std::unique_ptr<rpc::CoreWorkerService::Stub>> workers_
      ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, std::unique_ptr<grpc::GenericStub>> chunks_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, std::unique_ptr<rpc::NodeManagerService::Stub>> nodes_
      ABSL_GUARDED_BY(mu_);
};

class StorePullTarget : public PullTargetInterface {
 public:
  StorePullTarget(object_store::ObjectStore &store, uint8_t *&base) : store_(store), base_(base) {}
  bool ContainsSealed(const ObjectID &id) override;
  Status Create(const ObjectID &id, uint64_t data_size, uint64_t metadata_size,
                uint8_t **dest) override;
  Status Seal(const ObjectID &id) override;
  void Delete(const ObjectID &id) override;

 private:
  object_store::ObjectStore &store_;
  uint8_t *&base_;
};

// The reply's chunk is a slice pointing into the store: the object stays
// pinned (a reader reference) until gRPC has sent it.
class ObjectChunkService : public rpc::ObjectManagerService::WithRawCallbackMethod_FetchObjectChunk<
                               rpc::ObjectManagerService::Service> {
 public:
  ObjectChunkService(boost::asio::io_context &io, object_store::ObjectStore &store, uint8_t *&base)
      : io_(io), store_(store), base_(base) {}
  grpc::ServerUnaryReactor *FetchObjectChunk(grpc::CallbackServerContext *ctx,
                                             const grpc::ByteBuffer *request,
                                             grpc::ByteBuffer *reply) override;

 private:
  boost::asio::io_context &io_;
  object_store::ObjectStore &store_;
  uint8_t *&base_;
};

}  // namespace cyray::raylet
