#include "cyray/raylet/pull_manager.h"

#include <algorithm>
#include <cstring>

#include "cyray/common/logging.h"

namespace cyray::raylet {

namespace {
// How often a pull asks the owner again while it knows no copy.
constexpr int64_t kOwnerRetryDelayMs = 100;
// The longest one chunk may take.
constexpr int64_t kChunkTimeoutMs = 60000;
}  // namespace

PullManager::PullManager(const ClusterView &view, ObjectTransferInterface &transfer,
                         PullTargetInterface &store, ScheduleAfter schedule_after, Clock now_ms,
                         uint64_t chunk_size, int max_chunks_in_flight)
    : view_(view),
      transfer_(transfer),
      store_(store),
      schedule_after_(std::move(schedule_after)),
      now_ms_(std::move(now_ms)),
      chunk_size_(std::max<uint64_t>(1, chunk_size)),
      max_chunks_in_flight_(std::max(1, max_chunks_in_flight)) {}

void PullManager::Pull(const ObjectID &id, const rpc::Address &owner, int64_t timeout_ms,
                       Callback callback) {
  if (store_.ContainsSealed(id)) {
    callback(PullResult{true, false, ""});
    return;
  }
  auto it = pulls_.find(id);
  if (it != pulls_.end()) {
    it->second->callbacks.push_back(std::move(callback));
    it->second->deadline_ms = std::max(it->second->deadline_ms, now_ms_() + timeout_ms);
    return;
  }
  auto pull = std::make_shared<ActivePull>();
  pull->id = id;
  pull->owner = owner;
  pull->deadline_ms = now_ms_() + timeout_ms;
  pull->callbacks.push_back(std::move(callback));
  pulls_[id] = pull;
  AskOwner(pull);
}

void PullManager::AskOwner(const PullPtr &pull) {
  transfer_.GetObjectLocations(
      pull->owner, pull->id,
      [this, pull](const Status &status, const rpc::GetObjectLocationsReply &reply) {
        if (pulls_.count(pull->id) == 0 || pulls_[pull->id] != pull) return;
        if (!status.ok()) {
          PullResult failed{false, false,
                            "its owner (worker at " + pull->owner.ip_address() + ":" +
                                std::to_string(pull->owner.port()) +
                                ") is unreachable: " + status.message()};
          // A refused connection means the owner's process is gone; so does
          // its node's death. A slow owner (timeout) is not called dead.
          const NodeView *owner_node = view_.Find(NodeID::FromBinary(pull->owner.node_id()));
          failed.owner_died =
              status.IsDisconnected() || (owner_node != nullptr && !owner_node->alive);
          Finish(pull, failed);
          return;
        }
        switch (reply.state()) {
          case rpc::GetObjectLocationsReply::OUT_OF_SCOPE:
            Finish(pull, {false, false, "its owner freed it"});
            return;
          case rpc::GetObjectLocationsReply::LOST:
            Finish(pull, {false, true, "every copy was on nodes that died"});
            return;
          case rpc::GetObjectLocationsReply::RECONSTRUCTION_FAILED: {
            PullResult failed{false, true,
                              "every copy was on nodes that died, and running its task again "
                              "to rebuild it failed"};
            failed.reconstruction_failed = true;
            Finish(pull, failed);
            return;
          }
          default:
            break;
        }
        pull->holders.clear();
        for (const auto &location : reply.locations()) {
          NodeID node = NodeID::FromBinary(location.node_id());
          if (node == view_.local_node_id()) continue;
          const NodeView *holder = view_.Find(node);
          if (holder != nullptr && holder->alive) pull->holders.push_back(node);
        }
        pull->source = 0;
        if (store_.ContainsSealed(pull->id)) {
          Finish(pull, {true, false, ""});
        } else if (pull->holders.empty()) {
          Retry(pull, "no alive node holds it yet");
        } else {
          pull->attempt++;
          RequestChunks(pull);
        }
      });
}

void PullManager::Retry(const PullPtr &pull, const std::string &why) {
  if (now_ms_() >= pull->deadline_ms) {
    Finish(pull, {false, false, "timed out: " + why, /*timed_out=*/true});
    return;
  }
  schedule_after_(kOwnerRetryDelayMs, [this, pull] {
    auto it = pulls_.find(pull->id);
    if (it != pulls_.end() && it->second == pull) AskOwner(pull);
  });
}

void PullManager::TryNextHolder(const PullPtr &pull, const std::string &why) {
  const NodeView *holder =
      pull->source < pull->holders.size() ? view_.Find(pull->holders[pull->source]) : nullptr;
  CYRAY_LOG(INFO) << "pull of " << pull->id.Hex() << " from "
                  << (holder ? holder->Address() : std::string("?")) << " failed: " << why;
  pull->attempt++;
  pull->source++;
  pull->next_offset = 0;
  pull->received = 0;
  // A created allocation is kept: the next holder's chunks land in the same place.
  pull->in_flight = 0;
  if (pull->source >= pull->holders.size()) {
    Retry(pull, why);
    return;
  }
  RequestChunks(pull);
}

void PullManager::RequestChunks(const PullPtr &pull) {
  const NodeView *holder = view_.Find(pull->holders[pull->source]);
  if (holder == nullptr || !holder->alive) {
    TryNextHolder(pull, "its node is not alive");
    return;
  }
  std::string address = holder->Address();
  // The first chunk also says how big the object is; the rest follow once known.
  bool sizes_known = pull->created;
  while (pull->in_flight < (sizes_known ? max_chunks_in_flight_ : 1) &&
         (!sizes_known || pull->next_offset < pull->total_size)) {
    uint64_t offset = pull->next_offset;
    uint64_t length = sizes_known ? std::min(chunk_size_, pull->total_size - offset) : chunk_size_;
    pull->next_offset += length;
    pull->in_flight++;
    uint64_t attempt = pull->attempt;
    // A holder that accepts connections but never answers (a hung raylet)
    // must not hold the pull past its deadline.
    int64_t timeout_ms = std::clamp<int64_t>(pull->deadline_ms - now_ms_(), 100, kChunkTimeoutMs);
    transfer_.FetchObjectChunk(
        address, pull->id, offset, length, timeout_ms,
        [this, pull, attempt, offset](const Status &status, const FetchedChunk &chunk) {
          OnChunk(pull, attempt, offset, status, chunk);
        });
    if (!sizes_known) break;
  }
}

void PullManager::OnChunk(const PullPtr &pull, uint64_t attempt, uint64_t offset,
                          const Status &status, const FetchedChunk &chunk) {
  auto it = pulls_.find(pull->id);
  if (it == pulls_.end() || it->second != pull || attempt != pull->attempt) return;
  pull->in_flight--;
  if (!status.ok() || !chunk.found) {
    TryNextHolder(pull, status.ok() ? "the node no longer has it" : status.message());
    return;
  }
  uint64_t total = chunk.data_size + chunk.metadata_size;
  if (!pull->created) {
    Status s = store_.Create(pull->id, chunk.data_size, chunk.metadata_size, &pull->dest);
    if (!s.ok()) {
      if (store_.ContainsSealed(pull->id)) {
        Finish(pull, {true, false, ""});
      } else {
        Finish(pull, {false, false, "no room in this node's object store: " + s.message()});
      }
      return;
    }
    pull->created = true;
    pull->total_size = total;
  } else if (total != pull->total_size) {
    TryNextHolder(pull, "the holder's copy has another size");
    return;
  }
  if (offset + chunk.size > pull->total_size) {
    TryNextHolder(pull, "a chunk beyond the object's end");
    return;
  }
  if (chunk.size > 0) chunk.copy_to(pull->dest + offset);
  pull->received += chunk.size;
  if (pull->received >= pull->total_size) {
    Status sealed = store_.Seal(pull->id);
    if (!sealed.ok()) {
      Finish(pull, {false, false, "could not seal the pulled copy: " + sealed.message()});
      return;
    }
    ObjectID id = pull->id;
    transfer_.AddObjectLocation(pull->owner, id, [this, id](bool kept) {
      // Freed meanwhile: the owner will not free this copy, so drop it now.
      if (!kept) store_.Delete(id);
    });
    Finish(pull, {true, false, ""});
    return;
  }
  RequestChunks(pull);
}

void PullManager::OnNodeRemoved(const NodeID &node) {
  std::vector<PullPtr> affected;
  for (const auto &[id, pull] : pulls_) {
    if (pull->source < pull->holders.size() && pull->holders[pull->source] == node) {
      affected.push_back(pull);
    }
  }
  for (const auto &pull : affected) TryNextHolder(pull, "its node died");
}

void PullManager::FailAll(const std::string &why) {
  std::vector<PullPtr> all;
  for (const auto &[id, pull] : pulls_) all.push_back(pull);
  for (const auto &pull : all) Finish(pull, {false, false, why});
}

void PullManager::Finish(const PullPtr &pull, PullResult result) {
  pulls_.erase(pull->id);
  if (!result.ok && pull->created && !store_.ContainsSealed(pull->id)) store_.Delete(pull->id);
  for (auto &callback : pull->callbacks) callback(result);
}

}  // namespace cyray::raylet
