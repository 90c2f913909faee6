#include "cyray/core_worker/actor_task_submitter.h"

#include <gtest/gtest.h>

#include <deque>

namespace cyray::core {

namespace {

using StateCallback = std::function<void(const Status &, const rpc::ActorTableData &)>;
using PushCallback = std::function<void(const Status &, const rpc::PushTaskReply &)>;

class FakeActorStates : public ActorStateSourceInterface {
 public:
  void WaitActorStateChange(const std::string &actor_id, int64_t known_version,
                            StateCallback callback) override {
    polls.push_back(std::move(callback));
  }
  // Answers the oldest outstanding poll.
  void Publish(rpc::ActorTableData::ActorState state, int64_t version,
               const std::string &worker = "w1", const std::string &cause = "",
               int max_task_retries = 0, bool out_of_order = false, const std::string &node = "") {
    rpc::ActorTableData table;
    table.mutable_address()->set_node_id(node);
    table.set_allow_out_of_order_execution(out_of_order);
    table.set_state(state);
    table.set_version(version);
    table.mutable_address()->set_worker_id(worker);
    table.set_death_cause(cause);
    table.set_max_task_retries(max_task_retries);
    ASSERT_FALSE(polls.empty());
    auto cb = std::move(polls.front());
    polls.pop_front();
    cb(Status::OK(), table);
  }
  std::deque<StateCallback> polls;
};

class FakeWorkers : public WorkerClientInterface {
 public:
  void PushTask(const rpc::Address &worker, std::shared_ptr<const rpc::PushTaskRequest> request,
                PushCallback callback, PushCallback on_reply_thread = nullptr) override {
    pushed.push_back({worker.worker_id(), request->task_spec().name(),
                      request->task_spec().actor_task_spec().sequence_number(),
                      request->task_spec().attempt_number(),
                      request->task_spec().actor_task_spec().caller_epoch()});
    // As the real client: the reply-thread callback first, then the other.
    callbacks.push_back(
        [callback = std::move(callback), on_reply_thread = std::move(on_reply_thread)](
            const Status &s, const rpc::PushTaskReply &r) {
          if (on_reply_thread) on_reply_thread(s, r);
          callback(s, r);
        });
  }
  void Reply(size_t i, bool ok = true, rpc::PushTaskReply reply = {}) {
    auto cb = std::move(callbacks[i]);
    cb(ok ? Status::OK() : Status::Disconnected("gone"), reply);
  }
  struct Push {
    std::string worker;
    std::string name;
    uint64_t seq;
    uint32_t attempt;
    uint64_t epoch;
  };
  void CancelTask(const rpc::Address &worker, const std::string &task_id, bool force_kill,
                  bool recursive, std::function<void(bool)> callback) override {
    cancels.push_back({worker.worker_id(), task_id, force_kill, recursive});
    cancel_callbacks.push_back(std::move(callback));
  }
  struct Cancel {
    std::string worker;
    std::string task_id;
    bool force_kill;
    bool recursive;
  };
  std::vector<Cancel> cancels;
  std::vector<std::function<void(bool)>> cancel_callbacks;
  std::vector<Push> pushed;
  std::vector<PushCallback> callbacks;
};

rpc::TaskSpec Call(const std::string &name) {
  rpc::TaskSpec spec;
  spec.set_name(name);
  spec.set_task_id(name);
  spec.set_num_returns(1);
  spec.mutable_actor_task_spec()->set_actor_id("actor");
  return spec;
}

}  // namespace

class ActorTaskSubmitterTest : public ::testing::Test {
 protected:
  uint64_t Submit(const std::string &name, bool ready = true) {
    uint64_t ticket = submitter_.Enqueue(Call(name));
    if (ready) submitter_.MarkReady("actor", ticket, Call(name));
    return ticket;
  }
  FakeActorStates states_;
  FakeWorkers workers_;
  std::vector<std::string> completed_;
  std::vector<std::pair<std::string, std::string>> failed_;  // (name, message)
  std::vector<int> failed_types_;
  std::vector<std::function<void()>> timers_;
  ActorTaskSubmitter submitter_{
      workers_, states_,
      [this](int64_t, std::function<void()> callback) { timers_.push_back(std::move(callback)); },
      [this](const rpc::TaskSpec &spec, const rpc::PushTaskReply &) {
        completed_.push_back(spec.name());
      },
      [this](const rpc::TaskSpec &spec, int type, const std::string &message) {
        failed_.push_back({spec.name(), message});
        failed_types_.push_back(type);
      }};
};

TEST_F(ActorTaskSubmitterTest, CallsWaitForTheActorThenGoInOrder) {
  submitter_.AddActor("actor");
  Submit("a");
  Submit("b");
  EXPECT_TRUE(workers_.pushed.empty());
  states_.Publish(rpc::ActorTableData::ALIVE, 1);
  ASSERT_EQ(workers_.pushed.size(), 2u);
  EXPECT_EQ(workers_.pushed[0].seq, 0u);
  EXPECT_EQ(workers_.pushed[1].seq, 1u);
  workers_.Reply(1);
  workers_.Reply(0);
  EXPECT_EQ(completed_, (std::vector<std::string>{"b", "a"}));
}

TEST_F(ActorTaskSubmitterTest, ACallWaitingForArgumentsHoldsBackLaterCalls) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1);
  uint64_t first = Submit("slow_args", /*ready=*/false);
  Submit("quick");
  EXPECT_TRUE(workers_.pushed.empty());
  submitter_.MarkReady("actor", first, Call("slow_args"));
  ASSERT_EQ(workers_.pushed.size(), 2u);
  EXPECT_EQ(workers_.pushed[0].name, "slow_args");
  EXPECT_EQ(workers_.pushed[1].name, "quick");
}

TEST_F(ActorTaskSubmitterTest, DeadActorFailsEverythingWithItsCause) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1);
  Submit("in_flight");
  states_.Publish(rpc::ActorTableData::DEAD, 2, "w1", "killed by test");
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[0].second, "killed by test");
  Submit("later");
  ASSERT_EQ(failed_.size(), 2u);
  EXPECT_TRUE(submitter_.IsDead("actor"));
  EXPECT_EQ(workers_.pushed.size(), 1u);
}

TEST_F(ActorTaskSubmitterTest, RestartResendsRetryableCallsRenumberedFromZero) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1, "w1", "", /*max_task_retries=*/1);
  Submit("a");
  Submit("b");
  workers_.Reply(0, /*ok=*/false);  // the actor died
  Submit("c");                      // waits: the actor is not known alive
  EXPECT_EQ(workers_.pushed.size(), 2u);
  states_.Publish(rpc::ActorTableData::RESTARTING, 2, "w1", "", 1);
  states_.Publish(rpc::ActorTableData::ALIVE, 3, "w2", "", 1);
  ASSERT_EQ(workers_.pushed.size(), 5u);
  EXPECT_EQ(workers_.pushed[2].worker, "w2");
  EXPECT_EQ(workers_.pushed[2].name, "a");
  EXPECT_EQ(workers_.pushed[2].seq, 0u);
  EXPECT_EQ(workers_.pushed[2].attempt, 1u);
  EXPECT_EQ(workers_.pushed[3].name, "b");
  EXPECT_EQ(workers_.pushed[4].name, "c");
  EXPECT_EQ(workers_.pushed[4].seq, 2u);
  // A late successful reply from the old incarnation is a real result: it
  // completes the call, and the resent attempt's reply does not complete it again.
  workers_.Reply(1, /*ok=*/true);
  EXPECT_EQ(completed_, std::vector<std::string>{"b"});
  workers_.Reply(3, /*ok=*/true);
  EXPECT_EQ(completed_, std::vector<std::string>{"b"});
}

TEST_F(ActorTaskSubmitterTest, RestartFailsCallsWithoutRetries) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1, "w1", "", /*max_task_retries=*/0);
  Submit("a");
  workers_.Reply(0, /*ok=*/false);
  states_.Publish(rpc::ActorTableData::ALIVE, 2, "w2");
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[0].first, "a");
  EXPECT_EQ(workers_.pushed.size(), 1u);
}

}  // namespace cyray::core

namespace cyray::core {

TEST_F(ActorTaskSubmitterTest, FailAllFailsInFlightPendingAndLaterCallsOnce) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1);
  Submit("in_flight");
  Submit("waiting_for_args", /*ready=*/false);
  submitter_.FailAll(rpc::LOCAL_RAYLET_DIED, "raylet gone");
  ASSERT_EQ(failed_.size(), 2u);
  EXPECT_EQ(failed_[0].second, "raylet gone");
  // The push failing later, or a late reply, changes nothing.
  workers_.Reply(0, /*ok=*/false);
  Submit("later");
  ASSERT_EQ(failed_.size(), 3u);
  EXPECT_EQ(failed_[2].first, "later");
  EXPECT_TRUE(completed_.empty());
  EXPECT_EQ(workers_.pushed.size(), 1u);
}

TEST_F(ActorTaskSubmitterTest, UnreachableLiveActorFailsCallsAsUnavailableAndMovesOn) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1);
  Submit("lost");
  workers_.Reply(0, /*ok=*/false);  // the push failed; the GCS reports no change
  Submit("later");
  EXPECT_EQ(workers_.pushed.size(), 1u);  // held while the actor's fate is unknown
  ASSERT_FALSE(timers_.empty());
  timers_.back()();
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[0].first, "lost");
  EXPECT_EQ(failed_types_[0], rpc::ACTOR_UNAVAILABLE);
  // Later calls go out numbered afresh, so the actor does not wait for "lost".
  ASSERT_EQ(workers_.pushed.size(), 2u);
  EXPECT_EQ(workers_.pushed[1].name, "later");
  EXPECT_EQ(workers_.pushed[1].seq, 0u);
  EXPECT_EQ(workers_.pushed[1].epoch, 1u);
  workers_.Reply(1);
  EXPECT_EQ(completed_, (std::vector<std::string>{"later"}));
}

TEST_F(ActorTaskSubmitterTest, UnreachableTimerIsIgnoredOnceTheGcsReportedAChange) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1);
  Submit("in_flight");
  workers_.Reply(0, /*ok=*/false);
  states_.Publish(rpc::ActorTableData::DEAD, 2, "w1", "it died");
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_types_[0], rpc::ACTOR_DIED);
  timers_.back()();
  EXPECT_EQ(failed_.size(), 1u);
}

TEST_F(ActorTaskSubmitterTest, CancelledCallNotSentFailsAtOnceAndLaterCallsGo) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1);
  uint64_t slow = Submit("slow_args", /*ready=*/false);
  Submit("next");
  EXPECT_TRUE(submitter_.CancelTask("actor", "slow_args", true));
  ASSERT_EQ(failed_types_, std::vector<int>{rpc::TASK_CANCELLED});
  EXPECT_TRUE(workers_.cancels.empty()) << "the actor never had it";
  ASSERT_EQ(workers_.pushed.size(), 1u);
  EXPECT_EQ(workers_.pushed[0].name, "next");
  EXPECT_EQ(workers_.pushed[0].seq, 0u) << "no gap in the numbering";
  submitter_.MarkReady("actor", slow, Call("slow_args"));  // its arguments came late
  EXPECT_EQ(workers_.pushed.size(), 1u);
  EXPECT_FALSE(submitter_.CancelTask("actor", "unknown", true));
}

TEST_F(ActorTaskSubmitterTest, CancelledCallInFlightIsAskedForAndNotResentAfterRestart) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1, "w1", "", /*max_task_retries=*/-1);
  Submit("a");
  Submit("b");
  EXPECT_TRUE(submitter_.CancelTask("actor", "a", false));
  ASSERT_EQ(workers_.cancels.size(), 1u);
  EXPECT_EQ(workers_.cancels[0].worker, "w1");
  EXPECT_FALSE(workers_.cancels[0].force_kill);
  // The actor has not got it yet: asked again after a delay.
  workers_.cancel_callbacks[0](false);
  ASSERT_EQ(timers_.size(), 1u);
  timers_[0]();
  EXPECT_EQ(workers_.cancels.size(), 2u);
  // It dies and comes back: b is resent, the cancelled a fails.
  workers_.Reply(0, /*ok=*/false);
  states_.Publish(rpc::ActorTableData::ALIVE, 2, "w2", "", -1);
  ASSERT_EQ(failed_types_, std::vector<int>{rpc::TASK_CANCELLED});
  EXPECT_EQ(failed_[0].first, "a");
  ASSERT_EQ(workers_.pushed.size(), 3u);
  EXPECT_EQ(workers_.pushed[2].name, "b");
}

TEST_F(ActorTaskSubmitterTest, RetryableErrorRunsAgainWithinTheCallsOwnRetries) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1, "w1", "", /*max_task_retries=*/0);
  rpc::TaskSpec spec = Call("flaky");
  spec.set_max_retries(1);  // its own, overriding the actor's 0
  spec.mutable_actor_task_spec()->set_max_retries_set(true);
  uint64_t ticket = submitter_.Enqueue(spec);
  submitter_.MarkReady("actor", ticket, spec);
  rpc::PushTaskReply error;
  error.set_is_application_error(true);
  error.set_is_retryable_error(true);
  workers_.Reply(0, true, error);
  ASSERT_EQ(workers_.pushed.size(), 2u) << "run again";
  EXPECT_EQ(workers_.pushed[1].attempt, 1u);
  EXPECT_EQ(workers_.pushed[1].seq, 1u);
  EXPECT_TRUE(completed_.empty());
  workers_.Reply(1, true, error);  // no retries left: the error is its result
  EXPECT_EQ(completed_, std::vector<std::string>{"flaky"});
  EXPECT_EQ(workers_.pushed.size(), 2u);
  // A call without its own limit follows the actor's (0): no retry.
  Submit("plain");
  workers_.Reply(2, true, error);
  EXPECT_EQ(completed_.size(), 2u);
  EXPECT_EQ(workers_.pushed.size(), 3u);
}

TEST_F(ActorTaskSubmitterTest, OutOfOrderActorGetsReadyCallsPastOnesStillResolving) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1, "w1", "", 0, /*out_of_order=*/true);
  uint64_t slow = Submit("slow_args", /*ready=*/false);
  Submit("quick");
  ASSERT_EQ(workers_.pushed.size(), 1u);
  EXPECT_EQ(workers_.pushed[0].name, "quick");
  submitter_.MarkReady("actor", slow, Call("slow_args"));
  ASSERT_EQ(workers_.pushed.size(), 2u);
  EXPECT_EQ(workers_.pushed[1].name, "slow_args");
}

TEST_F(ActorTaskSubmitterTest, NothingIsSentToAnIncarnationWhoseNodeDied) {
  submitter_.AddActor("actor");
  states_.Publish(rpc::ActorTableData::ALIVE, 1, "w1", "", /*max_task_retries=*/1, false, "n1");
  submitter_.OnNodeRemoved("n2");  // another node: no change
  Submit("a");
  ASSERT_EQ(workers_.pushed.size(), 1u);
  submitter_.OnNodeRemoved("n1");
  Submit("b");
  EXPECT_EQ(workers_.pushed.size(), 1u);  // b waits: w1 died with n1
  states_.Publish(rpc::ActorTableData::ALIVE, 2, "w2", "", 1, false, "n3");
  ASSERT_EQ(workers_.pushed.size(), 3u);
  EXPECT_EQ(workers_.pushed[1].worker, "w2");
  EXPECT_EQ(workers_.pushed[1].name, "a");  // resent to the new incarnation
  EXPECT_EQ(workers_.pushed[2].worker, "w2");
  EXPECT_EQ(workers_.pushed[2].name, "b");
}

}  // namespace cyray::core
