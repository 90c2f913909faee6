#include "cyray/raylet/object_manager.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include <boost/asio/post.hpp>

#include <algorithm>

#include "cyray/raylet/chunk_codec.h"

namespace cyray::raylet {

namespace asio = boost::asio;

namespace {
constexpr char kFetchObjectChunkMethod[] = "/cyray.rpc.ObjectManagerService/FetchObjectChunk";

std::string AddressKey(const rpc::Address &address) {
  return address.ip_address() + ":" + std::to_string(address.port());
}

// The reader reference a chunk being sent holds on its object.
struct PinnedChunk {
  asio::io_context *io;
  object_store::ObjectStore *store;
  ObjectID id;
};

// gRPC is done with a chunk's bytes (any thread): unpin on the io thread.
void UnpinChunk(void *arg) {
  std::unique_ptr<PinnedChunk> pinned(static_cast<PinnedChunk *>(arg));
  asio::post(*pinned->io, [store = pinned->store, id = pinned->id] {
    store->Release(id, kChunkServerClientId);
  });
}
}  // namespace

rpc::CoreWorkerService::Stub *GrpcObjectTransfer::WorkerStub(const rpc::Address &address) {
  std::string target = AddressKey(address);
  std::lock_guard<std::mutex> lock(mu_);
  auto &stub = workers_[target];
  if (!stub) stub = rpc::CoreWorkerService::NewStub(rpc::MakeChannel(target));
  return stub.get();
}

grpc::GenericStub *GrpcObjectTransfer::ChunkStub(const std::string &raylet) {
  std::lock_guard<std::mutex> lock(mu_);
  auto &channel = channels_[raylet];
  if (!channel) channel = rpc::MakeChannel(raylet);
  auto &stub = chunks_[raylet];
  if (!stub) stub = std::make_unique<grpc::GenericStub>(channel);
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
    int64_t timeout_ms, std::function<void(const Status &, const FetchedChunk &)> callback) {
  using Call = rpc::AsyncCall<grpc::ByteBuffer, grpc::ByteBuffer>;
  auto call = std::make_shared<Call>();
  rpc::FetchObjectChunkRequest request;
  request.set_object_id(id.Binary());
  request.set_offset(offset);
  request.set_length(length);
  grpc::Slice slice(request.SerializeAsString());
  call->request = grpc::ByteBuffer(&slice, 1);
  call->SetTimeoutMs(timeout_ms);
  if (!tracker_.Start(&call->context)) return;
  ChunkStub(raylet)->UnaryCall(
      &call->context, kFetchObjectChunkMethod, grpc::StubOptions(), &call->request, &call->reply,
      [this, call, callback = std::move(callback)](grpc::Status grpc_status) {
        Status status = rpc::FromGrpcStatus(grpc_status, "FetchObjectChunk");
        FetchedChunk chunk;
        uint64_t start = 0;
        if (status.ok() && !DecodeChunkReply(&call->reply, &chunk, &start)) {
          status = Status::IOError("FetchObjectChunk: a malformed reply");
        }
        // The bytes stay in the call's buffer until the pull copies them.
        chunk.copy_to = [call, start, size = chunk.size](uint8_t *dest) {
          CopyChunkBytes(&call->reply, start, size, dest);
        };
        asio::post(io_, [callback, status, chunk = std::move(chunk)] { callback(status, chunk); });
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

grpc::ServerUnaryReactor *ObjectChunkService::FetchObjectChunk(grpc::CallbackServerContext *ctx,
                                                               const grpc::ByteBuffer *request,
                                                               grpc::ByteBuffer *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  auto parsed = std::make_shared<rpc::FetchObjectChunkRequest>();
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer *>(request));
  if (!parsed->ParseFromZeroCopyStream(&reader)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed request"));
    return reactor;
  }
  asio::post(io_, [this, parsed, reply, reactor] {
    ObjectID id = ObjectID::FromBinary(parsed->object_id());
    object_store::ObjectLocation location;
    rpc::FetchObjectChunkReply header;
    if (store_.Get(id, kChunkServerClientId, &location) !=
        object_store::ObjectStore::GetResult::kFound) {
      *reply = EncodeChunkReply(header, grpc::Slice());
      reactor->Finish(grpc::Status::OK);
      return;
    }
    uint64_t total = location.data_size + location.metadata_size;
    uint64_t offset = std::min<uint64_t>(parsed->offset(), total);
    uint64_t length = std::min<uint64_t>(parsed->length(), total - offset);
    header.set_found(true);
    header.set_data_size(location.data_size);
    header.set_metadata_size(location.metadata_size);
    // The slice's destruction releases the pin taken by Get above.
    *reply = EncodeChunkReply(header, grpc::Slice(base_ + location.offset + offset, length,
                                                  &UnpinChunk, new PinnedChunk{&io_, &store_, id}));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace cyray::raylet
