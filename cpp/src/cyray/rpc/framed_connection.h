// A stream socket that carries frames both ways, in the framing of
// local_socket.h ([uint32 type][uint32 length][body]), for hot paths where a
// gRPC call costs several times a plain socket hop (see TOOLCHAIN.md).
//
// Senders write from their own thread, straight into the socket; only bytes
// the kernel cannot take at once wait in an outbox that the connection's own
// thread flushes. That thread also reads: each whole frame goes to OnFrame, on
// that thread. Frames of one connection arrive in the order they were sent.
//
// Thread-safe: Send, Flush, WaitFlushed and Close may come from any thread;
// fields below say which threads touch them. The connection's thread keeps the
// object alive while it runs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "cyray/common/status.h"

struct sockaddr_storage;

namespace cyray::rpc {

// Fills `*addr` with the numeric IPv4 or IPv6 address `ip` and `port`; false
// (nothing filled) when `ip` is not numeric.
bool ToSocketAddress(const std::string &ip, int port, sockaddr_storage *addr, uint32_t *addr_len);

class FramedConnection {
 public:
  using OnFrame = std::function<void(uint32_t type, std::string body)>;
  // Runs once, on the connection's thread, when the connection ends for any reason.
  using OnClose = std::function<void(const Status &why)>;

  // Serves an already connected socket `fd` (taken over).
  static std::shared_ptr<FramedConnection> Serve(int fd, uint32_t max_frame, OnFrame on_frame,
                                                 OnClose on_close);
  // Connects to `ip:port` over TCP without blocking the caller: frames sent
  // meanwhile wait in the outbox. Fails (OnClose) after `connect_timeout_ms`.
  static std::shared_ptr<FramedConnection> Connect(const std::string &ip, int port,
                                                   int64_t connect_timeout_ms, uint32_t max_frame,
                                                   OnFrame on_frame, OnClose on_close);
  // Connects to the Unix socket at `path`, at once or not at all: nullptr (and
  // no OnClose) when nothing accepts there now, so the caller can try another
  // way. A same-host hop over a Unix socket costs a fraction of loopback TCP's.
  static std::shared_ptr<FramedConnection> ConnectLocal(const std::string &path, uint32_t max_frame,
                                                        OnFrame on_frame, OnClose on_close);
  ~FramedConnection();

  // Sends the frame `type` whose body is `head` followed by `body` (two parts
  // so a caller can prefix a serialized message without copying it). False
  // once the connection is closed (OnClose has run or will). With `flush`
  // false the frame waits in the outbox for Flush (or the connection's thread,
  // if it wakes first): several frames then cost one write and wake the other
  // side once.
  bool Send(uint32_t type, std::string_view head, std::string_view body, bool flush = true);
  // Sends a frame that may wait up to `within_us` for frames sent after it, to
  // share their write: the connection's thread writes it by then, unless a
  // Send with `flush` or a Flush writes it first.
  bool SendSoon(uint32_t type, std::string_view head, std::string_view body, int64_t within_us);
  // Writes what the outbox holds now, from this thread; what the kernel does
  // not take, the connection's thread writes.
  void Flush();
  // Waits until every frame sent so far has left the outbox (or the connection
  // closed); false on timeout.
  bool WaitFlushed(int64_t timeout_ms);
  // Ends the connection: OnClose runs with `why` (unless it already ran).
  // From another thread, returns once the connection's thread is done.
  void Close(const Status &why);

 private:
  FramedConnection(int fd, bool connecting, int64_t connect_deadline_ms, uint32_t max_frame,
                   OnFrame on_frame, OnClose on_close);
  void Run();
  // The header of a frame of `head` + `body`; false when above max_frame_.
  bool EncodeHeader(uint32_t type, std::string_view head, std::string_view body,
                    uint8_t header[]) const;
  // Asks the thread to end; true when called on the connection's own thread.
  bool RequestClose(const Status &why);
  // Reads what the socket holds; false (with *why) when the connection ended.
  bool ReadAvailable(Status *why);
  // Writes what the outbox holds; false (with *why) on a socket error.
  bool FlushOutbox(Status *why);
  // Writes the outbox until the kernel takes no more; false (errno in *err)
  // on a socket error. Needs mu_.
  bool WriteOutboxLocked(int *err) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool FinishConnect(Status *why);
  void Wake();

  const int fd_;
  const int wake_fd_;  // an eventfd: Send and Close wake the connection's thread with it
  const uint32_t max_frame_;
  const int64_t connect_deadline_ms_;  // steady-clock ms; 0 when connected from the start
  // Called, then cleared, on the connection's thread only.
  OnFrame on_frame_;
  OnClose on_close_;

  // Senders, closers and the connection's thread meet here.
  std::mutex mu_;
  std::condition_variable cv_;
  bool connecting_ ABSL_GUARDED_BY(mu_);
  std::string outbox_ ABSL_GUARDED_BY(mu_);  // bytes the socket has not taken yet
  // Steady-clock us by which the connection's thread writes frames SendSoon
  // left in the outbox; 0 when the outbox holds none (or only what the socket
  // did not take, which it writes as soon as it can).
  int64_t hold_until_us_ ABSL_GUARDED_BY(mu_) = 0;
  bool thread_done_ ABSL_GUARDED_BY(mu_) = false;
  Status close_reason_ ABSL_GUARDED_BY(mu_);  // set by the first Close
  std::thread::id thread_id_ ABSL_GUARDED_BY(mu_);
  // Set once by the connection's thread as it ends; read by senders.
  std::atomic<bool> closed_{false};
  // Set once by Close (any thread); read by the connection's thread and senders.
  std::atomic<bool> close_requested_{false};
  std::string inbox_;  // connection thread only: bytes read, not yet a whole frame
};

}  // namespace cyray::rpc
