// The core worker's part in moving objects between nodes: mapping a
// shared-memory object (pulled through the local raylet when another node
// holds it), the owner's object directory service, frees of remote copies and
// node deaths.
#include "cyray/core_worker/core_worker_impl.h"

namespace cyray::core {

ObjectValuePtr CoreWorker::Impl::Materialize(const ObjectID &id, const ObjectValuePtr &value,
                                             const std::string &owner_address, int64_t timeout_ms) {
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
                                  : PullToLocalStore(id, owner, &reply, timeout_ms);
    if (pulled.IsTimedOut()) return nullptr;  // the caller's own deadline passed
    if (pulled.ok() && reply.ok()) {
      buffer = plasma_->Get(id);
    } else {
      std::string why = pulled.ok() ? reply.message() : pulled.ToString();
      int error_type = rpc::OBJECT_LOST;
      if (pulled.ok() && reply.timed_out()) error_type = rpc::OBJECT_FETCH_TIMED_OUT;
      if (pulled.ok() && reply.reconstruction_failed()) {
        error_type = rpc::OBJECT_RECONSTRUCTION_FAILED;
      }
      if (pulled.ok() && reply.owner_died()) error_type = rpc::OWNER_DIED;
      return MakeErrorObject(
          error_type, "Object " + id.Hex() + " could not be fetched to this node: " + why + ".");
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
                                          rpc::PullObjectReply *reply, int64_t timeout_ms) {
  rpc::PullObjectRequest request;
  request.set_object_id(id.Binary());
  request.mutable_owner_address()->ParseFromString(owner_address);
  // 0: the raylet's own object_pull_timeout_ms (a driver that joined a
  // cluster may not share its knobs); ours only bounds how long we wait.
  request.set_timeout_ms(0);
  int64_t wait_ms = CyrayConfig::Instance().object_pull_timeout_ms() + 5000;
  bool caller_deadline = timeout_ms >= 0 && timeout_ms < wait_ms;
  if (caller_deadline) wait_ms = timeout_ms;
  grpc::ClientContext ctx;
  rpc::AttachClusterToken(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(wait_ms));
  grpc::Status status = lease_client_->Stub("")->PullObject(&ctx, request, reply);
  if (caller_deadline && status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return Status::TimedOut("the object was not fetched to this node in time");
  }
  return rpc::FromGrpcStatus(status, "PullObject");
}

void CoreWorker::Impl::FreeRemoteCopies(const ObjectID &id) {
  lineage_.OnOutOfScope(id);
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
  if (submitter_) submitter_->OnNodeRemoved(node.node_id());
  if (actor_submitter_) actor_submitter_->OnNodeRemoved(node.node_id());
  auto removal =
      object_directory_.RemoveNode(dead, [this](const ObjectID &id) { return CanRebuild(id); });
  for (const ObjectID &id : removal.lost) {
    CYRAY_LOG(WARNING) << "object " << id.Hex() << " is lost: its only copy was on node "
                       << dead.Hex() << " (" << node.ip_address()
                       << "), which died, and its task cannot run again";
  }
  for (const ObjectID &id : removal.rebuilding) Rebuild(id);
}

void CoreWorker::Impl::RecordLineage(const rpc::TaskSpec &spec, const rpc::PushTaskReply &reply) {
  // Actor calls too, as Ray: rebuilding one calls the (restarted) actor again.
  bool actor_call = spec.type() == rpc::ACTOR_TASK;
  if ((spec.type() != rpc::NORMAL_TASK && !actor_call) || spec.max_retries() == 0) return;
  std::vector<ObjectID> returns;
  for (const auto &ret : reply.return_objects()) {
    if (ret.in_plasma()) returns.push_back(ObjectID::FromBinary(ret.object_id()));
  }
  lineage_.Record(spec, returns);
}

bool CoreWorker::Impl::CanRebuild(const ObjectID &id) { return lineage_.CanRebuild(id); }

void CoreWorker::Impl::Rebuild(const ObjectID &id) {
  auto rebuild = lineage_.StartRebuild(id);
  if (!rebuild) return;  // no lineage, or its task is being rebuilt already
  auto spec = std::make_shared<rpc::TaskSpec>(std::move(rebuild->spec));
  // An actor call is rebuilt as the attempt it was: the actor lost with the
  // node fails its first push, and the submitter's resend to the restarted
  // actor counts as the retry.
  if (spec->type() != rpc::ACTOR_TASK) spec->set_attempt_number(spec->attempt_number() + 1);
  CYRAY_LOG(INFO) << "object " << id.Hex() << " was lost; running task " << spec->name()
                  << " again to rebuild it (attempt " << spec->attempt_number() << ")";
  // Arguments whose values were freed come back into scope (this task's
  // references hold them) and are rebuilt first; the task waits for them as
  // for any argument, then finds them in shared memory again.
  for (const ObjectID &arg : rebuild->args_to_rebuild) {
    reference_counter_.AddOwnedObject(arg);
    for (auto &a : *spec->mutable_args()) {
      if (a.in_plasma() && a.object_ref().object_id() == arg.Binary()) a.set_in_plasma(false);
    }
  }
  reference_counter_.AddSubmittedTaskReferences(ArgumentObjectIds(*spec));
  for (const ObjectID &arg : rebuild->args_to_rebuild) {
    if (lineage_.Has(arg)) {
      Rebuild(arg);
    } else {
      // Left scope between the check and now with no lineage of its own (a
      // put): the task fails with it rather than waiting forever.
      lifetimes_.StoreIfReferenced(
          arg,
          MakeErrorObject(rpc::OBJECT_LOST, "Object " + arg.Hex() +
                                                " was freed and cannot be made again, so task " +
                                                spec->name() +
                                                " cannot run again to rebuild "
                                                "the object lost with its node."),
          /*owned=*/true);
    }
  }
  if (spec->type() == rpc::ACTOR_TASK) {
    // A call like any other: in line after the calls made so far; it fails
    // (and the rebuild with it) if the actor is dead for good.
    std::string actor_id = spec->actor_task_spec().actor_id();
    {
      std::lock_guard<std::mutex> lock(pending_calls_mu_);
      pending_actor_calls_[actor_id]++;
    }
    asio::post(io_, [this, spec, actor_id] {
      actor_submitter_->AddActor(actor_id);
      uint64_t ticket = actor_submitter_->Enqueue(*spec);
      ResolveDependencies(spec, [this, actor_id, ticket](rpc::TaskSpec resolved) {
        actor_submitter_->MarkReady(actor_id, ticket, std::move(resolved));
      });
    });
    return;
  }
  asio::post(io_, [this, spec] {
    ResolveDependencies(
        spec, [this](rpc::TaskSpec resolved) { submitter_->SubmitTask(std::move(resolved)); });
  });
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
    case ObjectDirectory::State::kReconstructionFailed:
      reply->set_state(rpc::GetObjectLocationsReply::RECONSTRUCTION_FAILED);
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
