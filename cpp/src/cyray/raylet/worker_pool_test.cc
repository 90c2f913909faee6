#include "cyray/raylet/worker_pool.h"

#include <gtest/gtest.h>

#include "cyray/raylet/fake_process_launcher.h"

namespace cyray::raylet {

class WorkerPoolTest : public ::testing::Test {
 protected:
  WorkerPtr MakeWorker(int64_t token, int pid) {
    auto w = std::make_shared<Worker>();
    w->worker_id = WorkerID::FromRandom();
    w->startup_token = token;
    w->pid = pid;
    return w;
  }
  int64_t now_ = 0;
  FakeProcessLauncher launcher_;
  WorkerPool pool_{launcher_, 2, [this] { return now_; }};
};

TEST_F(WorkerPoolTest, PrestartedWorkersRegisterAndBecomeIdle) {
  pool_.Prestart(2);
  EXPECT_EQ(pool_.NumStarting(), 2);
  ASSERT_TRUE(pool_.RegisterWorker(MakeWorker(launcher_.tokens[0], 1000)).ok());
  EXPECT_EQ(pool_.NumStarting(), 1);
  EXPECT_EQ(pool_.NumIdle(), 1);
  EXPECT_NE(pool_.PopIdleWorker({}), nullptr);
  EXPECT_EQ(pool_.PopIdleWorker({}), nullptr);
}

TEST_F(WorkerPoolTest, UnknownTokenIsRejected) {
  EXPECT_FALSE(pool_.RegisterWorker(MakeWorker(77, 5)).ok());
  EXPECT_EQ(pool_.NumRegistered(), 0);
}

TEST_F(WorkerPoolTest, StartupConcurrencyIsCapped) {
  pool_.StartWorkersForDemand(10);
  EXPECT_EQ(pool_.NumStarting(), 2);
  pool_.StartWorkersForDemand(10);
  EXPECT_EQ(launcher_.tokens.size(), 2u);
}

TEST_F(WorkerPoolTest, IdleWorkersAreReusedMostRecentFirst) {
  pool_.Prestart(2);
  auto a = MakeWorker(launcher_.tokens[0], 1000);
  auto b = MakeWorker(launcher_.tokens[1], 1001);
  ASSERT_TRUE(pool_.RegisterWorker(a).ok());
  ASSERT_TRUE(pool_.RegisterWorker(b).ok());
  auto first = pool_.PopIdleWorker({});
  pool_.PushIdleWorker(first);
  EXPECT_EQ(pool_.PopIdleWorker({}), first);
}

TEST_F(WorkerPoolTest, ExitBeforeRegistrationFreesTheStartSlot) {
  pool_.StartWorkersForDemand(1);
  EXPECT_EQ(pool_.OnProcessExit(1000), nullptr);
  EXPECT_EQ(pool_.NumStarting(), 0);
}

TEST_F(WorkerPoolTest, ExitOfRegisteredWorkerIsReported) {
  pool_.Prestart(1);
  auto a = MakeWorker(launcher_.tokens[0], 1000);
  ASSERT_TRUE(pool_.RegisterWorker(a).ok());
  EXPECT_EQ(pool_.OnProcessExit(1000), a);
  pool_.DisconnectWorker(a, false);
  EXPECT_EQ(pool_.NumIdle(), 0);
  EXPECT_EQ(pool_.GetWorker(a->worker_id), nullptr);
  EXPECT_TRUE(launcher_.killed.empty());
}

TEST_F(WorkerPoolTest, UnregisteredWorkersAreKilledAfterTimeout) {
  pool_.Prestart(1);
  now_ = 500;
  pool_.KillUnregisteredAfter(1000);
  EXPECT_TRUE(launcher_.killed.empty());
  now_ = 1500;
  pool_.KillUnregisteredAfter(1000);
  EXPECT_EQ(launcher_.killed, std::vector<int>{1000});
  EXPECT_EQ(pool_.NumStarting(), 0);
}

TEST_F(WorkerPoolTest, IdleWorkersAboveSoftLimitAreTrimmed) {
  pool_.Prestart(2);
  ASSERT_TRUE(pool_.RegisterWorker(MakeWorker(launcher_.tokens[0], 1000)).ok());
  ASSERT_TRUE(pool_.RegisterWorker(MakeWorker(launcher_.tokens[1], 1001)).ok());
  now_ = 100;
  pool_.TrimIdleWorkers(1, 1000);
  EXPECT_EQ(pool_.NumIdle(), 2);
  now_ = 2000;
  pool_.TrimIdleWorkers(1, 1000);
  EXPECT_EQ(pool_.NumIdle(), 1);
  EXPECT_EQ(launcher_.killed.size(), 1u);
}

TEST_F(WorkerPoolTest, FailedLaunchIsNotCountedAsStarting) {
  launcher_.fail_next = true;
  pool_.Prestart(1);
  EXPECT_EQ(pool_.NumStarting(), 0);
}

}  // namespace cyray::raylet
