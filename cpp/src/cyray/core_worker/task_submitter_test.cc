#include "cyray/core_worker/task_submitter.h"

#include <gtest/gtest.h>

#include <deque>

namespace cyray::core {

namespace {

using LeaseCallback = std::function<void(const Status &, const rpc::RequestWorkerLeaseReply &)>;
using PushCallback = std::function<void(const Status &, const rpc::PushTaskReply &)>;

class FakeLeaseClient : public LeaseClientInterface {
 public:
  void RequestWorkerLease(const std::string &raylet, const rpc::TaskSpec &spec, int64_t backlog,
                          bool grant_or_reject, LeaseCallback callback) override {
    EXPECT_EQ(spec.args_size(), 0) << "lease requests carry no arguments";
    requests.push_back(std::move(callback));
    request_raylets.push_back(raylet + (grant_or_reject ? " grant_or_reject" : ""));
  }
  void ReturnWorker(const std::string &raylet, const std::string &worker_id, bool disconnect,
                    const std::string &reason) override {
    returned.push_back({worker_id, disconnect});
    returned_to.push_back(raylet);
  }
  void GetWorkerFailureCause(const std::string &raylet, const std::string &worker_id,
                             int64_t wait_ms,
                             std::function<void(const std::string &)> callback) override {
    if (hold_failure_cause) {
      held_cause = std::move(callback);
      return;
    }
    callback(failure_cause);
  }
  void CancelWorkerLease(const std::string &raylet, const std::string &task_id,
                         const std::string &owner_id) override {
    cancelled_leases.push_back(raylet + "/" + task_id + "/" + owner_id);
  }
  std::vector<std::string> cancelled_leases;
  void AnswerFailureCause() { held_cause(failure_cause); }
  bool hold_failure_cause = false;
  std::function<void(const std::string &)> held_cause;
  // Answers the oldest pending request with a spillback to `raylet` ("host:port").
  void Spillback(const std::string &host, int port) {
    rpc::RequestWorkerLeaseReply reply;
    reply.mutable_retry_at_raylet_address()->set_ip_address(host);
    reply.mutable_retry_at_raylet_address()->set_port(port);
    auto cb = std::move(requests.front());
    requests.pop_front();
    cb(Status::OK(), reply);
  }
  void Fail() {
    auto cb = std::move(requests.front());
    requests.pop_front();
    cb(Status::IOError("unreachable"), rpc::RequestWorkerLeaseReply());
  }
  std::vector<std::string> request_raylets;
  std::vector<std::string> returned_to;
  std::string failure_cause;
  // Grants the oldest pending request with worker `name`.
  void Grant(const std::string &name) {
    rpc::RequestWorkerLeaseReply reply;
    reply.mutable_worker_address()->set_worker_id(name);
    auto cb = std::move(requests.front());
    requests.pop_front();
    cb(Status::OK(), reply);
  }
  void Reject(bool infeasible) {
    rpc::RequestWorkerLeaseReply reply;
    reply.set_infeasible(infeasible);
    reply.set_failure_message("needs {CPU: 3}");
    auto cb = std::move(requests.front());
    requests.pop_front();
    cb(Status::OK(), reply);
  }
  std::deque<LeaseCallback> requests;
  std::vector<std::pair<std::string, bool>> returned;
};

class FakeWorkers : public WorkerClientInterface {
 public:
  void PushTask(const rpc::Address &worker, std::shared_ptr<const rpc::PushTaskRequest> request,
                PushCallback callback, PushCallback on_reply_thread = nullptr) override {
    pushed.push_back({worker.worker_id(), request->task_spec().name()});
    // As the real client: the reply-thread callback first, then the other.
    callbacks.push_back(
        [callback = std::move(callback), on_reply_thread = std::move(on_reply_thread)](
            const Status &s, const rpc::PushTaskReply &r) {
          if (on_reply_thread) on_reply_thread(s, r);
          callback(s, r);
        });
  }
  void Reply(rpc::PushTaskReply reply = {}) {
    auto cb = std::move(callbacks.front());
    callbacks.pop_front();
    cb(Status::OK(), reply);
  }
  void Fail() {
    auto cb = std::move(callbacks.front());
    callbacks.pop_front();
    cb(Status::Disconnected("connection reset"), rpc::PushTaskReply());
  }
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
  std::vector<std::pair<std::string, std::string>> pushed;  // (worker, task)
  std::deque<PushCallback> callbacks;
};

rpc::TaskSpec Task(const std::string &name, int max_retries = 0, double cpus = 1) {
  rpc::TaskSpec spec;
  spec.set_name(name);
  spec.set_task_id(name);
  spec.set_max_retries(max_retries);
  spec.set_num_returns(1);
  (*spec.mutable_required_resources())["CPU"] = cpus;
  spec.mutable_function_descriptor()->set_function_id("f");
  spec.add_args()->set_data("arg");
  return spec;
}

}  // namespace

class TaskSubmitterTest : public ::testing::Test {
 protected:
  FakeLeaseClient leases_;
  FakeWorkers workers_;
  std::vector<std::string> completed_;
  std::vector<std::pair<std::string, int>> failed_;
  // Linger timers run when the test says so.
  std::vector<std::function<void()>> timers_;
  void RunTimers() {
    auto timers = std::move(timers_);
    timers_.clear();
    for (auto &t : timers) t();
  }
  NormalTaskSubmitter submitter_{
      leases_,
      workers_,
      /*max_lease_requests_in_flight=*/2,
      /*max_tasks_in_flight_per_worker=*/3,
      /*lease_idle_linger_ms=*/10,
      [this](int64_t, std::function<void()> cb) { timers_.push_back(std::move(cb)); },
      [this](const rpc::TaskSpec &spec, const rpc::PushTaskReply &) {
        completed_.push_back(spec.name());
      },
      [this](const rpc::TaskSpec &spec, int type, const std::string &) {
        failed_.push_back({spec.name(), type});
      }};
};

TEST_F(TaskSubmitterTest, LeaseIsReusedForQueuedTasksThenReturned) {
  submitter_.SubmitTask(Task("a"));
  submitter_.SubmitTask(Task("b"));
  ASSERT_EQ(leases_.requests.size(), 2u);  // capped by queue size and in-flight limit
  leases_.Grant("w1");
  ASSERT_EQ(workers_.pushed.size(), 1u);
  workers_.Reply();
  // The same worker gets the next task, without a new lease.
  ASSERT_EQ(workers_.pushed.size(), 2u);
  EXPECT_EQ(workers_.pushed[1], std::make_pair(std::string("w1"), std::string("b")));
  workers_.Reply();
  EXPECT_EQ(completed_, (std::vector<std::string>{"a", "b"}));
  // Drained: the lease lingers, then goes back.
  EXPECT_TRUE(leases_.returned.empty());
  leases_.Grant("w2");
  RunTimers();
  ASSERT_EQ(leases_.returned.size(), 2u);
  EXPECT_FALSE(leases_.returned[0].second);
  EXPECT_EQ(submitter_.NumLeasedWorkers(), 0u);
}

TEST_F(TaskSubmitterTest, LingeringLeaseServesTheNextTaskWithoutANewLease) {
  submitter_.SubmitTask(Task("a"));
  leases_.Grant("w1");
  workers_.Reply();
  ASSERT_TRUE(leases_.returned.empty());
  submitter_.SubmitTask(Task("b"));
  EXPECT_TRUE(leases_.requests.empty()) << "no new lease request";
  ASSERT_EQ(workers_.pushed.size(), 2u);
  EXPECT_EQ(workers_.pushed[1].first, "w1");
  workers_.Reply();
  RunTimers();  // the first linger timer is stale; the second returns the lease
  EXPECT_EQ(leases_.returned.size(), 1u);
}

TEST_F(TaskSubmitterTest, PipelinesOnlyWhenMoreTasksWaitThanLeasesCome) {
  for (int i = 0; i < 3; ++i) submitter_.SubmitTask(Task("t" + std::to_string(i)));
  leases_.Grant("w1");
  // 2 tasks left, 1 lease still pending: one more task rides along.
  EXPECT_EQ(workers_.pushed.size(), 2u);
  leases_.Grant("w2");
  EXPECT_EQ(workers_.pushed.size(), 3u);
  EXPECT_EQ(workers_.pushed[2].first, "w2");
}

TEST_F(TaskSubmitterTest, FewTasksAreSpreadOverWorkersNotPipelined) {
  submitter_.SubmitTask(Task("a"));
  submitter_.SubmitTask(Task("b"));
  leases_.Grant("w1");
  EXPECT_EQ(workers_.pushed.size(), 1u) << "b waits for its own lease";
  leases_.Grant("w2");
  EXPECT_EQ(workers_.pushed.back().first, "w2");
}

TEST_F(TaskSubmitterTest, PipelinedTasksOfADeadWorkerAreRetried) {
  for (int i = 0; i < 6; ++i) submitter_.SubmitTask(Task("t" + std::to_string(i), 1));
  leases_.Grant("w1");
  ASSERT_EQ(workers_.pushed.size(), 3u);
  workers_.Fail();
  workers_.Fail();
  workers_.Fail();
  EXPECT_TRUE(failed_.empty()) << "each had a retry left";
  EXPECT_EQ(leases_.returned.size(), 1u) << "returned once, disconnected";
  EXPECT_TRUE(leases_.returned[0].second);
}

TEST_F(TaskSubmitterTest, ShortTasksPipelineDeeperAndLongTasksLess) {
  int64_t now_us = 1000000;
  NormalTaskSubmitter submitter(
      leases_, workers_, /*max_lease_requests_in_flight=*/2,
      /*max_tasks_in_flight_per_worker=*/8, /*lease_idle_linger_ms=*/10,
      [](int64_t, std::function<void()>) {},
      [](const rpc::TaskSpec &, const rpc::PushTaskReply &) {},
      [](const rpc::TaskSpec &, int, const std::string &) {});
  submitter.SetClock([&] { return now_us; });
  for (int i = 0; i < 100; ++i) submitter.SubmitTask(Task("t" + std::to_string(i)));
  leases_.Grant("w1");  // a lease is still coming: the worker gets more than one
  auto in_flight = [&] { return workers_.callbacks.size(); };
  EXPECT_EQ(in_flight(), 4u) << "untimed: the default depth";
  // Tasks of 10 us: the worker may hold the most (8).
  for (int i = 0; i < 4; ++i) {
    now_us += 10;
    workers_.Reply();
  }
  EXPECT_EQ(in_flight(), 8u);
  // Tasks of 100 ms: one at a time (the average follows within a few replies).
  for (int i = 0; i < 20; ++i) {
    now_us += 100000;
    workers_.Reply();
  }
  EXPECT_EQ(in_flight(), 1u);
  // 240 us: about 1 ms of work is 5 tasks (one running, four behind it).
  for (int i = 0; i < 60; ++i) {
    now_us += 240;
    workers_.Reply();
  }
  EXPECT_EQ(in_flight(), 5u);
}

TEST_F(TaskSubmitterTest, LeaseRequestsAreCappedInFlight) {
  for (int i = 0; i < 10; ++i) submitter_.SubmitTask(Task("t" + std::to_string(i)));
  EXPECT_EQ(leases_.requests.size(), 2u);
}

TEST_F(TaskSubmitterTest, WorkerDeathRetriesThenFails) {
  submitter_.SubmitTask(Task("a", /*max_retries=*/1));
  leases_.Grant("w1");
  workers_.Fail();
  EXPECT_TRUE(leases_.returned.back().second) << "a dead worker is returned disconnected";
  EXPECT_TRUE(failed_.empty());
  leases_.Grant("w2");
  ASSERT_EQ(workers_.pushed.size(), 2u);
  EXPECT_EQ(workers_.pushed[1].first, "w2");
  workers_.Fail();
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[0].second, rpc::WORKER_DIED);
}

TEST_F(TaskSubmitterTest, RetryableApplicationErrorIsRetriedOnTheSameLease) {
  submitter_.SubmitTask(Task("a", /*max_retries=*/1));
  leases_.Grant("w1");
  rpc::PushTaskReply error;
  error.set_is_application_error(true);
  error.set_is_retryable_error(true);
  workers_.Reply(error);
  ASSERT_EQ(workers_.pushed.size(), 2u);
  workers_.Reply(error);  // retries exhausted: the error is the result
  EXPECT_EQ(completed_, std::vector<std::string>{"a"});
}

TEST_F(TaskSubmitterTest, InfeasibleLeaseFailsTheQueuedTasks) {
  submitter_.SubmitTask(Task("big", 0, 3));
  leases_.Reject(/*infeasible=*/true);
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[0].second, rpc::TASK_UNSCHEDULABLE_ERROR);
  EXPECT_EQ(submitter_.NumQueued(), 0u);
}

TEST_F(TaskSubmitterTest, ExitingWorkerIsNotReused) {
  submitter_.SubmitTask(Task("a"));
  submitter_.SubmitTask(Task("b"));
  leases_.Grant("w1");
  rpc::PushTaskReply exiting;
  exiting.set_worker_exiting(true);
  workers_.Reply(exiting);
  EXPECT_TRUE(leases_.returned.back().second);
  EXPECT_EQ(workers_.pushed.size(), 1u);
  leases_.Grant("w2");
  EXPECT_EQ(workers_.pushed.back().first, "w2");
}

TEST_F(TaskSubmitterTest, DifferentShapesUseDifferentLeases) {
  submitter_.SubmitTask(Task("small", 0, 1));
  submitter_.SubmitTask(Task("large", 0, 2));
  EXPECT_EQ(leases_.requests.size(), 2u);
}

TEST_F(TaskSubmitterTest, SpillbackAsksTheNamedRayletAndReturnsTheLeaseThere) {
  submitter_.SubmitTask(Task("a"));
  leases_.Spillback("127.0.0.2", 77);
  ASSERT_EQ(leases_.request_raylets.size(), 2u);
  EXPECT_EQ(leases_.request_raylets[0], "");
  EXPECT_EQ(leases_.request_raylets[1], "127.0.0.2:77 grant_or_reject");
  leases_.Grant("w1");
  workers_.Reply();
  RunTimers();  // the linger ends: the lease goes back where it came from
  ASSERT_EQ(leases_.returned_to.size(), 1u);
  EXPECT_EQ(leases_.returned_to[0], "127.0.0.2:77");
  EXPECT_EQ(completed_, std::vector<std::string>{"a"});
}

TEST_F(TaskSubmitterTest, UnreachableRemoteRayletSendsTheRequestBackToTheLocalOne) {
  submitter_.SubmitTask(Task("a"));
  leases_.Spillback("127.0.0.2", 77);
  leases_.Fail();
  EXPECT_TRUE(failed_.empty());
  RunTimers();
  ASSERT_EQ(leases_.request_raylets.size(), 3u);
  EXPECT_EQ(leases_.request_raylets[2], "");
  leases_.Grant("w1");
  workers_.Reply();
  EXPECT_EQ(completed_, std::vector<std::string>{"a"});
}

TEST_F(TaskSubmitterTest, LeasesParkedOnADeadNodeAreNotReused) {
  submitter_.SubmitTask(Task("a"));
  rpc::RequestWorkerLeaseReply reply;
  reply.mutable_worker_address()->set_worker_id("w1");
  reply.mutable_worker_address()->set_node_id("dead");
  auto grant = std::move(leases_.requests.front());
  leases_.requests.pop_front();
  grant(Status::OK(), reply);
  workers_.Reply();  // parked now
  submitter_.OnNodeRemoved("dead");
  EXPECT_EQ(submitter_.NumLeasedWorkers(), 0u);
  submitter_.SubmitTask(Task("b"));
  EXPECT_EQ(leases_.requests.size(), 1u) << "a new lease, not the dead node's worker";
  EXPECT_EQ(workers_.pushed.size(), 1u);
}

TEST_F(TaskSubmitterTest, TasksWithDifferentStrategiesDoNotShareLeases) {
  rpc::TaskSpec spread = Task("b");
  spread.mutable_scheduling_strategy()->set_kind(rpc::SchedulingStrategy::SPREAD);
  submitter_.SubmitTask(Task("a"));
  submitter_.SubmitTask(spread);
  EXPECT_EQ(leases_.requests.size(), 2u);
}

TEST_F(TaskSubmitterTest, CancelledQueuedTaskFailsAtOnceAndIsNeverPushed) {
  submitter_.SubmitTask(Task("a"));
  EXPECT_TRUE(submitter_.CancelTask("a", false, true));
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[0], std::make_pair(std::string("a"), static_cast<int>(rpc::TASK_CANCELLED)));
  leases_.Grant("w1");
  EXPECT_TRUE(workers_.pushed.empty());
  EXPECT_FALSE(submitter_.CancelTask("a", false, true)) << "gone already";
}

TEST_F(TaskSubmitterTest, CancellingTheLastQueuedTaskCancelsItsLeaseRequests) {
  rpc::TaskSpec a = Task("a");
  a.mutable_caller_address()->set_worker_id("owner");
  rpc::TaskSpec b = Task("b");
  b.mutable_caller_address()->set_worker_id("owner");
  submitter_.SubmitTask(a);
  submitter_.SubmitTask(b);
  ASSERT_EQ(leases_.requests.size(), 2u);  // both for the queue's head, "a"
  EXPECT_TRUE(submitter_.CancelTask("a", false, true));
  EXPECT_TRUE(leases_.cancelled_leases.empty()) << "b still needs a lease";
  EXPECT_TRUE(submitter_.CancelTask("b", false, true));
  // One cancel per (raylet, task) the pending requests name.
  EXPECT_EQ(leases_.cancelled_leases, (std::vector<std::string>{"/a/owner"}));
  // The raylet answers the requests as canceled: nothing is pushed or failed again.
  rpc::RequestWorkerLeaseReply canceled;
  canceled.set_canceled(true);
  for (auto &callback : leases_.requests) callback(Status::OK(), canceled);
  leases_.requests.clear();
  EXPECT_TRUE(workers_.pushed.empty());
  EXPECT_EQ(failed_.size(), 2u);
  EXPECT_TRUE(leases_.requests.empty()) << "no new request for an empty queue";
}

TEST_F(TaskSubmitterTest, ForceCancelledTaskIsNotRetriedWhenItsWorkerDies) {
  submitter_.SubmitTask(Task("a", /*max_retries=*/3));
  leases_.Grant("w1");
  ASSERT_EQ(workers_.pushed.size(), 1u);
  EXPECT_TRUE(submitter_.CancelTask("a", /*force_kill=*/true, /*recursive=*/false));
  ASSERT_EQ(workers_.cancels.size(), 1u);
  EXPECT_EQ(workers_.cancels[0].worker, "w1");
  EXPECT_TRUE(workers_.cancels[0].force_kill);
  EXPECT_FALSE(workers_.cancels[0].recursive);
  workers_.Fail();  // the worker killed itself
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[0].second, rpc::TASK_CANCELLED);
  EXPECT_EQ(workers_.pushed.size(), 1u) << "no retry";
  EXPECT_TRUE(leases_.requests.empty());
}

TEST_F(TaskSubmitterTest, CancelledTaskIsNotRetriedForARetryableError) {
  auto spec = Task("a", /*max_retries=*/3);
  spec.set_retry_exceptions(true);
  submitter_.SubmitTask(spec);
  leases_.Grant("w1");
  EXPECT_TRUE(submitter_.CancelTask("a", false, true));
  rpc::PushTaskReply reply;
  reply.set_is_application_error(true);
  reply.set_is_retryable_error(true);
  workers_.Reply(reply);
  EXPECT_EQ(completed_, std::vector<std::string>{"a"}) << "its error is final";
  EXPECT_EQ(workers_.pushed.size(), 1u);
}

TEST_F(TaskSubmitterTest, CancelIsSentAgainUntilTheWorkerHasTheTask) {
  submitter_.SubmitTask(Task("a"));
  leases_.Grant("w1");
  EXPECT_TRUE(submitter_.CancelTask("a", false, true));
  workers_.cancel_callbacks[0](false);  // the push had not arrived yet
  RunTimers();
  ASSERT_EQ(workers_.cancels.size(), 2u);
  workers_.Reply();  // answered meanwhile
  workers_.cancel_callbacks[1](false);
  RunTimers();
  EXPECT_EQ(workers_.cancels.size(), 2u) << "nothing left to cancel";
}

TEST_F(TaskSubmitterTest, CancelWhileItsDeadWorkersFateIsAskedStopsTheRetry) {
  submitter_.SubmitTask(Task("a", /*max_retries=*/3));
  leases_.Grant("w1");
  leases_.hold_failure_cause = true;
  workers_.Fail();  // the worker died; the submitter asks the raylet why
  EXPECT_FALSE(submitter_.CancelTask("a", false, true)) << "neither queued nor in flight";
  leases_.AnswerFailureCause();
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[0].second, rpc::TASK_CANCELLED);
  EXPECT_EQ(workers_.pushed.size(), 1u) << "not run again";
}

}  // namespace cyray::core
