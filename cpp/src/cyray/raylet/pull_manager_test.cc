#include "cyray/raylet/pull_manager.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <map>

namespace cyray::raylet {
namespace {

// Holders' objects by raylet address; calls answered when the test says so.
class FakeTransfer : public ObjectTransferInterface {
 public:
  void GetObjectLocations(
      const rpc::Address &, const ObjectID &,
      std::function<void(const Status &, const rpc::GetObjectLocationsReply &)> cb) override {
    location_queries++;
    cb(location_status, locations);
  }
  void FetchObjectChunk(const std::string &raylet, const ObjectID &, uint64_t offset,
                        uint64_t length, int64_t timeout_ms,
                        std::function<void(const Status &, const FetchedChunk &)> cb) override {
    fetches.push_back({raylet, offset});
    timeouts.push_back(timeout_ms);
    pending.push_back([this, raylet, offset, length, cb] {
      FetchedChunk chunk;
      auto it = objects.find(raylet);
      if (it == objects.end()) return cb(Status::IOError("unreachable"), chunk);
      chunk.found = true;
      chunk.data_size = it->second.size();
      std::string bytes = it->second.substr(offset, length);
      chunk.size = bytes.size();
      chunk.copy_to = [bytes](uint8_t *dest) { std::memcpy(dest, bytes.data(), bytes.size()); };
      cb(Status::OK(), chunk);
    });
  }
  void AddObjectLocation(const rpc::Address &, const ObjectID &,
                         std::function<void(bool)> cb) override {
    added++;
    cb(true);
  }
  void AnswerAll() {
    while (!pending.empty()) {
      auto next = std::move(pending.front());
      pending.pop_front();
      next();
    }
  }
  rpc::GetObjectLocationsReply locations;
  Status location_status;
  std::map<std::string, std::string> objects;
  std::vector<std::pair<std::string, uint64_t>> fetches;
  std::vector<int64_t> timeouts;
  std::deque<std::function<void()>> pending;
  int location_queries = 0;
  int added = 0;
};

class FakeStore : public PullTargetInterface {
 public:
  bool ContainsSealed(const ObjectID &) override { return sealed; }
  Status Create(const ObjectID &, uint64_t data_size, uint64_t metadata_size,
                uint8_t **dest) override {
    creates++;
    buffer.assign(data_size + metadata_size, '\0');
    *dest = reinterpret_cast<uint8_t *>(&buffer[0]);
    return Status::OK();
  }
  Status Seal(const ObjectID &) override {
    sealed = true;
    return Status::OK();
  }
  void Delete(const ObjectID &) override { deleted++; }
  bool sealed = false;
  int creates = 0;
  int deleted = 0;
  std::string buffer;
};

class PullManagerTest : public ::testing::Test {
 protected:
  PullManagerTest() {
    for (int i = 0; i < 2; i++) {
      NodeView node;
      node.node_id = holders_[i];
      node.ip_address = "10.0.0." + std::to_string(i + 1);
      node.port = 7;
      view_.Upsert(node);
    }
  }
  void Locate(std::vector<int> holders) {
    transfer_.locations.Clear();
    for (int i : holders) transfer_.locations.add_locations()->set_node_id(holders_[i].Binary());
  }
  PullManager::Callback Record() {
    return [this](const PullResult &r) { results_.push_back(r); };
  }

  NodeID holders_[2] = {NodeID::FromRandom(), NodeID::FromRandom()};
  ClusterView view_{NodeID::FromRandom()};
  FakeTransfer transfer_;
  FakeStore store_;
  std::vector<std::function<void()>> timers_;
  int64_t now_ = 0;
  PullManager pulls_{view_,
                     transfer_,
                     store_,
                     [this](int64_t delay, std::function<void()> cb) {
                       now_ += delay;
                       timers_.push_back(std::move(cb));
                     },
                     [this] { return now_; },
                     /*chunk_size=*/4,
                     /*max_chunks_in_flight=*/2};
  ObjectID id_ = ObjectID::FromIndex(TaskID::FromRandom(), 1);
  std::vector<PullResult> results_;
};

TEST_F(PullManagerTest, PullsInChunksAndSealsAndTellsTheOwner) {
  Locate({0});
  transfer_.objects["10.0.0.1:7"] = "0123456789";
  pulls_.Pull(id_, rpc::Address(), 1000, Record());
  transfer_.AnswerAll();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_TRUE(results_[0].ok);
  EXPECT_EQ(store_.buffer, "0123456789");
  EXPECT_TRUE(store_.sealed);
  EXPECT_EQ(transfer_.fetches.size(), 3u);  // 4 + 4 + 2 bytes
  EXPECT_EQ(transfer_.added, 1);
}

TEST_F(PullManagerTest, ConcurrentRequestsShareOnePull) {
  Locate({0});
  transfer_.objects["10.0.0.1:7"] = "abc";
  pulls_.Pull(id_, rpc::Address(), 1000, Record());
  pulls_.Pull(id_, rpc::Address(), 1000, Record());
  transfer_.AnswerAll();
  EXPECT_EQ(results_.size(), 2u);
  EXPECT_EQ(store_.creates, 1);
  EXPECT_EQ(transfer_.location_queries, 1);
}

TEST_F(PullManagerTest, AFailedHolderIsReplacedByTheNext) {
  Locate({0, 1});
  transfer_.objects["10.0.0.2:7"] = "0123456789";  // the first holder is unreachable
  pulls_.Pull(id_, rpc::Address(), 1000, Record());
  transfer_.AnswerAll();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_TRUE(results_[0].ok);
  EXPECT_EQ(store_.buffer, "0123456789");
}

TEST_F(PullManagerTest, LostObjectFailsAtOnce) {
  transfer_.locations.set_state(rpc::GetObjectLocationsReply::LOST);
  pulls_.Pull(id_, rpc::Address(), 1000, Record());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_FALSE(results_[0].ok);
  EXPECT_TRUE(results_[0].lost);
}

TEST_F(PullManagerTest, WaitsForACopyUntilTheDeadline) {
  Locate({});
  pulls_.Pull(id_, rpc::Address(), 250, Record());
  EXPECT_TRUE(results_.empty());
  // The copy appears: the next query finds it.
  Locate({1});
  transfer_.objects["10.0.0.2:7"] = "xy";
  auto timers = std::move(timers_);
  for (auto &t : timers) t();
  // A chunk may take no longer than the pull has left (a hung holder).
  ASSERT_FALSE(transfer_.timeouts.empty());
  EXPECT_LE(transfer_.timeouts.back(), 250);
  EXPECT_GE(transfer_.timeouts.back(), 100);
  transfer_.AnswerAll();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_TRUE(results_[0].ok);
  // With nothing ever appearing, it gives up at the deadline.
  ObjectID other = ObjectID::FromIndex(TaskID::FromRandom(), 1);
  store_.sealed = false;
  Locate({});
  pulls_.Pull(other, rpc::Address(), 250, Record());
  for (int i = 0; i < 5 && results_.size() < 2; i++) {
    auto pending = std::move(timers_);
    for (auto &t : pending) t();
  }
  ASSERT_EQ(results_.size(), 2u);
  EXPECT_FALSE(results_[1].ok);
  EXPECT_NE(results_[1].message.find("timed out"), std::string::npos);
  EXPECT_TRUE(results_[1].timed_out);
}

}  // namespace
}  // namespace cyray::raylet

namespace cyray::raylet {
namespace {

TEST_F(PullManagerTest, AnOwnerThatRefusesConnectionsDied) {
  transfer_.location_status = Status::Disconnected("connection refused");
  pulls_.Pull(id_, rpc::Address(), 1000, Record());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_FALSE(results_[0].ok);
  EXPECT_TRUE(results_[0].owner_died);
}

TEST_F(PullManagerTest, AnOwnerOnADeadNodeDied) {
  NodeView owner_node;
  owner_node.node_id = NodeID::FromRandom();
  owner_node.alive = false;
  view_.Upsert(owner_node);
  rpc::Address owner;
  owner.set_node_id(owner_node.node_id.Binary());
  transfer_.location_status = Status::TimedOut("deadline exceeded");
  pulls_.Pull(id_, owner, 1000, Record());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_TRUE(results_[0].owner_died);
}

TEST_F(PullManagerTest, ASlowOwnerIsNotCalledDead) {
  transfer_.location_status = Status::TimedOut("deadline exceeded");
  pulls_.Pull(id_, rpc::Address(), 1000, Record());
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_FALSE(results_[0].ok);
  EXPECT_FALSE(results_[0].owner_died);
}

}  // namespace
}  // namespace cyray::raylet
