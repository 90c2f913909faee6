#include "cyray/common/status.h"

#include <gtest/gtest.h>

namespace cyray {

Status FailsThenPropagates() {
  CYRAY_RETURN_NOT_OK(Status::TimedOut("deadline"));
  return Status::OK();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::OK().ok());
  Status s = Status::KeyError("no such key 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kKeyError);
  EXPECT_EQ(s.ToString(), "KeyError: no such key 'x'");
}

TEST(StatusTest, ReturnNotOkPropagates) {
  Status s = FailsThenPropagates();
  EXPECT_TRUE(s.IsTimedOut());
  EXPECT_EQ(s.message(), "deadline");
}

TEST(StatusTest, StatusOrHoldsValueOrError) {
  StatusOr<int> good(5);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 5);
  StatusOr<int> bad(Status::NotFound("gone"));
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
}

}  // namespace cyray
