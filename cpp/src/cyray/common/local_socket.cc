#include "cyray/common/local_socket.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace cyray {
namespace {

void PutU32(uint32_t v, uint8_t *out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint32_t GetU32(const uint8_t *in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(in[i]) << (8 * i);
  return v;
}

Status WriteAll(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("write to local socket: ") + std::strerror(errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::OK();
}

Status ReadAll(int fd, char *data, size_t size) {
  while (size > 0) {
    ssize_t n = ::read(fd, data, size);
    if (n == 0) return Status::Disconnected("local socket closed by peer");
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("read from local socket: ") + std::strerror(errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace

void EncodeFrameHeader(uint32_t type, uint32_t length, uint8_t out[kFrameHeaderSize]) {
  PutU32(type, out);
  PutU32(length, out + 4);
}

Status DecodeFrameHeader(const uint8_t in[kFrameHeaderSize], uint32_t *type, uint32_t *length,
                         uint32_t max_length) {
  *type = GetU32(in);
  *length = GetU32(in + 4);
  if (*length > max_length) {
    return Status::Invalid("frame of " + std::to_string(*length) + " bytes exceeds the limit of " +
                           std::to_string(max_length));
  }
  return Status::OK();
}

namespace {

// A new Unix stream socket and the address of `path` (Invalid when too long).
StatusOr<int> UnixSocketFor(const std::string &path, bool nonblocking, sockaddr_un *addr) {
  *addr = {};
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) {
    return Status::Invalid("socket path empty or too long for a Unix socket: " + path);
  }
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return Status::IOError(std::string("socket: ") + std::strerror(errno));
  return fd;
}

}  // namespace

StatusOr<int> ConnectUnixSocket(const std::string &path, bool nonblocking) {
  sockaddr_un addr;
  auto fd = UnixSocketFor(path, nonblocking, &addr);
  if (!fd.ok()) return fd.status();
  if (::connect(*fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(*fd);
    return Status::IOError("connect to " + path + ": " + std::strerror(err));
  }
  return *fd;
}

StatusOr<int> ListenUnixSocket(const std::string &path, int backlog) {
  sockaddr_un addr;
  auto fd = UnixSocketFor(path, false, &addr);
  if (!fd.ok()) return fd.status();
  ::unlink(path.c_str());
  const mode_t old_mask = ::umask(077);
  const bool bound = ::bind(*fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0;
  ::umask(old_mask);
  if (!bound || ::listen(*fd, backlog) != 0) {
    int err = errno;
    ::close(*fd);
    return Status::IOError("listen on " + path + ": " + std::strerror(err));
  }
  return *fd;
}

Status WriteFrame(int fd, uint32_t type, const std::string &payload) {
  if (payload.size() > kMaxFrameSize) return Status::Invalid("local frame too large");
  std::string buf(kFrameHeaderSize, '\0');
  EncodeFrameHeader(type, static_cast<uint32_t>(payload.size()),
                    reinterpret_cast<uint8_t *>(&buf[0]));
  buf += payload;
  return WriteAll(fd, buf.data(), buf.size());
}

Status ReadFrame(int fd, uint32_t *type, std::string *payload) {
  uint8_t header[kFrameHeaderSize];
  CYRAY_RETURN_NOT_OK(ReadAll(fd, reinterpret_cast<char *>(header), kFrameHeaderSize));
  uint32_t length = 0;
  CYRAY_RETURN_NOT_OK(DecodeFrameHeader(header, type, &length));
  payload->resize(length);
  if (length == 0) return Status::OK();
  return ReadAll(fd, &(*payload)[0], length);
}

Status WriteFrameWithFd(int sock, uint32_t type, const std::string &payload, int fd_to_send) {
  std::string frame(kFrameHeaderSize, '\0');
  EncodeFrameHeader(type, static_cast<uint32_t>(payload.size()),
                    reinterpret_cast<uint8_t *>(&frame[0]));
  frame += payload;
  iovec iov{frame.data(), frame.size()};
  char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd_to_send, sizeof(int));
  ssize_t sent = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  if (sent != static_cast<ssize_t>(frame.size())) {
    return Status::IOError(std::string("sending a descriptor: ") + std::strerror(errno));
  }
  return Status::OK();
}

Status ReadFrameWithFd(int sock, uint32_t *type, std::string *payload, int *received_fd) {
  uint8_t header[kFrameHeaderSize];
  iovec iov{header, kFrameHeaderSize};
  char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = ::recvmsg(sock, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC);
  if (n != static_cast<ssize_t>(kFrameHeaderSize)) {
    return Status::IOError("reading a frame with a descriptor failed");
  }
  *received_fd = -1;
  for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::memcpy(received_fd, CMSG_DATA(c), sizeof(int));
    }
  }
  uint32_t length = 0;
  CYRAY_RETURN_NOT_OK(DecodeFrameHeader(header, type, &length));
  payload->resize(length);
  if (length > 0) CYRAY_RETURN_NOT_OK(ReadAll(sock, &(*payload)[0], length));
  return *received_fd >= 0 ? Status::OK() : Status::IOError("the frame carried no descriptor");
}

}  // namespace cyray
