#include "cyray/core_worker/task_channel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "cyray/common/clock.h"
#include "cyray/common/local_socket.h"
#include "cyray/common/logging.h"
#include "cyray/common/secure_random.h"

namespace cyray::core {
namespace {

constexpr size_t kCallIdSize = 8;
// Room a reply frame keeps for its head (call id, flag, error message).
constexpr size_t kReplyHeadRoom = 1024;

void PutU64(uint64_t v, char *out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}

uint64_t GetU64(const char *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

// The head of a kReply frame: call id, ok flag and error message.
std::string ReplyHead(uint64_t call_id, const Status &status) {
  const std::string message = status.ok() ? "" : status.message();
  std::string head(kCallIdSize + 1 + 4, '\0');
  PutU64(call_id, head.data());
  head[kCallIdSize] = status.ok() ? 1 : 0;
  const uint32_t n = static_cast<uint32_t>(message.size());
  for (int i = 0; i < 4; ++i) head[kCallIdSize + 1 + i] = static_cast<char>(n >> (8 * i));
  return head + message;
}

}  // namespace

std::string TaskSocketPath(const std::string &dir, const std::string &ip, int port) {
  return dir + "/task_" + ip + "_" + std::to_string(port) + ".sock";
}

// ---------------------------------------------------------------- client

struct TaskChannelClient::Peer {
  std::string key;
  std::shared_ptr<rpc::FramedConnection> conn;  // set once, under the client's mu_
  bool unflushed = false;                       // guarded by the client's mu_: listed in unflushed_
  // The pusher's thread and the connection's thread meet here.
  std::mutex mu;
  bool closed ABSL_GUARDED_BY(mu) = false;
  std::string refusal ABSL_GUARDED_BY(mu);     // the worker's kRefused text
  std::string end_reason ABSL_GUARDED_BY(mu);  // why it closed, once closed

  // What a call on this connection fails with once it ended.
  std::string EndedMessage() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return "PushTask: the connection to the worker at " + key + " ended (" +
           (end_reason.empty() ? "closed" : end_reason) + ")";
  }
  std::unordered_map<uint64_t, Callback> pending ABSL_GUARDED_BY(mu);
};

TaskChannelClient::TaskChannelClient(std::string token, int64_t connect_timeout_ms,
                                     uint32_t max_frame)
    : token_(std::move(token)), connect_timeout_ms_(connect_timeout_ms), max_frame_(max_frame) {}

TaskChannelClient::~TaskChannelClient() { Shutdown(); }

void TaskChannelClient::SetLocalNode(std::string node_id, std::string session_dir) {
  std::lock_guard<std::mutex> lock(mu_);
  local_node_id_ = std::move(node_id);
  local_dir_ = std::move(session_dir);
}

std::shared_ptr<TaskChannelClient::Peer> TaskChannelClient::GetPeer(const rpc::Address &worker) {
  const std::string &ip = worker.ip_address();
  const int port = worker.task_port();
  std::string key = ip + ":" + std::to_string(port);
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return nullptr;
  auto &peer = peers_[key];
  if (peer) return peer;
  peer = std::make_shared<Peer>();
  peer->key = key;
  std::weak_ptr<Peer> weak = peer;
  // The callbacks hold the peer weakly: the peer holds the connection.
  auto on_frame = [this, weak](uint32_t type, std::string body) {
    if (auto p = weak.lock()) OnFrame(*p, type, body);
  };
  auto on_close = [this, weak](const Status &why) {
    if (auto p = weak.lock()) OnClose(p, why);
  };
  if (!local_dir_.empty() && !worker.node_id().empty() && worker.node_id() == local_node_id_) {
    peer->conn = rpc::FramedConnection::ConnectLocal(TaskSocketPath(local_dir_, ip, port),
                                                     max_frame_, on_frame, on_close);
  }
  if (!peer->conn) {
    peer->conn = rpc::FramedConnection::Connect(ip, port, connect_timeout_ms_, max_frame_, on_frame,
                                                on_close);
  }
  peer->conn->Send(kTaskHello, token_, "");
  return peer;
}

void TaskChannelClient::Push(const rpc::Address &worker, const rpc::PushTaskRequest &request,
                             Callback callback, bool flush) {
  rpc::PushTaskReply no_reply;
  std::string serialized = request.SerializeAsString();
  if (serialized.size() + kCallIdSize > max_frame_) {
    callback(Status::Invalid("PushTask: the request takes " + std::to_string(serialized.size()) +
                             " bytes, above the " + std::to_string(max_frame_) +
                             "-byte message limit (CYRAY_max_grpc_message_size)"),
             no_reply);
    return;
  }
  std::shared_ptr<Peer> peer = GetPeer(worker);
  if (!peer) {
    callback(Status::Disconnected("PushTask: this process is shutting down"), no_reply);
    return;
  }
  const uint64_t call_id = next_call_id_++;
  std::string ended;  // set when the connection ended before the call was registered
  {
    std::lock_guard<std::mutex> lock(peer->mu);
    if (peer->closed) {
      // It may have ended at once (a refusal comes back fast over a Unix socket).
      ended = peer->EndedMessage();
    } else {
      peer->pending.emplace(call_id, std::move(callback));
    }
  }
  if (!ended.empty()) {
    callback(Status::Disconnected(ended), no_reply);
    return;
  }
  char head[kCallIdSize];
  PutU64(call_id, head);
  if (peer->conn->Send(kTaskPush, std::string_view(head, kCallIdSize), serialized, flush)) {
    if (!flush) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!peer->unflushed) {
        peer->unflushed = true;
        unflushed_.push_back(peer);
      }
    }
    return;
  }
  // Closed meanwhile: OnClose fails the call, unless it ran before the insert.
  Callback unsent;
  {
    std::lock_guard<std::mutex> lock(peer->mu);
    auto it = peer->pending.find(call_id);
    if (it == peer->pending.end()) return;
    unsent = std::move(it->second);
    peer->pending.erase(it);
    ended = peer->EndedMessage();
  }
  unsent(Status::Disconnected(ended), no_reply);
}

void TaskChannelClient::Flush() {
  std::vector<std::shared_ptr<Peer>> peers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    peers.swap(unflushed_);
    for (auto &peer : peers) peer->unflushed = false;
  }
  for (auto &peer : peers) peer->conn->Flush();
}

void TaskChannelClient::OnFrame(Peer &peer, uint32_t type, const std::string &body) {
  if (type == kTaskRefused) {
    {
      std::lock_guard<std::mutex> lock(peer.mu);
      peer.refusal = body;
    }
    // The caller hangs up: a refusal the worker closed on could be lost to a reset.
    peer.conn->Close(Status::Invalid(body));
    return;
  }
  if (type != kTaskReply || body.size() < kCallIdSize + 5) {
    peer.conn->Close(Status::IOError("PushTask: a malformed frame from the worker"));
    return;
  }
  const uint64_t call_id = GetU64(body.data());
  const bool ok = body[kCallIdSize] != 0;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<uint32_t>(static_cast<uint8_t>(body[kCallIdSize + 1 + i])) << (8 * i);
  }
  const size_t offset = kCallIdSize + 5;
  if (body.size() - offset < n) {
    peer.conn->Close(Status::IOError("PushTask: a malformed reply from the worker"));
    return;
  }
  Callback callback;
  {
    std::lock_guard<std::mutex> lock(peer.mu);
    auto it = peer.pending.find(call_id);
    if (it == peer.pending.end()) return;
    callback = std::move(it->second);
    peer.pending.erase(it);
  }
  rpc::PushTaskReply reply;
  if (!ok) {
    callback(Status::Disconnected("PushTask: " + body.substr(offset, n)), reply);
    return;
  }
  if (!reply.ParseFromArray(body.data() + offset + n, static_cast<int>(body.size() - offset - n))) {
    callback(Status::IOError("PushTask: could not parse the worker's reply"), reply);
    return;
  }
  callback(Status::OK(), reply);
}

void TaskChannelClient::OnClose(const std::shared_ptr<Peer> &peer, const Status &why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peers_.find(peer->key);
    if (it != peers_.end() && it->second == peer) peers_.erase(it);
  }
  std::unordered_map<uint64_t, Callback> failed;
  std::string message;
  {
    std::lock_guard<std::mutex> lock(peer->mu);
    peer->closed = true;
    peer->end_reason = peer->refusal.empty() ? why.message() : peer->refusal;
    failed.swap(peer->pending);
    message = peer->EndedMessage();
  }
  rpc::PushTaskReply no_reply;
  for (auto &[id, callback] : failed) callback(Status::Disconnected(message), no_reply);
}

void TaskChannelClient::Shutdown() {
  std::unordered_map<std::string, std::shared_ptr<Peer>> peers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
    peers.swap(peers_);
    unflushed_.clear();
  }
  for (auto &[key, peer] : peers) {
    peer->conn->Close(Status::Disconnected("this process is shutting down"));
  }
}

// ---------------------------------------------------------------- server

namespace {

// One PushTask that arrived over the channel; the reply goes back over the
// same connection.
class ChannelResponder : public TaskResponder {
 public:
  ChannelResponder(std::weak_ptr<rpc::FramedConnection> conn, uint64_t call_id, uint32_t max_frame)
      : conn_(std::move(conn)), call_id_(call_id), max_frame_(max_frame) {}
  rpc::PushTaskRequest request;
  rpc::PushTaskReply reply;

  void Finish(const Status &status) override { Answer(status, /*batched=*/false); }
  void FinishBatched(const Status &status) override { Answer(status, /*batched=*/true); }
  void WaitDone(int64_t timeout_ms) override {
    if (auto conn = conn_.lock()) conn->WaitFlushed(timeout_ms);
  }
  void Release() override {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

 private:
  void Answer(const Status &status, bool batched) {
    if (auto conn = conn_.lock()) {
      std::string body = status.ok() ? reply.SerializeAsString() : std::string();
      Status answer = status;
      if (body.size() + kReplyHeadRoom > max_frame_) {
        // Dropped, it would leave the caller waiting forever: it gets why instead.
        answer = Status::Invalid("the task's reply takes " + std::to_string(body.size()) +
                                 " bytes, above the " + std::to_string(max_frame_) +
                                 "-byte message limit (CYRAY_max_grpc_message_size)");
        body.clear();
      }
      if (batched) {
        conn->SendSoon(kTaskReply, ReplyHead(call_id_, answer), body, kReplyHoldUs);
      } else {
        conn->Send(kTaskReply, ReplyHead(call_id_, answer), body);
      }
    }
    Release();
  }

  std::weak_ptr<rpc::FramedConnection> conn_;
  const uint64_t call_id_;
  const uint32_t max_frame_;
  std::atomic<int> refs_{2};
};

}  // namespace

struct TaskChannelServer::Client {
  uint64_t id = 0;
  std::shared_ptr<rpc::FramedConnection> conn;
  // Steady-clock ms by which it must show the token; 0 once it has. Guarded
  // by the server's mu_.
  int64_t hello_deadline_ms = 0;
  bool authenticated = false;  // connection thread only
  bool refused = false;        // connection thread only: waits for the caller to hang up
};

TaskChannelServer::TaskChannelServer(std::string token, uint32_t max_frame, OnPush on_push,
                                     int64_t hello_timeout_ms, int max_unauthenticated)
    : token_(std::move(token)),
      max_frame_(max_frame),
      on_push_(std::move(on_push)),
      hello_timeout_ms_(hello_timeout_ms),
      max_unauthenticated_(max_unauthenticated) {}

TaskChannelServer::~TaskChannelServer() { Stop(); }

Status TaskChannelServer::Start(const std::string &ip, int *port, const std::string &session_dir) {
  sockaddr_storage addr{};
  uint32_t addr_len = 0;
  if (!rpc::ToSocketAddress(ip, 0, &addr, &addr_len)) {
    return Status::Invalid("the task channel needs a numeric IP address, not " + ip);
  }
  auto *v4 = reinterpret_cast<sockaddr_in *>(&addr);
  auto *v6 = reinterpret_cast<sockaddr_in6 *>(&addr);
  listen_fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Status::IOError(std::string("socket: ") + std::strerror(errno));
  if (::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), addr_len) != 0 ||
      ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&addr), &addr_len) != 0) {
    Status failed = Status::IOError("could not listen for the task channel on " + ip + ": " +
                                    std::strerror(errno));
    ::close(listen_fd_);
    listen_fd_ = -1;
    return failed;
  }
  *port = ntohs(addr.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  if (!session_dir.empty()) ListenLocal(TaskSocketPath(session_dir, ip, *port));
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) return Status::IOError(std::string("eventfd: ") + std::strerror(errno));
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return Status::OK();
}

void TaskChannelServer::ListenLocal(const std::string &path) {
  // A file left by a worker that died with this address is stale: ours now.
  // Only this user may connect (the token is still asked for).
  auto fd = ListenUnixSocket(path);
  if (!fd.ok()) {
    CYRAY_LOG(WARNING) << "task channel: " << fd.status() << "; callers on this node use TCP";
    return;
  }
  local_listen_fd_ = *fd;
  local_path_ = path;
}

void TaskChannelServer::AcceptLoop() {
  while (true) {
    pollfd fds[3] = {{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}, {local_listen_fd_, POLLIN, 0}};
    const nfds_t count = local_listen_fd_ >= 0 ? 3 : 2;
    const int64_t next_deadline_ms = CloseSilentConnections();
    if (::poll(fds, count, static_cast<int>(next_deadline_ms)) < 0) {
      if (errno == EINTR) continue;
      CYRAY_LOG(WARNING) << "task channel: poll failed: " << std::strerror(errno);
      return;
    }
    if (fds[0].revents) return;  // Stop
    for (nfds_t i = 1; i < count; ++i) {
      if (!fds[i].revents) continue;
      int fd = ::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        std::shared_ptr<rpc::FramedConnection> evict;
        const bool serving = Accept(fd, &evict);
        if (evict) evict->Close(Status::Disconnected("too many connections without the token"));
        if (!serving) return;
      } else if (errno == EMFILE || errno == ENFILE) {
        CYRAY_LOG(WARNING) << "task channel: out of file descriptors; not accepting for 100 ms";
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      // Other errors (EINTR, ECONNABORTED, EAGAIN) leave the listener as it was.
    }
  }
}

bool TaskChannelServer::Accept(int fd, std::shared_ptr<rpc::FramedConnection> *evict) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) {
    ::close(fd);
    return false;
  }
  if (unauthenticated_ >= max_unauthenticated_) {
    // Callers show the token at once: the oldest of this many is not a caller.
    const Client *oldest = nullptr;
    for (const auto &[id, client] : clients_) {
      if (client->hello_deadline_ms != 0 &&
          (!oldest || client->hello_deadline_ms < oldest->hello_deadline_ms)) {
        oldest = client.get();
      }
    }
    if (oldest) *evict = oldest->conn;
    if (evicted_++ % 1000 == 0) {
      CYRAY_LOG(WARNING) << "task channel: " << unauthenticated_
                         << " connections have not shown the cluster token; closing the oldest ("
                         << evicted_ << " so far)";
    }
  }
  auto client = std::make_shared<Client>();
  client->id = next_client_id_++;
  client->hello_deadline_ms = SteadyNowMs() + hello_timeout_ms_;
  unauthenticated_++;
  std::weak_ptr<Client> weak = client;
  clients_[client->id] = client;
  client->conn = rpc::FramedConnection::Serve(
      fd, max_frame_,
      [this, weak](uint32_t type, std::string body) {
        if (auto c = weak.lock()) OnFrame(c, type, std::move(body));
      },
      [this, weak](const Status &) {
        auto c = weak.lock();
        if (!c) return;
        std::lock_guard<std::mutex> lock(mu_);
        if (c->hello_deadline_ms != 0) unauthenticated_--;
        clients_.erase(c->id);
      });
  return true;
}

int64_t TaskChannelServer::CloseSilentConnections() {
  std::vector<std::shared_ptr<rpc::FramedConnection>> expired;
  int64_t next = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (unauthenticated_ == 0) return -1;
    const int64_t now = SteadyNowMs();
    for (const auto &[id, client] : clients_) {
      const int64_t deadline = client->hello_deadline_ms;
      if (deadline == 0) continue;
      if (deadline <= now) {
        expired.push_back(client->conn);
      } else if (next < 0 || deadline - now < next) {
        next = deadline - now;
      }
    }
  }
  for (auto &conn : expired) {
    // Returns once its thread ended (its OnClose took it off the table).
    conn->Close(Status::TimedOut("no cluster token within " + std::to_string(hello_timeout_ms_) +
                                 " ms of connecting"));
  }
  return expired.empty() ? next : 0;  // 0: look again at once (more may have expired)
}

void TaskChannelServer::OnFrame(const std::shared_ptr<Client> &client, uint32_t type,
                                std::string body) {
  if (client->refused) return;
  if (!client->authenticated) {
    if (type == kTaskHello && (token_.empty() || ConstantTimeEquals(body, token_))) {
      client->authenticated = true;
      std::lock_guard<std::mutex> lock(mu_);
      if (client->hello_deadline_ms != 0) {
        client->hello_deadline_ms = 0;
        unauthenticated_--;
      }
      return;
    }
    // The acceptor sets client->conn under mu_, maybe after this thread started.
    { std::lock_guard<std::mutex> lock(mu_); }
    CYRAY_LOG(WARNING) << "task channel: refused a connection without the cluster token";
    // Nothing it sends runs; the caller closes on reading why.
    client->refused = true;
    client->conn->Send(kTaskRefused,
                       "this cyray worker takes only calls that carry the cluster token", "");
    return;
  }
  if (type != kTaskPush || body.size() < kCallIdSize) {
    client->conn->Close(Status::IOError("a malformed task channel frame"));
    return;
  }
  auto *responder = new ChannelResponder(client->conn, GetU64(body.data()), max_frame_);
  if (!responder->request.ParseFromArray(body.data() + kCallIdSize,
                                         static_cast<int>(body.size() - kCallIdSize))) {
    responder->Finish(Status::Invalid("could not parse the PushTask request"));
    responder->Release();
    return;
  }
  on_push_(&responder->request, &responder->reply, responder);
}

void TaskChannelServer::Stop() {
  std::unordered_map<uint64_t, std::shared_ptr<Client>> clients;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    clients.swap(clients_);
  }
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    (void)::write(stop_fd_, &one, sizeof(one));
  }
  if (acceptor_.joinable()) acceptor_.join();
  for (int *fd : {&listen_fd_, &local_listen_fd_, &stop_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  if (!local_path_.empty()) ::unlink(local_path_.c_str());
  for (auto &[id, client] : clients) client->conn->Close(Status::Disconnected("stopping"));
}

}  // namespace cyray::core
