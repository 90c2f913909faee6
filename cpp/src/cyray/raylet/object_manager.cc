#include "cyray/raylet/object_manager.h"

#include <boost/asio/post.hpp>

#include <cstring>

namespace cyray::raylet {

namespace asio = boost::asio;

namespace {
std::string AddressKey(const rpc::Address &address) {
  return address.ip_address() + ":" + std::to_string(address.port());
}
}  // namespace

rpc::CoreWorkerService::Stub *GrpcObjectTransfer::WorkerStub(const rpc::Address &address) {
  std::string target = AddressKey(address);
  std::lock_guard<std::mutex> lock(mu_);
  auto &stub = workers_[target];
  if (!stub) stub = rpc::CoreWorkerService::NewStub(rpc::MakeChannel(target));
  return stub.get();
}

rpc::ObjectManagerService::Stub *GrpcObjectTransfer::ObjectStub(const std::string &raylet) {
  std::lock_guard<std::mutex> lock(mu_);
  auto &channel = channels_[raylet];
  if (!channel) channel = rpc::MakeChannel(raylet);
  auto &stub = objects_[raylet];
  if (!stub) stub = rpc::ObjectManagerService::NewStub(channel);
  return stub.get();
}

rpc::NodeManagerService::Stub *GrpcObjectTransfer::NodeStub(const std::string &raylet) {
  std::lock_guard<std::mutex> lock(mu_);
  auto &channel = channels_[raylet];
  if (!channel) channel = rpc::MakeChannel(raylet);
  auto &stub = nodes_[raylet];
  if (!stub) stub = rpc::NodeManagerService::NewStub(channel);
  return stub.get();
}

void GrpcObjectTransfer::GetObjectLocations(
    const rpc::Address &owner, const ObjectID &id,
    std::function<void(const Status &, const rpc::GetObjectLocationsReply &)> callback) {
  using Call = rpc::AsyncCall<rpc::GetObjectLocationsRequest, rpc::GetObjectLocationsReply>;
  auto call = std::make_shared<Call>();
  call->request.set_object_id(id.Binary());
  call->SetTimeoutMs(10000);
  if (!tracker_.Start(&call->context)) return;
  WorkerStub(owner)->async()->GetObjectLocations(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        asio::post(io_, [call, callback, status] {
          callback(rpc::FromGrpcStatus(status, "GetObjectLocations"), call->reply);
        });
        tracker_.Done(&call->context);
      });
}

void GrpcObjectTransfer::FetchObjectChunk(
    const std::string &raylet, const ObjectID &id, uint64_t offset, uint64_t length,
    int64_t timeout_ms,
    std::function<void(const Status &, const rpc::FetchObjectChunkReply &)> callback) {
  using Call = rpc::AsyncCall<rpc::FetchObjectChunkRequest, rpc::FetchObjectChunkReply>;
  auto call = std::make_shared<Call>();
  call->request.set_object_id(id.Binary());
  call->request.set_offset(offset);
  call->request.set_length(length);
  call->SetTimeoutMs(timeout_ms);
  if (!tracker_.Start(&call->context)) return;
  ObjectStub(raylet)->async()->FetchObjectChunk(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        asio::post(io_, [call, callback, status] {
          callback(rpc::FromGrpcStatus(status, "FetchObjectChunk"), call->reply);
        });
        tracker_.Done(&call->context);
      });
}

void GrpcObjectTransfer::AddObjectLocation(const rpc::Address &owner, const ObjectID &id,
                                           std::function<void(bool)> callback) {
  using Call = rpc::AsyncCall<rpc::AddObjectLocationRequest, rpc::AddObjectLocationReply>;
  auto call = std::make_shared<Call>();
  call->request.set_object_id(id.Binary());
  *call->request.mutable_raylet_address() = self_;
  call->SetTimeoutMs(10000);
  if (!tracker_.Start(&call->context)) return;
  WorkerStub(owner)->async()->AddObjectLocation(
      &call->context, &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status status) {
        // An owner that cannot be reached will not free the copy either.
        bool kept = !status.ok() ? false : call->reply.kept();
        asio::post(io_, [callback, kept] { callback(kept); });
        tracker_.Done(&call->context);
      });
}

void GrpcObjectTransfer::FreeObjects(const std::string &raylet,
                                     const std::vector<std::string> &ids) {
  using Call = rpc::AsyncCall<rpc::FreeObjectsRequest, rpc::FreeObjectsReply>;
  auto call = std::make_shared<Call>();
  for (const auto &id : ids) call->request.add_object_ids(id);
  call->SetTimeoutMs(10000);
  if (!tracker_.Start(&call->context)) return;
  NodeStub(raylet)->async()->FreeObjects(
      &call->context, &call->request, &call->reply,
      [this, call](grpc::Status) { tracker_.Done(&call->context); });
}

bool StorePullTarget::ContainsSealed(const ObjectID &id) {
  object_store::ObjectLocation location;
  if (store_.Get(id, kPullClientId, &location) != object_store::ObjectStore::GetResult::kFound) {
    return false;
  }
  store_.Release(id, kPullClientId);
  return true;
}

Status StorePullTarget::Create(const ObjectID &id, uint64_t data_size, uint64_t metadata_size,
                               uint8_t **dest) {
  object_store::ObjectLocation location;
  CYRAY_RETURN_NOT_OK(store_.Create(id, data_size, metadata_size, kPullClientId, &location));
  *dest = base_ + location.offset;
  return Status::OK();
}

Status StorePullTarget::Seal(const ObjectID &id) {
  CYRAY_RETURN_NOT_OK(store_.Seal(id, kPullClientId));
  store_.MarkSecondary(id);
  return Status::OK();
}

void StorePullTarget::Delete(const ObjectID &id) { store_.Delete(id); }

grpc::ServerUnaryReactor *ObjectChunkService::FetchObjectChunk(
    grpc::CallbackServerContext *ctx, const rpc::FetchObjectChunkRequest *request,
    rpc::FetchObjectChunkReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  asio::post(io_, [this, request, reply, reactor] {
    ObjectID id = ObjectID::FromBinary(request->object_id());
    object_store::ObjectLocation location;
    if (store_.Get(id, kChunkServerClientId, &location) ==
        object_store::ObjectStore::GetResult::kFound) {
      uint64_t total = location.data_size + location.metadata_size;
      uint64_t offset = std::min<uint64_t>(request->offset(), total);
      uint64_t length = std::min<uint64_t>(request->length(), total - offset);
      reply->set_found(true);
      reply->set_data_size(location.data_size);
      reply->set_metadata_size(location.metadata_size);
      reply->mutable_chunk()->assign(
          reinterpret_cast<const char *>(base_ + location.offset + offset), length);
      store_.Release(id, kChunkServerClientId);
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace cyray::raylet
