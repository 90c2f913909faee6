#include "cyray/common/config.h"

#include <gtest/gtest.h>

#include <cstring>

namespace cyray {
namespace {

const char *FakeEnv(const char *name) {
  if (std::strcmp(name, "CYRAY_max_direct_call_object_size") == 0) return "4096";
  if (std::strcmp(name, "CYRAY_log_level") == 0) return "debug";
  if (std::strcmp(name, "CYRAY_kill_idle_workers_of_dead_owner") == 0) return "false";
  if (std::strcmp(name, "CYRAY_health_check_period_ms") == 0) return "not-a-number";
  return nullptr;
}

const char *EmptyEnv(const char *) { return nullptr; }

}  // namespace

TEST(ConfigTest, DefaultsWithoutEnvironment) {
  CyrayConfig config(EmptyEnv);
  EXPECT_EQ(config.max_direct_call_object_size(), 100 * 1024);
  EXPECT_EQ(config.log_level(), "info");
  EXPECT_TRUE(config.kill_idle_workers_of_dead_owner());
}

TEST(ConfigTest, EnvironmentOverridesAndBadValuesKeepDefault) {
  CyrayConfig config(FakeEnv);
  EXPECT_EQ(config.max_direct_call_object_size(), 4096);
  EXPECT_EQ(config.log_level(), "debug");
  EXPECT_FALSE(config.kill_idle_workers_of_dead_owner());
  EXPECT_EQ(config.health_check_period_ms(), 1000);
}

TEST(ConfigTest, EveryKnobIsDescribedWithDoc) {
  CyrayConfig config(EmptyEnv);
  auto knobs = config.Describe();
  ASSERT_GT(knobs.size(), 5u);
  for (const auto &[name, info] : knobs) {
    EXPECT_FALSE(info.doc.empty()) << name;
    EXPECT_FALSE(info.value.empty()) << name;
  }
  EXPECT_EQ(knobs["max_direct_call_object_size"].value, "102400");
}

}  // namespace cyray
