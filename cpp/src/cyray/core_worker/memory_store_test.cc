#include "cyray/core_worker/memory_store.h"

#include <gtest/gtest.h>

#include <thread>

namespace cyray::core {

namespace {
ObjectValuePtr Value(const std::string &data) {
  auto v = std::make_shared<ObjectValue>();
  v->data = data;
  return v;
}
ObjectID Id(uint32_t i) {
  JobID job = JobID::FromInt(1);
  return ObjectID::FromIndex(TaskID::ForDriverTask(job), i);
}
}  // namespace

TEST(MemoryStoreTest, GetReturnsWhatWasPut) {
  MemoryStore store;
  store.Put(Id(1), Value("a"));
  std::vector<ObjectValuePtr> out;
  ASSERT_TRUE(store.Get({Id(1)}, 1, -1, nullptr, 10, &out).ok());
  EXPECT_EQ(out[0]->data, "a");
}

TEST(MemoryStoreTest, MarkPresentFlagsEachIdGivenAndListsRemoteOnes) {
  MemoryStore store;
  store.Put(Id(1), Value("a"));
  auto remote = std::make_shared<ObjectValue>();
  remote->in_plasma = true;  // in another node's shared memory, not pulled here
  store.Put(Id(3), remote);
  std::vector<bool> present;
  std::vector<size_t> remote_indexes;
  EXPECT_EQ(store.MarkPresent({Id(1), Id(2), Id(3), Id(1)}, &present, &remote_indexes), 3u);
  EXPECT_EQ(present, (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(remote_indexes, (std::vector<size_t>{2}));
  EXPECT_EQ(store.MarkPresent({}, &present, nullptr), 0u);
  EXPECT_TRUE(present.empty());
}

TEST(MemoryStoreTest, FirstPutWins) {
  MemoryStore store;
  store.Put(Id(1), Value("a"));
  store.Put(Id(1), Value("b"));
  EXPECT_EQ(store.GetIfExists(Id(1))->data, "a");
}

TEST(MemoryStoreTest, GetWaitsForAPutFromAnotherThread) {
  MemoryStore store;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    store.Put(Id(2), Value("late"));
  });
  std::vector<ObjectValuePtr> out;
  ASSERT_TRUE(store.Get({Id(2)}, 1, 5000, nullptr, 10, &out).ok());
  EXPECT_EQ(out[0]->data, "late");
  writer.join();
}

TEST(MemoryStoreTest, GetTimesOutWithPartialResults) {
  MemoryStore store;
  store.Put(Id(1), Value("a"));
  std::vector<ObjectValuePtr> out;
  Status s = store.Get({Id(1), Id(2)}, 2, 30, nullptr, 10, &out);
  EXPECT_TRUE(s.IsTimedOut());
  EXPECT_NE(out[0], nullptr);
  EXPECT_EQ(out[1], nullptr);
}

TEST(MemoryStoreTest, SignalCheckInterruptsAWait) {
  MemoryStore store;
  int calls = 0;
  std::vector<ObjectValuePtr> out;
  Status s = store.Get(
      {Id(1)}, 1, -1, [&] { return ++calls == 3 ? Status::Interrupted("ctrl-c") : Status::OK(); },
      5, &out);
  EXPECT_TRUE(s.IsInterrupted());
  EXPECT_EQ(calls, 3);
}

TEST(MemoryStoreTest, AsyncWaitersRunOnPutOrAtOnce) {
  MemoryStore store;
  std::string seen;
  store.GetAsync(Id(1), [&](ObjectValuePtr v) { seen += v->data; });
  EXPECT_EQ(seen, "");
  store.Put(Id(1), Value("x"));
  EXPECT_EQ(seen, "x");
  store.GetAsync(Id(1), [&](ObjectValuePtr v) { seen += v->data; });
  EXPECT_EQ(seen, "xx");
}

TEST(MemoryStoreTest, DeleteFrees) {
  MemoryStore store;
  store.Put(Id(1), Value("a"));
  store.Delete(Id(1));
  EXPECT_FALSE(store.Contains(Id(1)));
  EXPECT_EQ(store.Size(), 0u);
}

TEST(ErrorObjectTest, MetadataNamesTheErrorType) {
  auto err = MakeErrorObject(4, "boom");
  EXPECT_EQ(err->metadata, "E4");
  EXPECT_EQ(ErrorTypeOf(err->metadata), 4);
  EXPECT_EQ(ErrorTypeOf("P5"), 0);
  EXPECT_EQ(ErrorTypeOf(""), 0);
}

TEST(MemoryStoreTest, AnErrorEndsAGetThatStopsOnErrors) {
  MemoryStore store;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    store.Put(Id(2), MakeErrorObject(1, "worker died"));
  });
  std::vector<ObjectValuePtr> out;
  // Id(1) never arrives: the error alone ends the wait.
  ASSERT_TRUE(store.Get({Id(1), Id(2)}, 2, 5000, nullptr, 10, &out, true).ok());
  writer.join();
  EXPECT_EQ(out[0], nullptr);
  EXPECT_EQ(ErrorTypeOf(out[1]->metadata), 1);
  // Already present: no wait at all; without the flag it times out.
  ASSERT_TRUE(store.Get({Id(1), Id(2)}, 2, 5000, nullptr, 10, &out, true).ok());
  EXPECT_TRUE(store.Get({Id(1), Id(2)}, 2, 20, nullptr, 10, &out).IsTimedOut());
}

}  // namespace cyray::core
