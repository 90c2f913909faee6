#include "cyray/core_worker/task_channel.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

namespace cyray::core {
namespace {

using namespace std::chrono_literals;

// Calls' outcomes as the client reports them.
struct Outcomes {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<Status, rpc::PushTaskReply>> results;

  TaskChannelClient::Callback Record() {
    return [this](const Status &status, rpc::PushTaskReply &reply) {
      std::lock_guard<std::mutex> lock(mu);
      results.emplace_back(status, std::move(reply));
      cv.notify_all();
    };
  }
  bool Wait(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, 10s, [&] { return results.size() >= n; });
  }
};

// A worker's address on 127.0.0.1, on the node `node_id`.
rpc::Address Address(int task_port, const std::string &node_id = "") {
  rpc::Address address;
  address.set_ip_address("127.0.0.1");
  address.set_task_port(task_port);
  address.set_node_id(node_id);
  return address;
}

rpc::PushTaskRequest Request(const std::string &name) {
  rpc::PushTaskRequest request;
  request.mutable_task_spec()->set_name(name);
  return request;
}

// A server whose pushes the test answers (or not) by hand.
struct Worker {
  std::mutex mu;
  std::vector<std::tuple<const rpc::PushTaskRequest *, rpc::PushTaskReply *, TaskResponder *>>
      received;
  TaskChannelServer server;
  int port = 0;

  explicit Worker(const std::string &token, uint32_t max_frame = 1 << 20,
                  const std::string &session_dir = "", int64_t hello_timeout_ms = 10000,
                  int max_unauthenticated = 64)
      : server(
            token, max_frame,
            [this](const rpc::PushTaskRequest *request, rpc::PushTaskReply *reply,
                   TaskResponder *responder) {
              std::lock_guard<std::mutex> lock(mu);
              received.emplace_back(request, reply, responder);
            },
            hello_timeout_ms, max_unauthenticated) {
    EXPECT_TRUE(server.Start("127.0.0.1", &port, session_dir).ok());
  }
  size_t Received() {
    std::lock_guard<std::mutex> lock(mu);
    return received.size();
  }
  // True once `n` pushes arrived (within 10 s).
  bool WaitReceived(size_t n) {
    for (int i = 0; i < 1000 && Received() < n; ++i) std::this_thread::sleep_for(10ms);
    return Received() >= n;
  }
  // Answers every received push with its task name as the reply's error flag
  // and one return object named after it.
  void AnswerAll(const Status &status) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto &[request, reply, responder] : received) {
      reply->add_return_objects()->set_object_id(request->task_spec().name());
      responder->Finish(status);
      responder->Release();
    }
    received.clear();
  }
};

TEST(TaskChannelTest, PushesGetTheirOwnReplies) {
  Worker worker("secret");
  TaskChannelClient client("secret", 5000, 1 << 20);
  Outcomes out;
  for (int i = 0; i < 50; ++i) {
    client.Push(Address(worker.port), Request("task" + std::to_string(i)), out.Record());
  }
  ASSERT_TRUE(worker.WaitReceived(50));
  ASSERT_EQ(worker.Received(), 50u);
  // Answered from another thread than the one that received them, as executors do.
  std::thread([&] { worker.AnswerAll(Status::OK()); }).join();
  ASSERT_TRUE(out.Wait(50));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(out.results[i].first.ok()) << out.results[i].first;
    EXPECT_EQ(out.results[i].second.return_objects(0).object_id(), "task" + std::to_string(i));
  }
  client.Shutdown();
  worker.server.Stop();
}

TEST(TaskChannelTest, AnErrorAnswerReachesTheCallerAsUnreachable) {
  Worker worker("");
  TaskChannelClient client("", 5000, 1 << 20);
  Outcomes out;
  client.Push(Address(worker.port), Request("t"), out.Record());
  ASSERT_TRUE(worker.WaitReceived(1));
  worker.AnswerAll(Status::Disconnected("this worker is exiting"));
  ASSERT_TRUE(out.Wait(1));
  EXPECT_EQ(out.results[0].first.code(), StatusCode::kDisconnected);
  EXPECT_NE(out.results[0].first.message().find("this worker is exiting"), std::string::npos);
  client.Shutdown();
}

TEST(TaskChannelTest, AClientWithoutTheTokenIsRefusedAndRunsNothing) {
  Worker worker("secret");
  TaskChannelClient client("guess", 5000, 1 << 20);
  Outcomes out;
  client.Push(Address(worker.port), Request("t"), out.Record());
  ASSERT_TRUE(out.Wait(1));
  EXPECT_EQ(out.results[0].first.code(), StatusCode::kDisconnected);
  EXPECT_NE(out.results[0].first.message().find("cluster token"), std::string::npos)
      << out.results[0].first;
  EXPECT_EQ(worker.Received(), 0u);
  client.Shutdown();
}

TEST(TaskChannelTest, AStoppedWorkerFailsTheCallsInFlightAndLaterOnes) {
  Outcomes out;
  TaskChannelClient client("", 5000, 1 << 20);
  int port;
  {
    Worker worker("");
    port = worker.port;
    client.Push(Address(port), Request("running"), out.Record());
    ASSERT_TRUE(worker.WaitReceived(1));
    worker.server.Stop();
    ASSERT_TRUE(out.Wait(1));
    EXPECT_EQ(out.results[0].first.code(), StatusCode::kDisconnected);
    worker.AnswerAll(Status::OK());  // after the stop: dropped, no crash
  }
  client.Push(Address(port), Request("later"), out.Record());
  ASSERT_TRUE(out.Wait(2));
  EXPECT_FALSE(out.results[1].first.ok());
  client.Shutdown();
}

TEST(TaskChannelTest, ClientShutdownFailsCallsInFlightAndRefusesNewOnes) {
  Worker worker("");
  TaskChannelClient client("", 5000, 1 << 20);
  Outcomes out;
  client.Push(Address(worker.port), Request("t"), out.Record());
  ASSERT_TRUE(worker.WaitReceived(1));
  client.Shutdown();
  ASSERT_TRUE(out.Wait(1));
  EXPECT_EQ(out.results[0].first.code(), StatusCode::kDisconnected);
  client.Push(Address(worker.port), Request("after"), out.Record());
  ASSERT_TRUE(out.Wait(2));
  EXPECT_EQ(out.results[1].first.code(), StatusCode::kDisconnected);
  worker.AnswerAll(Status::OK());
}

TEST(TaskChannelTest, AReplyAboveTheFrameLimitReachesTheCallerAsAnError) {
  Worker worker("", 4096);
  TaskChannelClient client("", 5000, 1 << 20);
  Outcomes out;
  client.Push(Address(worker.port), Request("big"), out.Record());
  ASSERT_TRUE(worker.WaitReceived(1));
  {
    std::lock_guard<std::mutex> lock(worker.mu);
    auto &[request, reply, responder] = worker.received[0];
    reply->add_return_objects()->set_data(std::string(8192, 'x'));
    responder->Finish(Status::OK());
    responder->Release();
    worker.received.clear();
  }
  ASSERT_TRUE(out.Wait(1));  // not left waiting for a reply that was never sent
  EXPECT_EQ(out.results[0].first.code(), StatusCode::kDisconnected);
  EXPECT_NE(out.results[0].first.message().find("message limit"), std::string::npos)
      << out.results[0].first;
  client.Shutdown();
}

TEST(TaskChannelTest, ARequestAboveTheFrameLimitFailsWithoutBeingSent) {
  Worker worker("");
  TaskChannelClient client("", 5000, 1024);
  Outcomes out;
  client.Push(Address(worker.port), Request(std::string(2048, 'n')), out.Record());
  ASSERT_TRUE(out.Wait(1));
  EXPECT_EQ(out.results[0].first.code(), StatusCode::kInvalid);
  EXPECT_NE(out.results[0].first.message().find("message limit"), std::string::npos);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(worker.Received(), 0u);
  client.Shutdown();
}

// A session directory for one test, removed at its end.
struct SessionDir {
  std::string path;
  SessionDir() {
    char pattern[] = "/tmp/cyray_task_channel_XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~SessionDir() { std::filesystem::remove_all(path); }
};

// A TCP port on 127.0.0.1 where nothing accepts (bound, not listening).
struct DeadPort {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  DeadPort() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr *>(&addr), len), 0);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
  }
  ~DeadPort() { ::close(fd); }
};

TEST(TaskChannelTest, ACallerOnTheWorkersNodeCallsOverItsUnixSocket) {
  SessionDir dir;
  Worker worker("secret", 1 << 20, dir.path);
  const std::string socket = TaskSocketPath(dir.path, "127.0.0.1", worker.port);
  ASSERT_TRUE(std::filesystem::exists(socket));
  // The Unix socket, moved to the name of a port where TCP finds no one: only
  // it can carry the call.
  DeadPort dead;
  std::filesystem::rename(socket, TaskSocketPath(dir.path, "127.0.0.1", dead.port));
  TaskChannelClient client("secret", 5000, 1 << 20);
  client.SetLocalNode("node-a", dir.path);
  Outcomes out;
  client.Push(Address(dead.port, "node-a"), Request("local"), out.Record());
  ASSERT_TRUE(worker.WaitReceived(1));
  worker.AnswerAll(Status::OK());
  ASSERT_TRUE(out.Wait(1));
  ASSERT_TRUE(out.results[0].first.ok()) << out.results[0].first;
  EXPECT_EQ(out.results[0].second.return_objects(0).object_id(), "local");
  // A worker named on another node is not looked for here: TCP, refused.
  TaskChannelClient remote("secret", 5000, 1 << 20);
  remote.SetLocalNode("node-b", dir.path);
  remote.Push(Address(dead.port, "node-a"), Request("remote"), out.Record());
  ASSERT_TRUE(out.Wait(2));
  EXPECT_EQ(out.results[1].first.code(), StatusCode::kDisconnected);
  EXPECT_EQ(worker.Received(), 0u);
  client.Shutdown();
  remote.Shutdown();
}

TEST(TaskChannelTest, TheUnixSocketAsksForTheTokenAndGoesAwayOnStop) {
  SessionDir dir;
  Worker worker("secret", 1 << 20, dir.path);
  const std::string socket = TaskSocketPath(dir.path, "127.0.0.1", worker.port);
  TaskChannelClient client("guess", 5000, 1 << 20);
  client.SetLocalNode("node-a", dir.path);
  Outcomes out;
  client.Push(Address(worker.port, "node-a"), Request("t"), out.Record());
  ASSERT_TRUE(out.Wait(1));
  EXPECT_NE(out.results[0].first.message().find("cluster token"), std::string::npos)
      << out.results[0].first;
  EXPECT_EQ(worker.Received(), 0u);
  worker.server.Stop();
  EXPECT_FALSE(std::filesystem::exists(socket));
  client.Shutdown();
}

TEST(TaskChannelTest, WithoutTheUnixSocketACallerOnTheNodeUsesTcp) {
  SessionDir dir;
  Worker worker("", 1 << 20);  // listens on TCP only
  TaskChannelClient client("", 5000, 1 << 20);
  client.SetLocalNode("node-a", dir.path);
  Outcomes out;
  client.Push(Address(worker.port, "node-a"), Request("tcp"), out.Record());
  ASSERT_TRUE(worker.WaitReceived(1));
  worker.AnswerAll(Status::OK());
  ASSERT_TRUE(out.Wait(1));
  EXPECT_TRUE(out.results[0].first.ok()) << out.results[0].first;
  client.Shutdown();
}

// A raw TCP connection to 127.0.0.1:`port` that sends nothing.
struct SilentConnection {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  explicit SilentConnection(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
  }
  ~SilentConnection() { ::close(fd); }
  // True when the worker closed it within `timeout_ms`.
  bool ClosedWithin(int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char byte;
    return ::read(fd, &byte, 1) <= 0;
  }
};

TEST(TaskChannelTest, AConnectionWithoutTheTokenIsClosedAfterTheHelloDeadline) {
  Worker worker("secret", 1 << 20, "", /*hello_timeout_ms=*/300);
  SilentConnection silent(worker.port);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.ClosedWithin(10000));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST(TaskChannelTest, TooManyConnectionsWithoutTheTokenCloseTheOldestNotCallers) {
  Worker worker("secret", 1 << 20, "", /*hello_timeout_ms=*/60000, /*max_unauthenticated=*/2);
  SilentConnection first(worker.port);
  std::this_thread::sleep_for(20ms);
  SilentConnection second(worker.port);
  std::this_thread::sleep_for(20ms);
  SilentConnection third(worker.port);
  EXPECT_TRUE(first.ClosedWithin(5000)) << "the oldest makes room";
  EXPECT_FALSE(second.ClosedWithin(200));
  // A caller with the token still gets in, and is served.
  TaskChannelClient client("secret", 5000, 1 << 20);
  Outcomes out;
  client.Push(Address(worker.port), Request("t"), out.Record());
  ASSERT_TRUE(worker.WaitReceived(1));
  worker.AnswerAll(Status::OK());
  ASSERT_TRUE(out.Wait(1));
  EXPECT_TRUE(out.results[0].first.ok()) << out.results[0].first;
  client.Shutdown();
}

}  // namespace
}  // namespace cyray::core
