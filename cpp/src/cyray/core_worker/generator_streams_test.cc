#include "cyray/core_worker/generator_streams.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace cyray::core {

namespace {
TaskID Gen(uint32_t i = 1) {
  return TaskID::ForNormalTask(JobID::FromInt(1), TaskID::ForDriverTask(JobID::FromInt(1)), i);
}
GeneratorStreams::Ack Recorder(std::vector<int64_t> *acks) {
  return [acks](int64_t consumed) { acks->push_back(consumed); };
}
}  // namespace

TEST(GeneratorStreamsTest, ItemsComeInOrderThenTheEnd) {
  GeneratorStreams streams;
  streams.Create(Gen(), 0);
  std::vector<int64_t> acks;
  // Out of order: item 1 waits for item 0.
  EXPECT_TRUE(streams.OnItemReported(Gen(), 1, Recorder(&acks)));
  EXPECT_FALSE(streams.NextReady(Gen()));
  EXPECT_TRUE(streams.OnItemReported(Gen(), 0, Recorder(&acks)));
  EXPECT_EQ(acks.size(), 2u) << "no backpressure: acked at once";
  int64_t index = -1;
  bool end = false;
  ASSERT_TRUE(streams.Next(Gen(), 0, nullptr, 10, &index, &end).ok());
  EXPECT_EQ(index, 0);
  ASSERT_TRUE(streams.Next(Gen(), 0, nullptr, 10, &index, &end).ok());
  EXPECT_EQ(index, 1);
  EXPECT_TRUE(streams.Next(Gen(), 0, nullptr, 10, &index, &end).IsTimedOut());
  EXPECT_FALSE(streams.IsFinished(Gen()));
  streams.Finish(Gen(), 2);
  ASSERT_TRUE(streams.Next(Gen(), -1, nullptr, 10, &index, &end).ok());
  EXPECT_TRUE(end);
  EXPECT_TRUE(streams.IsFinished(Gen()));
}

TEST(GeneratorStreamsTest, RepeatedReportsCountOnce) {
  GeneratorStreams streams;
  streams.Create(Gen(), 0);
  std::vector<int64_t> acks;
  EXPECT_TRUE(streams.OnItemReported(Gen(), 0, Recorder(&acks)));
  EXPECT_FALSE(streams.OnItemReported(Gen(), 0, Recorder(&acks))) << "a retry's repeat";
  EXPECT_EQ(acks.size(), 2u) << "still acknowledged";
  EXPECT_EQ(streams.NumContiguous(Gen()), 1);
  EXPECT_FALSE(streams.OnItemReported(Gen(2), 0, Recorder(&acks))) << "unknown stream";
}

TEST(GeneratorStreamsTest, BackpressureHoldsTheAckUntilTheConsumerTakesItems) {
  GeneratorStreams streams;
  streams.Create(Gen(), 2);
  std::vector<int64_t> acks;
  streams.OnItemReported(Gen(), 0, Recorder(&acks));
  EXPECT_EQ(acks.size(), 1u) << "one item not taken: below the threshold";
  streams.OnItemReported(Gen(), 1, Recorder(&acks));
  EXPECT_EQ(acks.size(), 1u) << "two items not taken: the worker waits";
  int64_t index;
  bool end;
  ASSERT_TRUE(streams.Next(Gen(), 0, nullptr, 10, &index, &end).ok());
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[1], 1) << "the ack says how many were taken";
}

TEST(GeneratorStreamsTest, RemoveReturnsUntakenItemsAndReleasesTheWorker) {
  GeneratorStreams streams;
  streams.Create(Gen(), 1);
  std::vector<int64_t> acks;
  streams.OnItemReported(Gen(), 0, Recorder(&acks));
  streams.OnItemReported(Gen(), 1, Recorder(&acks));
  int64_t index;
  bool end;
  ASSERT_TRUE(streams.Next(Gen(), 0, nullptr, 10, &index, &end).ok());
  EXPECT_EQ(streams.Remove(Gen()), std::vector<int64_t>{1});
  EXPECT_EQ(acks.size(), 2u) << "held acks go out when the consumer is gone";
  EXPECT_FALSE(streams.OnItemReported(Gen(), 2, Recorder(&acks)));
  ASSERT_TRUE(streams.Next(Gen(), 0, nullptr, 10, &index, &end).ok());
  EXPECT_TRUE(end);
}

TEST(GeneratorStreamsTest, BlockedNextWakesOnAReportFromAnotherThread) {
  GeneratorStreams streams;
  streams.Create(Gen(), 0);
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) streams.OnItemReported(Gen(), i, nullptr);
    streams.Finish(Gen(), 100);
  });
  int64_t count = 0;
  while (true) {
    int64_t index;
    bool end;
    ASSERT_TRUE(streams.Next(Gen(), 5000, nullptr, 10, &index, &end).ok());
    if (end) break;
    EXPECT_EQ(index, count++);
  }
  producer.join();
  EXPECT_EQ(count, 100);
}

TEST(GeneratorStreamsTest, NextStopsWhenTheSignalCheckFails) {
  GeneratorStreams streams;
  streams.Create(Gen(), 0);
  int64_t index;
  bool end;
  Status s = streams.Next(
      Gen(), -1, [] { return Status::Interrupted("ctrl-c"); }, 1, &index, &end);
  EXPECT_EQ(s.code(), StatusCode::kInterrupted);
}

TEST(GeneratorStreamsTest, ReleaseAllAnswersHeldAcksAtShutdown) {
  GeneratorStreams streams;
  streams.Create(Gen(), 1);
  std::vector<int64_t> acks;
  streams.OnItemReported(Gen(), 0, Recorder(&acks));
  EXPECT_TRUE(acks.empty()) << "held: nothing taken";
  streams.ReleaseAll();
  EXPECT_EQ(acks.size(), 1u);
  EXPECT_TRUE(streams.IsFinished(Gen())) << "forgotten";
}

}  // namespace cyray::core
