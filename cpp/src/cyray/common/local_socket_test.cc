#include "cyray/common/local_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cyray {

TEST(LocalSocketTest, HeaderRoundTrip) {
  uint8_t header[kFrameHeaderSize];
  EncodeFrameHeader(7, 1234, header);
  uint32_t type = 0, length = 0;
  ASSERT_TRUE(DecodeFrameHeader(header, &type, &length).ok());
  EXPECT_EQ(type, 7u);
  EXPECT_EQ(length, 1234u);
}

TEST(LocalSocketTest, OversizedFrameIsRejected) {
  uint8_t header[kFrameHeaderSize];
  EncodeFrameHeader(1, kMaxFrameSize + 1, header);
  uint32_t type, length;
  EXPECT_FALSE(DecodeFrameHeader(header, &type, &length).ok());
}

TEST(LocalSocketTest, FramesCrossASocketPairAndEofIsDisconnected) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ASSERT_TRUE(WriteFrame(fds[0], 3, "hello").ok());
  ASSERT_TRUE(WriteFrame(fds[0], 4, "").ok());
  uint32_t type;
  std::string payload;
  ASSERT_TRUE(ReadFrame(fds[1], &type, &payload).ok());
  EXPECT_EQ(type, 3u);
  EXPECT_EQ(payload, "hello");
  ASSERT_TRUE(ReadFrame(fds[1], &type, &payload).ok());
  EXPECT_EQ(type, 4u);
  EXPECT_EQ(payload, "");
  ::close(fds[0]);
  Status s = ReadFrame(fds[1], &type, &payload);
  EXPECT_EQ(s.code(), StatusCode::kDisconnected);
  ::close(fds[1]);
}

TEST(LocalSocketTest, DescriptorsTravelWithAFrame) {
  int fds[2], pipe_fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ASSERT_TRUE(WriteFrameWithFd(fds[0], 11, "cap", pipe_fds[1]).ok());
  uint32_t type;
  std::string payload;
  int received = -1;
  ASSERT_TRUE(ReadFrameWithFd(fds[1], &type, &payload, &received).ok());
  EXPECT_EQ(type, 11u);
  EXPECT_EQ(payload, "cap");
  // The received descriptor is the pipe's write end: bytes written reach the pipe.
  ASSERT_EQ(::write(received, "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(pipe_fds[0], &c, 1), 1);
  EXPECT_EQ(c, 'x');
  for (int fd : {fds[0], fds[1], pipe_fds[0], pipe_fds[1], received}) ::close(fd);
}

TEST(LocalSocketTest, ConnectToMissingSocketFails) {
  auto fd = ConnectUnixSocket("/nonexistent/cyray.sock");
  EXPECT_FALSE(fd.ok());
}

TEST(LocalSocketTest, ListenReplacesAStaleFileAndOnlyItsUserMayConnect) {
  char dir_pattern[] = "/tmp/cyray_local_socket_XXXXXX";
  const std::string dir = ::mkdtemp(dir_pattern);
  const std::string path = dir + "/s.sock";
  ::close(::open(path.c_str(), O_CREAT | O_WRONLY, 0644));  // left by a dead process
  auto listener = ListenUnixSocket(path);
  ASSERT_TRUE(listener.ok()) << listener.status();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0077, 0u) << "group and others may not connect";
  auto client = ConnectUnixSocket(path, /*nonblocking=*/true);
  ASSERT_TRUE(client.ok()) << client.status();
  ::close(*client);
  ::close(*listener);
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
  EXPECT_FALSE(ConnectUnixSocket(std::string(200, 'x')).ok()) << "too long for sun_path";
}

}  // namespace cyray
