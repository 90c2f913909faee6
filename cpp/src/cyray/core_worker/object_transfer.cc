// The core worker's part in moving objects between nodes: mapping a
// shared-memory object (pulled through the local raylet when another node
// holds it), the owner's object directory service, frees of remote copies and
// node deaths.
#include "cyray/core_worker/core_worker_impl.h"

namespace cyray::core {

ObjectValuePtr CoreWorker::Impl::Materialize(const ObjectID &id, const ObjectValuePtr &value,
                                             const std::string &owner_address) {
  if (!value || !value->in_plasma || value->plasma) return value;
  auto buffer = plasma_->Get(id);
  if (buffer.ok() && !*buffer) {
    // Not on this node: pull it from one that has it.
    std::string owner = owner_address;
    if (owner.empty()) {
      if (reference_counter_.IsOwned(id)) {
        owner = serialized_address_;
      } else if (auto borrowed = reference_counter_.BorrowedOwnerAddress(id)) {
        owner = *borrowed;
      }
    }
    rpc::PullObjectReply reply;
    Status pulled = owner.empty() ? Status::NotFound("its owner is unknown here")
                                  : PullToLocalStore(id, owner, &reply);
    if (pulled.ok() && reply.ok()) {
      buffer = plasma_->Get(id);
    } else {
      std::string why = pulled.ok() ? reply.message() : pulled.ToString();
      return MakeErrorObject(
          rpc::OBJECT_LOST,
          "Object " + id.Hex() + " could not be fetched to this node: " + why + ".");
    }
  }
  if (!buffer.ok() || !*buffer) {
    return MakeErrorObject(rpc::OBJECT_LOST,
                           "Object " + id.Hex() + " is no longer in the shared-memory store" +
                               (buffer.ok() ? "." : ": " + buffer.status().ToString()));
  }
  auto mapped = std::make_shared<ObjectValue>();
  mapped->in_plasma = true;
  mapped->plasma = *buffer;
  mapped->nested_refs = value->nested_refs;
  return mapped;
}

Status CoreWorker::Impl::PullToLocalStore(const ObjectID &id, const std::string &owner_address,
                                          rpc::PullObjectReply *reply) {
  rpc::PullObjectRequest request;
  request.set_object_id(id.Binary());
  request.mutable_owner_address()->ParseFromString(owner_address);
  int64_t timeout_ms = CyrayConfig::Instance().object_pull_timeout_ms();
  request.set_timeout_ms(timeout_ms);
  grpc::ClientContext ctx;
  rpc::AttachClusterToken(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms + 5000));
  return rpc::FromGrpcStatus(lease_client_->Stub("")->PullObject(&ctx, request, reply),
                             "PullObject");
}

void CoreWorker::Impl::FreeRemoteCopies(const ObjectID &id) {
  std::vector<NodeID> nodes = object_directory_.Remove(id);
  using Call = rpc::AsyncCall<rpc::FreeObjectsRequest, rpc::FreeObjectsReply>;
  std::shared_ptr<Call> call;
  for (const auto &node : nodes) {
    if (node == node_id_) continue;
    if (!call) {
      call = std::make_shared<Call>();
      call->request.add_object_ids(id.Binary());
    }
    call->request.add_node_ids(node.Binary());
  }
  if (!call || !lease_client_ || !call_tracker_.Start(&call->context)) return;
  lease_client_->Stub("")->async()->FreeObjects(
      &call->context, &call->request, &call->reply,
      [this, call](grpc::Status) { call_tracker_.Done(&call->context); });
}

void CoreWorker::Impl::OnNodeRemoved(const rpc::NodeRemoved &node) {
  NodeID dead = NodeID::FromBinary(node.node_id());
  for (const ObjectID &id : object_directory_.RemoveNode(dead)) {
    CYRAY_LOG(WARNING) << "object " << id.Hex() << " is lost: its only copy was on node "
                       << dead.Hex() << " (" << node.ip_address() << "), which died";
  }
}

grpc::ServerUnaryReactor *CoreWorker::Impl::GetObjectLocations(
    grpc::CallbackServerContext *ctx, const rpc::GetObjectLocationsRequest *request,
    rpc::GetObjectLocationsReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  ObjectID id = ObjectID::FromBinary(request->object_id());
  std::vector<NodeID> nodes;
  switch (object_directory_.Locations(id, &nodes)) {
    case ObjectDirectory::State::kUnknown:
      // Owned and referenced but not made yet (its task is running): no copy yet.
      reply->set_state(reference_counter_.IsOwned(id) ? rpc::GetObjectLocationsReply::PRESENT
                                                      : rpc::GetObjectLocationsReply::OUT_OF_SCOPE);
      break;
    case ObjectDirectory::State::kPresent:
      reply->set_state(rpc::GetObjectLocationsReply::PRESENT);
      break;
    case ObjectDirectory::State::kLost:
      reply->set_state(rpc::GetObjectLocationsReply::LOST);
      break;
    case ObjectDirectory::State::kReconstructing:
      reply->set_state(rpc::GetObjectLocationsReply::RECONSTRUCTING);
      break;
  }
  for (const auto &node : nodes) reply->add_locations()->set_node_id(node.Binary());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor *CoreWorker::Impl::AddObjectLocation(
    grpc::CallbackServerContext *ctx, const rpc::AddObjectLocationRequest *request,
    rpc::AddObjectLocationReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  ObjectID id = ObjectID::FromBinary(request->object_id());
  reply->set_kept(
      reference_counter_.IsOwned(id) &&
      object_directory_.AddCopy(id, NodeID::FromBinary(request->raylet_address().node_id())));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace cyray::core
