#include "cyray/core_worker/task_event_buffer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace cyray::core {
namespace {

rpc::TaskSpec Spec(const std::string &task_id, uint32_t attempt = 0) {
  rpc::TaskSpec spec;
  spec.set_task_id(task_id);
  spec.set_job_id("job1");
  spec.set_attempt_number(attempt);
  spec.set_type(rpc::NORMAL_TASK);
  spec.set_name("f");
  spec.mutable_function_descriptor()->set_module_name("mod");
  spec.mutable_function_descriptor()->set_function_name("f");
  (*spec.mutable_required_resources())["CPU"] = 1;
  return spec;
}

struct Sent {
  std::mutex mu;
  std::vector<rpc::AddTaskEventDataRequest> requests;
  Status next_status = Status::OK();
  TaskEventBuffer::Sender Sender() {
    return [this](const rpc::AddTaskEventDataRequest &request) {
      std::lock_guard<std::mutex> lock(mu);
      requests.push_back(request);
      return next_status;
    };
  }
};

TEST(TaskEventBufferTest, OneEntryPerAttemptWithItsStatesInOrder) {
  Sent sent;
  TaskEventBuffer buffer(100, sent.Sender());
  buffer.SetReporter("owner", "node");
  buffer.RecordSubmitted(Spec("t1"), rpc::PENDING_ARGS_AVAIL);
  buffer.Record(Spec("t1"), rpc::PENDING_NODE_ASSIGNMENT);
  TaskStatusDetail where;
  where.node_id = "n1";
  where.worker_id = "w1";
  where.worker_pid = 42;
  buffer.Record(Spec("t1"), rpc::SUBMITTED_TO_WORKER, where);
  buffer.Record(Spec("t1", 1), rpc::PENDING_NODE_ASSIGNMENT);
  EXPECT_EQ(buffer.NumBuffered(), 4u);
  ASSERT_TRUE(buffer.Flush());
  ASSERT_EQ(sent.requests.size(), 1u);
  const auto &request = sent.requests[0];
  EXPECT_EQ(request.job_id(), "job1");
  EXPECT_EQ(request.reporter_worker_id(), "owner");
  EXPECT_EQ(request.reporter_node_id(), "node");
  ASSERT_EQ(request.events_size(), 2);
  for (const auto &entry : request.events()) {
    EXPECT_EQ(entry.task_id(), "t1");
    if (entry.attempt_number() == 0) {
      EXPECT_EQ(entry.task_info().func_or_class_name(), "mod.f");
      EXPECT_EQ(entry.task_info().required_resources().at("CPU"), 1);
      ASSERT_EQ(entry.state_updates_size(), 3);
      EXPECT_EQ(entry.state_updates(0).status(), rpc::PENDING_ARGS_AVAIL);
      EXPECT_EQ(entry.state_updates(2).status(), rpc::SUBMITTED_TO_WORKER);
      EXPECT_EQ(entry.state_updates(2).worker_pid(), 42);
      EXPECT_LE(entry.state_updates(0).timestamp_ns(), entry.state_updates(2).timestamp_ns());
    } else {
      EXPECT_FALSE(entry.has_task_info());
      EXPECT_EQ(entry.state_updates_size(), 1);
    }
  }
  EXPECT_EQ(buffer.NumBuffered(), 0u);
  EXPECT_FALSE(buffer.Flush());  // nothing new
}

TEST(TaskEventBufferTest, DisabledTasksRecordNothing) {
  Sent sent;
  TaskEventBuffer buffer(100, sent.Sender());
  rpc::TaskSpec spec = Spec("t1");
  spec.set_disable_task_events(true);
  buffer.RecordSubmitted(spec, rpc::PENDING_ARGS_AVAIL);
  buffer.Record(spec, rpc::RUNNING);
  EXPECT_EQ(buffer.NumBuffered(), 0u);
  EXPECT_FALSE(buffer.Flush());
}

TEST(TaskEventBufferTest, FullBufferDropsNewEventsAndReportsTheCount) {
  Sent sent;
  TaskEventBuffer buffer(3, sent.Sender());
  buffer.Record(Spec("a"), rpc::RUNNING);
  buffer.Record(Spec("b"), rpc::RUNNING);
  buffer.Record(Spec("a"), rpc::FINISHED);
  buffer.Record(Spec("c"), rpc::RUNNING);  // dropped
  EXPECT_EQ(buffer.NumBuffered(), 3u);
  EXPECT_EQ(buffer.NumDroppedTotal(), 1);
  ASSERT_TRUE(buffer.Flush());
  EXPECT_EQ(sent.requests[0].events_size(), 2);  // a (2 updates) and b
  EXPECT_EQ(sent.requests[0].num_dropped(), 1);
  buffer.Record(Spec("c"), rpc::FINISHED);  // room again
  ASSERT_TRUE(buffer.Flush());
  EXPECT_EQ(sent.requests[1].num_dropped(), 0);
  EXPECT_EQ(sent.requests[1].events_size(), 1);
}

TEST(TaskEventBufferTest, AFailedSendCountsItsEventsAsDropped) {
  Sent sent;
  sent.next_status = Status::IOError("gcs down");
  TaskEventBuffer buffer(10, sent.Sender());
  buffer.Record(Spec("a"), rpc::RUNNING);
  buffer.Record(Spec("b"), rpc::RUNNING);
  EXPECT_FALSE(buffer.Flush());
  EXPECT_EQ(buffer.NumDroppedTotal(), 2);
  sent.next_status = Status::OK();
  ASSERT_TRUE(buffer.Flush());  // only the count is left to send
  EXPECT_EQ(sent.requests.back().events_size(), 0);
  EXPECT_EQ(sent.requests.back().num_dropped(), 2);
}

TEST(TaskEventBufferTest, ItsThreadFlushesPeriodicallyAndStopFlushesTheRest) {
  Sent sent;
  TaskEventBuffer buffer(1000, sent.Sender());
  buffer.Start(10);
  buffer.Record(Spec("a"), rpc::RUNNING);
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard<std::mutex> lock(sent.mu);
      if (!sent.requests.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  {
    std::lock_guard<std::mutex> lock(sent.mu);
    ASSERT_EQ(sent.requests.size(), 1u);
  }
  buffer.Record(Spec("b"), rpc::RUNNING);
  buffer.Stop();
  buffer.Stop();
  std::lock_guard<std::mutex> lock(sent.mu);
  ASSERT_EQ(sent.requests.size(), 2u);
  EXPECT_EQ(sent.requests[1].events(0).task_id(), "b");
}

TEST(TaskEventBufferTest, RecordsFromManyThreadsWhileFlushingLoseNothing) {
  Sent sent;
  TaskEventBuffer buffer(1 << 20, sent.Sender());
  buffer.Start(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&buffer, t] {
      for (int i = 0; i < 2000; ++i) {
        buffer.Record(Spec("t" + std::to_string(t) + "_" + std::to_string(i)), rpc::RUNNING);
      }
    });
  }
  for (auto &thread : threads) thread.join();
  buffer.Stop();
  size_t total = 0;
  for (const auto &request : sent.requests) total += request.events_size();
  EXPECT_EQ(total, 8000u);
  EXPECT_EQ(buffer.NumDroppedTotal(), 0);
}

}  // namespace
}  // namespace cyray::core
