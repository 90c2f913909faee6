#include "cyray/core_worker/task_receiver.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace cyray::core {

namespace {

class TaskReceiverTest : public ::testing::Test {
 protected:
  typename TaskReceiver<int>::PushResult Push(int call, std::optional<CallOrder> order = {}) {
    int start = 0;
    return receiver_.Push(call, order, &abandoned_, &start);
  }
  std::optional<int> Next() {
    bool exit = false;
    return receiver_.Next(0, &exit);
  }
  CallOrder Order(uint64_t seq, uint64_t epoch = 0, const std::string &caller = "c") {
    return CallOrder{caller, epoch, seq};
  }
  TaskReceiver<int> receiver_;
  std::vector<int> abandoned_;
};

TEST_F(TaskReceiverTest, NormalTasksRunInArrivalOrder) {
  Push(1);
  Push(2);
  EXPECT_EQ(Next(), 1);
  EXPECT_EQ(Next(), 2);
  EXPECT_EQ(Next(), std::nullopt);
}

TEST_F(TaskReceiverTest, ActorCallsRunInTheirCallersOrder) {
  Push(12, Order(2));
  Push(11, Order(1));
  Push(20, Order(0, 0, "other"));
  EXPECT_EQ(Next(), 20);  // another caller is not held back
  EXPECT_EQ(Next(), std::nullopt);
  Push(10, Order(0));
  EXPECT_EQ(Next(), 10);
  EXPECT_EQ(Next(), 11);
  EXPECT_EQ(Next(), 12);
}

TEST_F(TaskReceiverTest, ANewEpochAbandonsCallsWaitingForAGap) {
  Push(10, Order(0));
  Push(12, Order(2));  // waits for 1, which the caller gave up on
  using Result = TaskReceiver<int>::PushResult;
  EXPECT_EQ(Push(20, Order(0, 1)), Result::kQueued);
  EXPECT_EQ(abandoned_, std::vector<int>{12});
  EXPECT_EQ(Next(), 10);
  EXPECT_EQ(Next(), 20);
  EXPECT_EQ(Push(11, Order(1, 0)), Result::kStaleEpoch);
}

TEST_F(TaskReceiverTest, ExitWaitsForEveryRunningExecution) {
  receiver_.SetMaxExecutors(2);
  Push(1);
  Push(2);
  ASSERT_EQ(Next(), 1);
  ASSERT_EQ(Next(), 2);  // e.g. a coroutine still running
  receiver_.Finish(/*exit_after=*/true);
  EXPECT_TRUE(receiver_.Exiting());
  EXPECT_EQ(Push(3), TaskReceiver<int>::PushResult::kExiting);
  bool exit = false;
  EXPECT_EQ(receiver_.Next(0, &exit), std::nullopt);
  EXPECT_FALSE(exit);
  receiver_.Finish(false);
  EXPECT_EQ(receiver_.Next(0, &exit), std::nullopt);
  EXPECT_TRUE(exit);
}

TEST_F(TaskReceiverTest, StartsExecutorsUpToTheMaximum) {
  receiver_.SetMaxExecutors(3);
  int started = 0;
  for (int i = 0; i < 5; ++i) {
    int start = 0;
    receiver_.Push(i, std::nullopt, &abandoned_, &start);
    started += start;
  }
  EXPECT_EQ(started, 2);  // the main thread is the first executor
}

TEST_F(TaskReceiverTest, CallsReleasedTogetherStartAnExecutorEach) {
  receiver_.SetMaxExecutors(4);
  Push(13, Order(3));
  Push(12, Order(2));
  Push(11, Order(1));
  int start = 0;
  receiver_.Push(10, Order(0), &abandoned_, &start);
  EXPECT_EQ(start, 3);  // four calls at once: three more executors
}

TEST_F(TaskReceiverTest, StopHandsBackQueuedAndBufferedCalls) {
  Push(1);
  Push(12, Order(2));
  auto unanswered = receiver_.Stop();
  EXPECT_EQ(unanswered.size(), 2u);
  bool exit = false;
  EXPECT_EQ(receiver_.Next(0, &exit), std::nullopt);
  EXPECT_TRUE(exit);
}

// Many pushing threads, several executors: every call runs once, and each
// caller's calls run in order (run under TSAN by scripts/sanitizer_tests.sh).
TEST_F(TaskReceiverTest, ConcurrentPushesAndExecutorsKeepEachCallersOrder) {
  constexpr int kCallers = 4, kCalls = 500;
  receiver_.SetMaxExecutors(1);
  std::vector<std::vector<int>> seen(kCallers);
  std::atomic<int> done{0};
  std::thread executor([&] {
    while (done.load() < kCallers * kCalls) {
      bool exit = false;
      auto call = receiver_.Next(5, &exit);
      if (!call) continue;
      seen[*call / kCalls].push_back(*call % kCalls);
      receiver_.Finish(false);
      done++;
    }
  });
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      // Pushed in reverse pairs, so every other call arrives early.
      for (int i = 0; i < kCalls; i += 2) {
        for (int j : {i + 1, i}) {
          int start = 0;
          std::vector<int> abandoned;
          receiver_.Push(c * kCalls + j, CallOrder{std::to_string(c), 0, uint64_t(j)}, &abandoned,
                         &start);
        }
      }
    });
  }
  for (auto &t : callers) t.join();
  executor.join();
  for (int c = 0; c < kCallers; ++c) {
    ASSERT_EQ(seen[c].size(), size_t(kCalls));
    for (int i = 0; i < kCalls; ++i) EXPECT_EQ(seen[c][i], i);
  }
}

}  // namespace
}  // namespace cyray::core
