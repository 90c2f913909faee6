#include "cyray/rpc/framed_connection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>

#include "cyray/common/clock.h"
#include "cyray/common/local_socket.h"

namespace cyray::rpc {
namespace {

Status SocketError(const std::string &what, int err) {
  return Status::Disconnected(what + ": " + std::strerror(err));
}

void SetNoDelay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

bool ToSocketAddress(const std::string &ip, int port, sockaddr_storage *addr, uint32_t *addr_len) {
  *addr = {};
  auto *v4 = reinterpret_cast<sockaddr_in *>(addr);
  auto *v6 = reinterpret_cast<sockaddr_in6 *>(addr);
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *addr_len = sizeof(*v4);
    return true;
  }
  if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *addr_len = sizeof(*v6);
    return true;
  }
  return false;
}

FramedConnection::FramedConnection(int fd, bool connecting, int64_t connect_deadline_ms,
                                   uint32_t max_frame, OnFrame on_frame, OnClose on_close)
    : fd_(fd),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      max_frame_(max_frame),
      connect_deadline_ms_(connect_deadline_ms),
      on_frame_(std::move(on_frame)),
      on_close_(std::move(on_close)),
      connecting_(connecting) {}

FramedConnection::~FramedConnection() {
  if (fd_ >= 0) ::close(fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::shared_ptr<FramedConnection> FramedConnection::Serve(int fd, uint32_t max_frame,
                                                          OnFrame on_frame, OnClose on_close) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  SetNoDelay(fd);
  std::shared_ptr<FramedConnection> conn(
      new FramedConnection(fd, false, 0, max_frame, std::move(on_frame), std::move(on_close)));
  std::thread([conn] { conn->Run(); }).detach();
  return conn;
}

std::shared_ptr<FramedConnection> FramedConnection::Connect(const std::string &ip, int port,
                                                            int64_t connect_timeout_ms,
                                                            uint32_t max_frame, OnFrame on_frame,
                                                            OnClose on_close) {
  sockaddr_storage addr{};
  uint32_t addr_len = 0;
  Status failed;
  int fd = -1;
  bool connecting = false;
  if (!ToSocketAddress(ip, port, &addr, &addr_len)) {
    failed = Status::Invalid("not a numeric IP address: " + ip);
  } else {
    fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      failed = SocketError("socket", errno);
    } else {
      SetNoDelay(fd);
      if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), addr_len) != 0) {
        if (errno == EINPROGRESS) {
          connecting = true;
        } else {
          failed = SocketError("could not connect to " + ip + ":" + std::to_string(port), errno);
        }
      }
    }
  }
  std::shared_ptr<FramedConnection> conn(
      new FramedConnection(fd, connecting, SteadyNowMs() + connect_timeout_ms, max_frame,
                           std::move(on_frame), std::move(on_close)));
  // A connection that failed at once still reports it the usual way, on its thread.
  if (!failed.ok()) conn->RequestClose(failed);
  std::thread([conn] { conn->Run(); }).detach();
  return conn;
}

std::shared_ptr<FramedConnection> FramedConnection::ConnectLocal(const std::string &path,
                                                                 uint32_t max_frame,
                                                                 OnFrame on_frame,
                                                                 OnClose on_close) {
  // A Unix socket connects at once, or fails (EAGAIN: the listener's backlog is full).
  auto fd = ConnectUnixSocket(path, /*nonblocking=*/true);
  if (!fd.ok()) return nullptr;
  return Serve(*fd, max_frame, std::move(on_frame), std::move(on_close));
}

void FramedConnection::Wake() {
  uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof(one)) < 0) {
    // EAGAIN: the counter is saturated, so the thread is woken anyway.
  }
}

bool FramedConnection::EncodeHeader(uint32_t type, std::string_view head, std::string_view body,
                                    uint8_t header[kFrameHeaderSize]) const {
  const size_t length = head.size() + body.size();
  if (length > max_frame_) return false;
  EncodeFrameHeader(type, static_cast<uint32_t>(length), header);
  return true;
}

bool FramedConnection::Send(uint32_t type, std::string_view head, std::string_view body,
                            bool flush) {
  uint8_t header[kFrameHeaderSize];
  if (!EncodeHeader(type, head, body, header)) return false;
  const size_t length = head.size() + body.size();
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_.load() || close_requested_.load()) return false;
  size_t written = 0;
  if (flush && !connecting_ && outbox_.empty()) {
    // The common case: the kernel takes the whole frame now, from this thread.
    iovec parts[3] = {{header, kFrameHeaderSize},
                      {const_cast<char *>(head.data()), head.size()},
                      {const_cast<char *>(body.data()), body.size()}};
    msghdr msg{};
    msg.msg_iov = parts;
    msg.msg_iovlen = 3;
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    // An error other than a full buffer shows again on the connection's thread.
    if (n > 0) written = static_cast<size_t>(n);
    if (written == kFrameHeaderSize + length) return true;
  }
  const bool was_empty = outbox_.empty();
  auto append_from = [&](const char *data, size_t size, size_t skip) {
    if (skip < size) outbox_.append(data + skip, size - skip);
  };
  append_from(reinterpret_cast<const char *>(header), kFrameHeaderSize, written);
  written = written > kFrameHeaderSize ? written - kFrameHeaderSize : 0;
  append_from(head.data(), head.size(), written);
  written = written > head.size() ? written - head.size() : 0;
  append_from(body.data(), body.size(), written);
  if (flush && !connecting_ && hold_until_us_ != 0) {
    // Frames that SendSoon held go now, in this frame's write.
    int err = 0;
    (void)WriteOutboxLocked(&err);  // an error shows again on the connection's thread
    if (outbox_.empty()) {
      cv_.notify_all();
    } else {
      Wake();  // the rest when the socket takes it
    }
    return true;
  }
  if (flush && was_empty) Wake();
  return true;
}

bool FramedConnection::SendSoon(uint32_t type, std::string_view head, std::string_view body,
                                int64_t within_us) {
  uint8_t header[kFrameHeaderSize];
  if (!EncodeHeader(type, head, body, header)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_.load() || close_requested_.load()) return false;
  const bool was_empty = outbox_.empty();
  outbox_.append(reinterpret_cast<const char *>(header), kFrameHeaderSize);
  outbox_.append(head.data(), head.size());
  outbox_.append(body.data(), body.size());
  if (was_empty) {
    // The thread learns the deadline (one wake per batch, not per frame).
    hold_until_us_ = SteadyNowUs() + within_us;
    Wake();
  }
  return true;
}

void FramedConnection::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  if (connecting_ || outbox_.empty() || closed_.load()) return;
  int err = 0;
  (void)WriteOutboxLocked(&err);  // an error shows again on the connection's thread
  if (outbox_.empty()) {
    cv_.notify_all();
  } else {
    Wake();
  }
}

bool FramedConnection::WriteOutboxLocked(int *err) {
  hold_until_us_ = 0;  // what the socket does not take now, the thread writes when it can
  size_t sent = 0;
  bool ok = true;
  while (sent < outbox_.size()) {
    ssize_t n =
        ::send(fd_, outbox_.data() + sent, outbox_.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        *err = errno;
        ok = false;
      }
      break;
    }
    sent += static_cast<size_t>(n);
  }
  outbox_.erase(0, sent);
  return ok;
}

bool FramedConnection::WaitFlushed(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [this] { return thread_done_ || (!connecting_ && outbox_.empty()); });
}

bool FramedConnection::RequestClose(const Status &why) {
  bool on_own_thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!close_requested_.load()) {
      close_reason_ = why;
      close_requested_ = true;
    }
    on_own_thread = thread_id_ == std::this_thread::get_id();
  }
  Wake();
  return on_own_thread;
}

void FramedConnection::Close(const Status &why) {
  if (RequestClose(why)) return;  // on its own thread: the loop ends after the current frame
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return thread_done_; });
}

bool FramedConnection::FinishConnect(Status *why) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    *why = SocketError("could not connect", err);
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  connecting_ = false;
  return true;
}

bool FramedConnection::FlushOutbox(Status *why) {
  std::lock_guard<std::mutex> lock(mu_);
  int err = 0;
  if (!WriteOutboxLocked(&err)) {
    *why = SocketError("send", err);
    return false;
  }
  if (outbox_.empty()) cv_.notify_all();
  return true;
}

bool FramedConnection::ReadAvailable(Status *why) {
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd_, buffer, sizeof(buffer));
    if (n == 0) {
      *why = Status::Disconnected("the connection was closed by the other side");
      return false;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      *why = SocketError("read", errno);
      return false;
    }
    inbox_.append(buffer, static_cast<size_t>(n));
    size_t pos = 0;
    while (inbox_.size() - pos >= kFrameHeaderSize && !close_requested_.load()) {
      uint32_t type = 0, length = 0;
      Status ok = DecodeFrameHeader(reinterpret_cast<const uint8_t *>(inbox_.data() + pos), &type,
                                    &length, max_frame_);
      if (!ok.ok()) {
        *why = ok;
        return false;
      }
      if (inbox_.size() - pos - kFrameHeaderSize < length) {
        // A large frame: room for all of it at once, not doubling by halves.
        inbox_.reserve(pos + kFrameHeaderSize + length);
        break;
      }
      std::string body = inbox_.substr(pos + kFrameHeaderSize, length);
      pos += kFrameHeaderSize + length;
      on_frame_(type, std::move(body));
    }
    inbox_.erase(0, pos);
    if (close_requested_.load()) return true;
    if (static_cast<size_t>(n) < sizeof(buffer)) return true;  // drained for now
  }
}

void FramedConnection::Run() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    thread_id_ = std::this_thread::get_id();
  }
  Status why;
  while (true) {
    if (close_requested_.load()) {
      std::lock_guard<std::mutex> lock(mu_);
      why = close_reason_;
      break;
    }
    bool connecting, want_write;
    int64_t hold_until_us;
    {
      std::lock_guard<std::mutex> lock(mu_);
      connecting = connecting_;
      hold_until_us = hold_until_us_;
      want_write = connecting_ || !outbox_.empty();
    }
    int64_t timeout_us = -1;
    if (connecting) {
      int64_t left = connect_deadline_ms_ - SteadyNowMs();
      if (left <= 0) {
        why = Status::TimedOut("could not connect in time");
        break;
      }
      timeout_us = left * 1000;
    } else if (hold_until_us != 0) {
      // Held frames wait for their deadline (or a flush) to share a write.
      const int64_t left = hold_until_us - SteadyNowUs();
      if (left > 0) {
        want_write = false;
        timeout_us = left;
      }
    }
    pollfd fds[2] = {
        {fd_, static_cast<short>((connecting ? 0 : POLLIN) | (want_write ? POLLOUT : 0)), 0},
        {wake_fd_, POLLIN, 0}};
    const timespec timeout{static_cast<time_t>(timeout_us / 1000000),
                           static_cast<long>(timeout_us % 1000000) * 1000};
    int ready = ::ppoll(fds, 2, timeout_us < 0 ? nullptr : &timeout, nullptr);
    if (ready < 0) {
      if (errno == EINTR) continue;
      why = SocketError("poll", errno);
      break;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t count;
      while (::read(wake_fd_, &count, sizeof(count)) > 0) {
      }
    }
    const short events = fds[0].revents;
    if (connecting) {
      if (events == 0) continue;
      if (!FinishConnect(&why)) break;
      if (!FlushOutbox(&why)) break;
      continue;
    }
    if ((events & (POLLIN | POLLHUP | POLLERR)) && !ReadAvailable(&why)) break;
    if ((events & POLLOUT) && !FlushOutbox(&why)) break;
  }
  closed_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  on_close_(why);
  // Whatever the callbacks hold may refer back to this object.
  on_frame_ = nullptr;
  on_close_ = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    thread_done_ = true;
    outbox_.clear();
  }
  cv_.notify_all();
}

}  // namespace cyray::rpc
