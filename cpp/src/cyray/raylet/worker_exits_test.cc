#include "cyray/raylet/worker_exits.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <vector>

namespace cyray::raylet {
namespace {

// waitpid statuses as the kernel encodes them.
int ExitedWith(int code) { return (code & 0xff) << 8; }
int KilledBy(int sig) { return sig & 0x7f; }

class WorkerExitsTest : public ::testing::Test {
 protected:
  std::vector<WorkerExit> finals_;
  WorkerExits exits_{[this](const WorkerExit &e) { finals_.push_back(e); }, 3};
};

TEST(DescribeWaitStatusTest, NamesExitCodesAndSignals) {
  EXPECT_EQ(DescribeWaitStatus(ExitedWith(3)), "exited with code 3");
  EXPECT_EQ(DescribeWaitStatus(KilledBy(SIGKILL)), "was killed by signal 9 (SIGKILL)");
  EXPECT_EQ(DescribeWaitStatus(KilledBy(SIGSEGV)), "was killed by signal 11 (SIGSEGV)");
}

TEST_F(WorkerExitsTest, ExitIsFinalOnlyOnceReaped) {
  WorkerID w = WorkerID::FromRandom();
  exits_.OnGone(w, 123, false, false, "its connection closed", 0);
  EXPECT_TRUE(exits_.IsPending(w));
  EXPECT_FALSE(exits_.Find(w));
  EXPECT_TRUE(finals_.empty());
  EXPECT_TRUE(exits_.OnReaped(123, KilledBy(SIGKILL)));
  ASSERT_EQ(finals_.size(), 1u);
  EXPECT_EQ(finals_[0].detail, "worker pid 123 was killed by signal 9 (SIGKILL)");
  EXPECT_FALSE(finals_[0].intentional);
  ASSERT_TRUE(exits_.Find(w));
  EXPECT_FALSE(exits_.IsPending(w));
}

TEST_F(WorkerExitsTest, RuntimeKillsAreNamedWhicheverComesFirst) {
  WorkerID a = WorkerID::FromRandom(), b = WorkerID::FromRandom();
  exits_.OnKilledByRuntime(1, "its lease ended");
  exits_.OnGone(a, 1, false, false, "its connection closed", 0);
  exits_.OnGone(b, 2, false, false, "its connection closed", 0);
  exits_.OnKilledByRuntime(2, "the actor was killed");
  exits_.OnReaped(1, KilledBy(SIGKILL));
  exits_.OnReaped(2, KilledBy(SIGKILL));
  EXPECT_EQ(exits_.Find(a)->detail,
            "worker pid 1 was killed by signal 9 (SIGKILL) (killed by the runtime: its lease "
            "ended)");
  EXPECT_FALSE(exits_.Find(b)->intentional);  // only the worker itself says that
  EXPECT_NE(exits_.Find(b)->detail.find("the actor was killed"), std::string::npos);
}

TEST_F(WorkerExitsTest, UnknownPidsAreIgnoredAndUnreapedExitsExpire) {
  EXPECT_FALSE(exits_.OnReaped(99, ExitedWith(0)));
  WorkerID w = WorkerID::FromRandom();
  exits_.OnGone(w, 5, false, false, "its connection closed", 1000);
  exits_.ExpireUnreaped(1500, 1000);
  EXPECT_TRUE(finals_.empty());
  exits_.ExpireUnreaped(2000, 1000);
  ASSERT_EQ(finals_.size(), 1u);
  EXPECT_NE(finals_[0].detail.find("unknown"), std::string::npos);
  // A late reap of an expired exit changes nothing.
  EXPECT_FALSE(exits_.OnReaped(5, ExitedWith(1)));
}

TEST_F(WorkerExitsTest, DriversAreFinalAtOnceAndOldExitsAreForgotten) {
  std::vector<WorkerID> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(WorkerID::FromRandom());
    exits_.OnGone(ids.back(), 10 + i, /*is_driver=*/true, false, "disconnected", 0);
  }
  EXPECT_EQ(finals_.size(), 5u);
  EXPECT_FALSE(exits_.Find(ids[0]));
  EXPECT_FALSE(exits_.Find(ids[1]));
  EXPECT_TRUE(exits_.Find(ids[4]));
}

}  // namespace
}  // namespace cyray::raylet
