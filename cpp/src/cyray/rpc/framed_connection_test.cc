#include "cyray/rpc/framed_connection.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace cyray::rpc {
namespace {

using namespace std::chrono_literals;

// What one side of a connection received, for the test thread to wait on.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<uint32_t, std::string>> frames;
  int closes = 0;
  Status why;

  FramedConnection::OnFrame OnFrame() {
    return [this](uint32_t type, std::string body) {
      std::lock_guard<std::mutex> lock(mu);
      frames.emplace_back(type, std::move(body));
      cv.notify_all();
    };
  }
  FramedConnection::OnClose OnClose() {
    return [this](const Status &s) {
      std::lock_guard<std::mutex> lock(mu);
      closes++;
      why = s;
      cv.notify_all();
    };
  }
  bool WaitFrames(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, 10s, [&] { return frames.size() >= n; });
  }
  bool WaitClosed() {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, 10s, [&] { return closes > 0; });
  }
};

// A TCP socket bound to a free loopback port (*port); -1 on failure.
int LoopbackSocket(int *port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr *>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

TEST(FramedConnectionTest, FramesCrossBothWaysInOrder) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Inbox a, b;
  auto left = FramedConnection::Serve(fds[0], 1 << 20, a.OnFrame(), a.OnClose());
  auto right = FramedConnection::Serve(fds[1], 1 << 20, b.OnFrame(), b.OnClose());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(left->Send(7, "head" + std::to_string(i) + ":", "body"));
  }
  ASSERT_TRUE(right->Send(9, "", ""));
  ASSERT_TRUE(b.WaitFrames(1000));
  ASSERT_TRUE(a.WaitFrames(1));
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(b.frames[i].first, 7u);
    EXPECT_EQ(b.frames[i].second, "head" + std::to_string(i) + ":body");
  }
  EXPECT_EQ(a.frames[0], std::make_pair(9u, std::string()));
  left->Close(Status::OK());
  right->Close(Status::OK());
  EXPECT_EQ(a.closes, 1);
}

TEST(FramedConnectionTest, AHeldFrameArrivesByItsDeadlineWithoutAFlush) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Inbox a, b;
  auto left = FramedConnection::Serve(fds[0], 1 << 20, a.OnFrame(), a.OnClose());
  auto right = FramedConnection::Serve(fds[1], 1 << 20, b.OnFrame(), b.OnClose());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(left->SendSoon(7, "held", "", 200 * 1000));
  std::this_thread::sleep_for(50ms);
  {
    std::lock_guard<std::mutex> lock(b.mu);
    EXPECT_TRUE(b.frames.empty());  // still held: its deadline is 200 ms away
  }
  ASSERT_TRUE(b.WaitFrames(1));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  EXPECT_EQ(b.frames[0].second, "held");
  left->Close(Status::OK());
  right->Close(Status::OK());
}

TEST(FramedConnectionTest, ASendWithFlushTakesTheHeldFramesAlongInOrder) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Inbox a, b;
  auto left = FramedConnection::Serve(fds[0], 1 << 20, a.OnFrame(), a.OnClose());
  auto right = FramedConnection::Serve(fds[1], 1 << 20, b.OnFrame(), b.OnClose());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(left->SendSoon(7, "held" + std::to_string(i), "", 60 * 1000 * 1000));
  }
  ASSERT_TRUE(left->Send(8, "now", ""));
  ASSERT_TRUE(b.WaitFrames(4));  // long before the held frames' one-minute deadline
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.frames[i].second, "held" + std::to_string(i));
  EXPECT_EQ(b.frames[3].first, 8u);
  // And WaitFlushed sees the outbox empty.
  EXPECT_TRUE(left->WaitFlushed(1000));
  left->Close(Status::OK());
  right->Close(Status::OK());
}

TEST(FramedConnectionTest, AFrameLargerThanTheSocketBufferArrivesWhole) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  int small = 4096;
  ASSERT_EQ(::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  Inbox a, b;
  auto sender = FramedConnection::Serve(fds[0], 64 << 20, a.OnFrame(), a.OnClose());
  auto receiver = FramedConnection::Serve(fds[1], 64 << 20, b.OnFrame(), b.OnClose());
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 % 251);
  // The kernel takes a part; the connection's thread writes the rest.
  ASSERT_TRUE(sender->Send(1, "x", big));
  ASSERT_TRUE(sender->Send(2, "after", ""));
  EXPECT_TRUE(sender->WaitFlushed(10000));
  ASSERT_TRUE(b.WaitFrames(2));
  EXPECT_EQ(b.frames[0].second, "x" + big);
  EXPECT_EQ(b.frames[1].second, "after");
  sender->Close(Status::OK());
  receiver->Close(Status::OK());
}

TEST(FramedConnectionTest, ThePeerClosingEndsTheConnectionOnce) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Inbox a;
  auto conn = FramedConnection::Serve(fds[0], 1024, a.OnFrame(), a.OnClose());
  ::close(fds[1]);
  ASSERT_TRUE(a.WaitClosed());
  EXPECT_EQ(a.why.code(), StatusCode::kDisconnected);
  EXPECT_FALSE(conn->Send(1, "late", ""));
  conn->Close(Status::OK());
  EXPECT_EQ(a.closes, 1);
}

TEST(FramedConnectionTest, AnOversizedFrameClosesTheConnection) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Inbox a, b;
  auto sender = FramedConnection::Serve(fds[0], 1 << 20, a.OnFrame(), a.OnClose());
  auto receiver = FramedConnection::Serve(fds[1], 16, b.OnFrame(), b.OnClose());
  ASSERT_TRUE(sender->Send(1, std::string(100, 'y'), ""));
  ASSERT_TRUE(b.WaitClosed());
  EXPECT_EQ(b.why.code(), StatusCode::kInvalid);
  EXPECT_TRUE(b.frames.empty());
  ASSERT_TRUE(a.WaitClosed());  // the receiver hung up
  sender->Close(Status::OK());
}

TEST(FramedConnectionTest, CloseFromItsOwnFrameCallbackDoesNotDeadlock) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Inbox a, b;
  std::shared_ptr<FramedConnection> receiver;
  std::promise<void> ready;
  auto ready_future = ready.get_future();
  receiver = FramedConnection::Serve(
      fds[1], 1024,
      [&](uint32_t, std::string) {
        ready_future.wait();
        receiver->Close(Status::Invalid("seen enough"));
      },
      b.OnClose());
  ready.set_value();
  auto sender = FramedConnection::Serve(fds[0], 1024, a.OnFrame(), a.OnClose());
  ASSERT_TRUE(sender->Send(1, "a", ""));
  ASSERT_TRUE(b.WaitClosed());
  EXPECT_EQ(b.why.code(), StatusCode::kInvalid);
  receiver->Close(Status::OK());
  sender->Close(Status::OK());
}

TEST(FramedConnectionTest, ConnectsOverTcpAndQueuesFramesUntilConnected) {
  int port = 0;
  int listener = LoopbackSocket(&port);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  Inbox a, b;
  auto client = FramedConnection::Connect("127.0.0.1", port, 5000, 1024, a.OnFrame(), a.OnClose());
  ASSERT_TRUE(client->Send(5, "early", ""));
  int fd = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(fd, 0);
  auto server = FramedConnection::Serve(fd, 1024, b.OnFrame(), b.OnClose());
  ASSERT_TRUE(b.WaitFrames(1));
  EXPECT_EQ(b.frames[0].second, "early");
  ASSERT_TRUE(server->Send(6, "back", ""));
  ASSERT_TRUE(a.WaitFrames(1));
  EXPECT_EQ(a.frames[0].second, "back");
  client->Close(Status::OK());
  server->Close(Status::OK());
  ::close(listener);
}

TEST(FramedConnectionTest, ConnectingToAClosedPortFails) {
  int port = 0;
  int probe = LoopbackSocket(&port);
  ASSERT_GE(probe, 0);
  ::close(probe);  // a port nothing listens on
  Inbox a;
  auto client = FramedConnection::Connect("127.0.0.1", port, 5000, 1024, a.OnFrame(), a.OnClose());
  client->Send(1, "lost", "");
  ASSERT_TRUE(a.WaitClosed());
  EXPECT_FALSE(a.why.ok());
  EXPECT_NE(a.why.message().find("connect"), std::string::npos) << a.why.message();
  client->Close(Status::OK());
}

TEST(FramedConnectionTest, ANonNumericAddressFailsWithAClearError) {
  Inbox a;
  auto client = FramedConnection::Connect("no-such-host", 1, 5000, 1024, a.OnFrame(), a.OnClose());
  ASSERT_TRUE(a.WaitClosed());
  EXPECT_EQ(a.why.code(), StatusCode::kInvalid);
  EXPECT_FALSE(client->Send(1, "x", ""));
}

}  // namespace
}  // namespace cyray::rpc
