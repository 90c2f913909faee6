// Framing for the raylet's Unix-socket protocol: each message is a header
// [uint32 type][uint32 length] (little-endian) followed by `length` bytes.
// The blocking helpers below serve clients (core workers); the raylet uses the
// header codec with its asynchronous sockets. Functions are stateless and
// thread-safe; one fd must not be written by two threads at once.
#pragma once

#include <cstdint>
#include <string>

#include "cyray/common/status.h"

namespace cyray {

constexpr size_t kFrameHeaderSize = 8;
// Larger frames are a protocol error: the connection is closed.
constexpr uint32_t kMaxFrameSize = 64 * 1024 * 1024;

void EncodeFrameHeader(uint32_t type, uint32_t length, uint8_t out[kFrameHeaderSize]);
// Fails when the length exceeds `max_length`.
Status DecodeFrameHeader(const uint8_t in[kFrameHeaderSize], uint32_t *type, uint32_t *length,
                         uint32_t max_length = kMaxFrameSize);

// Connects to the Unix socket at `path`. With `nonblocking` the socket is
// non-blocking and the connect does not wait: a listener whose backlog is
// full fails it (EAGAIN) instead of holding the caller.
StatusOr<int> ConnectUnixSocket(const std::string &path, bool nonblocking = false);
// Listens on a Unix socket at `path`, made for this user only (mode 0700
// through the umask); a file already there (left by a dead process) is
// replaced.
StatusOr<int> ListenUnixSocket(const std::string &path, int backlog = 128);
Status WriteFrame(int fd, uint32_t type, const std::string &payload);
// Blocks until a whole frame arrives; Disconnected on EOF.
Status ReadFrame(int fd, uint32_t *type, std::string *payload);

// A frame with a file descriptor attached (SCM_RIGHTS), written in one
// sendmsg: meant for a small reply on an otherwise idle socket.
Status WriteFrameWithFd(int sock, uint32_t type, const std::string &payload, int fd_to_send);
// Reads such a frame; *received_fd is the descriptor (close it when done).
Status ReadFrameWithFd(int sock, uint32_t *type, std::string *payload, int *received_fd);

}  // namespace cyray
