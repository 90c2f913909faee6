#include "cyray/raylet/node_manager.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include "cyray/common/clock.h"
#include "cyray/common/config.h"
#include "cyray/common/local_socket.h"
#include "cyray/common/logging.h"
#include "cyray/common/secure_random.h"
#include "cyray/protobuf/gcs_service.pb.h"
#include "cyray/protobuf/local_protocol.pb.h"
#include "cyray/raylet/local_message_validation.h"

namespace cyray::raylet {

namespace asio = boost::asio;
using asio::local::stream_protocol;

struct NodeManager::LocalConnection {
  LocalConnection(uint64_t id, stream_protocol::socket socket)
      : id(id), socket(std::move(socket)) {}
  uint64_t id;
  stream_protocol::socket socket;
  uint8_t header[kFrameHeaderSize];
  std::string body;
  std::deque<std::string> write_queue;
  bool closed = false;
  // A worker or driver registered on this connection.
  bool registered = false;
  // This is the object-store connection of a registered client.
  bool plasma_authorized = false;
  // The plasma token issued to this (registered) connection.
  std::string plasma_token;
};

static void FillFailureCause(const WorkerExit &exit, rpc::GetWorkerFailureCauseReply *reply) {
  reply->set_found(true);
  reply->set_pid(exit.pid);
  reply->set_exit_detail(exit.detail);
  reply->set_intentional(exit.intentional);
}

struct NodeManager::CauseWaiter {
  grpc::ServerUnaryReactor *reactor;
  rpc::GetWorkerFailureCauseReply *reply;
  std::unique_ptr<asio::steady_timer> timer;
  bool answered = false;
};

namespace {

// How long a gone worker's exit waits to be reaped before it is reported anyway.
constexpr int64_t kUnreapedExitTimeoutMs = 2000;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void FillAllocation(const ResourceAllocation &alloc,
                    google::protobuf::RepeatedPtrField<rpc::ResourceAllocation> *out) {
  for (const auto &[name, instances] : alloc.instances) {
    auto *entry = out->Add();
    entry->set_name(name);
    for (const auto &[index, quantity] : instances) {
      auto *inst = entry->add_instances();
      inst->set_index(index);
      inst->set_quantity(quantity);
    }
  }
}

}  // namespace

NodeManager::NodeManager(asio::io_context &io, NodeManagerConfig config)
    : io_(io),
      config_(std::move(config)),
      store_allocator_(config_.object_store_memory),
      spill_storage_(config_.session_dir + "/spill"),
      object_store_(store_allocator_),
      resources_(config_.resources),
      launcher_(config_.worker_argv, config_.log_dir),
      worker_pool_(launcher_, config_.maximum_startup_concurrency, SteadyNowMs),
      cluster_view_(config_.node_id),
      scheduling_policy_(
          CyrayConfig::Instance().scheduler_spread_threshold(),
          [rng = std::make_shared<std::mt19937_64>(std::random_device{}())] { return (*rng)(); }),
      lease_manager_(resources_, worker_pool_, &cluster_view_, &scheduling_policy_),
      object_transfer_(io, call_tracker_),
      pull_target_(object_store_, store_base_),
      chunk_service_(io, object_store_, store_base_),
      pull_manager_(
          cluster_view_, object_transfer_, pull_target_,
          [this](int64_t delay_ms, std::function<void()> callback) {
            auto timer =
                std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(delay_ms));
            timer->async_wait(
                [timer, callback = std::move(callback)](const boost::system::error_code &ec) {
                  if (!ec) callback();
                });
          },
          SteadyNowMs, CyrayConfig::Instance().object_manager_chunk_size(),
          static_cast<int>(CyrayConfig::Instance().object_manager_max_chunks_in_flight())),
      gcs_client_(config_.gcs_address),
      acceptor_(io),
      child_signals_(io, SIGCHLD),
      stop_signals_(io, SIGTERM, SIGINT),
      timer_(io),
      exits_([this](const WorkerExit &exit) { OnExitFinal(exit); }) {}

NodeManager::~NodeManager() {
  if (store_base_ != nullptr) ::munmap(store_base_, store_allocator_.capacity());
  if (store_fd_ >= 0) ::close(store_fd_);
  stopping_ = true;
  report_cv_.notify_all();
  heartbeat_cv_.notify_all();
  if (view_subscriber_) view_subscriber_->Stop();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  if (gcs_reporter_thread_.joinable()) gcs_reporter_thread_.join();
  if (server_stopper_.joinable()) server_stopper_.join();
}

Status NodeManager::Start() {
  store_fd_ = ::memfd_create("cyray_object_store", MFD_CLOEXEC);
  if (store_fd_ < 0 ||
      ::ftruncate(store_fd_, static_cast<off_t>(store_allocator_.capacity())) != 0) {
    return Status::IOError(std::string("cannot create the shared-memory object store: ") +
                           std::strerror(errno));
  }
  // The raylet maps the region too, to spill and restore objects.
  void *base = ::mmap(nullptr, store_allocator_.capacity(), PROT_READ | PROT_WRITE, MAP_SHARED,
                      store_fd_, 0);
  if (base == MAP_FAILED) {
    return Status::IOError(std::string("cannot map the object store: ") + std::strerror(errno));
  }
  store_base_ = static_cast<uint8_t *>(base);
  object_store_.SetRegion(store_base_, &spill_storage_);
  std::vector<grpc::Service *> services{this, &chunk_service_};
  // Only the node's own address: loopback for a local cluster.
  grpc_server_ = rpc::StartServer(config_.node_ip_address, &config_.node_manager_port, services);
  if (!grpc_server_ || config_.node_manager_port == 0) {
    return Status::IOError("could not start the node manager's gRPC server");
  }
  ::unlink(config_.socket_path.c_str());
  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(config_.socket_path), ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("listen on " + config_.socket_path + ": " + ec.message());

  CYRAY_RETURN_NOT_OK(gcs_client_.WaitUntilReady(CyrayConfig::Instance().rpc_connect_timeout_ms()));
  CYRAY_RETURN_NOT_OK(RegisterWithGcs());
  rpc::Address self_address;
  self_address.set_node_id(config_.node_id.Binary());
  self_address.set_ip_address(config_.node_ip_address);
  self_address.set_port(config_.node_manager_port);
  object_transfer_.set_self(self_address);
  NodeView self;
  self.node_id = config_.node_id;
  self.ip_address = config_.node_ip_address;
  self.port = config_.node_manager_port;
  self.total = config_.resources;
  self.available = resources_.Available();
  self.labels = config_.labels;
  cluster_view_.Upsert(self);
  lease_manager_.set_on_infeasible([this](const LeaseRequest &request, const std::string &why) {
    WarnInfeasible(request, why);
  });
  view_subscriber_ = std::make_unique<ClusterViewSubscriber>(
      config_.gcs_address, config_.node_id.Binary(),
      [this](rpc::ClusterViewUpdate update) {
        asio::post(io_, [this, update = std::move(update)] { OnClusterViewUpdate(update); });
      },
      [this](const std::string &why) {
        asio::post(io_, [this, why] { Stop("lost the GCS: " + why); });
      });
  view_subscriber_->Start();

  DoAccept();
  WaitForChildren();
  stop_signals_.async_wait([this](const boost::system::error_code &ec, int sig) {
    if (!ec) Stop("received signal " + std::to_string(sig));
  });
  OnTimer();
  worker_pool_.Prestart(config_.num_prestart_workers);
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
  gcs_reporter_thread_ = std::thread([this] { GcsReporterLoop(); });
  WriteReadyFile();
  CYRAY_LOG(INFO) << "raylet " << config_.node_id.Hex() << " serving on port "
                  << config_.node_manager_port << " and " << config_.socket_path
                  << " with resources " << ResourceSetToString(config_.resources);
  return Status::OK();
}

Status NodeManager::RegisterWithGcs() {
  rpc::GcsNodeInfo info;
  info.set_node_id(config_.node_id.Binary());
  info.set_node_manager_address(config_.node_ip_address);
  info.set_node_manager_port(config_.node_manager_port);
  info.set_raylet_socket_name(config_.socket_path);
  for (const auto &[name, amount] : config_.resources) {
    (*info.mutable_resources_total())[name] = amount;
  }
  info.set_state(rpc::GcsNodeInfo::ALIVE);
  info.set_node_name(config_.node_name.empty() ? config_.node_ip_address : config_.node_name);
  char hostname[256] = {0};
  if (::gethostname(hostname, sizeof(hostname) - 1) == 0) info.set_node_manager_hostname(hostname);
  info.set_start_time_ms(WallMs());
  info.set_is_head_node(config_.is_head);
  info.set_session_dir(config_.session_dir);
  for (const auto &[key, value] : config_.labels) (*info.mutable_labels())[key] = value;
  return gcs_client_.RegisterNode(info.SerializeAsString());
}

void NodeManager::WriteReadyFile() {
  if (config_.ready_file.empty()) return;
  std::string tmp = config_.ready_file + ".tmp";
  {
    std::ofstream out(tmp);
    out << config_.node_manager_port << "\n";
  }
  std::rename(tmp.c_str(), config_.ready_file.c_str());
}

void NodeManager::Stop(const std::string &reason) {
  if (stopping_.exchange(true)) return;
  report_cv_.notify_all();
  heartbeat_cv_.notify_all();
  CYRAY_LOG(INFO) << "raylet stopping: " << reason;
  worker_pool_.KillAll();
  for (auto &[id, waiter] : cause_waiters_) {
    if (waiter->answered) continue;
    waiter->answered = true;
    waiter->timer->cancel();
    waiter->reactor->Finish(grpc::Status::OK);  // found = false
  }
  cause_waiters_.clear();
  // Spilled objects die with the node.
  std::error_code ignored;
  if (!config_.session_dir.empty()) {
    std::filesystem::remove_all(config_.session_dir + "/spill", ignored);
  }
  (void)gcs_client_.UnregisterNode(config_.node_id.Binary(), reason);
  call_tracker_.CancelAllAndWait(1000);
  ::unlink(config_.socket_path.c_str());
  // The server's shutdown waits for every call in progress, and some are
  // answered only on this thread (queued lease requests, pulls, stats
  // gathers): answer what waits here, and shut the server down from another
  // thread while this one goes on serving what is left.
  lease_manager_.CancelWhere([](const LeaseRequest &) { return true; },
                             "the raylet is stopping: " + reason);
  pull_manager_.FailAll("the raylet is stopping");
  if (!grpc_server_) {
    io_.stop();
    return;
  }
  server_stopper_ = std::thread([this] {
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    io_.stop();
  });
}

void NodeManager::DoAccept() {
  acceptor_.async_accept(
      [this](const boost::system::error_code &ec, stream_protocol::socket socket) {
        if (ec) {
          if (ec != asio::error::operation_aborted) {
            CYRAY_LOG(WARNING) << "accept on local socket failed: " << ec.message();
            DoAccept();
          }
          return;
        }
        auto conn = std::make_shared<LocalConnection>(next_connection_id_++, std::move(socket));
        connections_[conn->id] = conn;
        ReadHeader(conn);
        DoAccept();
      });
}

void NodeManager::ReadHeader(const ConnectionPtr &conn) {
  asio::async_read(conn->socket, asio::buffer(conn->header, kFrameHeaderSize),
                   [this, conn](const boost::system::error_code &ec, size_t) {
                     if (ec) return CloseConnection(conn);
                     uint32_t type = 0, length = 0;
                     Status s = DecodeFrameHeader(conn->header, &type, &length);
                     if (!s.ok()) {
                       CYRAY_LOG(WARNING) << "closing local client " << conn->id << ": " << s;
                       return CloseConnection(conn);
                     }
                     conn->body.resize(length);
                     asio::async_read(
                         conn->socket, asio::buffer(&conn->body[0], length),
                         [this, conn, type](const boost::system::error_code &ec, size_t) {
                           if (ec) return CloseConnection(conn);
                           HandleMessage(conn, type, conn->body);
                           if (!conn->closed) ReadHeader(conn);
                         });
                   });
}

void NodeManager::Send(const ConnectionPtr &conn, uint32_t type, const std::string &body) {
  std::string frame(kFrameHeaderSize, '\0');
  EncodeFrameHeader(type, static_cast<uint32_t>(body.size()),
                    reinterpret_cast<uint8_t *>(&frame[0]));
  frame += body;
  conn->write_queue.push_back(std::move(frame));
  if (conn->write_queue.size() > 1) return;
  // Writes one queued frame after another.
  auto write_next = std::make_shared<std::function<void()>>();
  *write_next = [this, conn, write_next]() {
    asio::async_write(conn->socket, asio::buffer(conn->write_queue.front()),
                      [this, conn, write_next](const boost::system::error_code &ec, size_t) {
                        if (ec) {
                          conn->write_queue.clear();
                          return CloseConnection(conn);
                        }
                        conn->write_queue.pop_front();
                        if (!conn->write_queue.empty()) (*write_next)();
                      });
  };
  (*write_next)();
}

void NodeManager::HandleMessage(const ConnectionPtr &conn, uint32_t type, const std::string &body) {
  // Nothing is acted on before it is checked; a bad message closes only its
  // connection. Only registration (or, on the object-store connection of a
  // registered client, its handshake) is accepted from a client that has not
  // proved itself.
  Status valid = ValidateLocalMessage(type, body);
  const char *refusal = nullptr;
  if (!valid.ok()) {
    refusal = valid.message().c_str();
  } else if (type == rpc::REGISTER_CLIENT_REQUEST && conn->registered) {
    refusal = "a second registration";
  } else if (type != rpc::REGISTER_CLIENT_REQUEST && type != rpc::PLASMA_CONNECT_REQUEST &&
             !conn->registered && !conn->plasma_authorized) {
    refusal = "a request before registering";
  } else if (type > rpc::PLASMA_CONNECT_REQUEST && type <= rpc::PLASMA_STATS_REPLY &&
             !conn->plasma_authorized) {
    refusal = "an object-store request on a connection without the store";
  }
  if (refusal != nullptr) {
    CYRAY_LOG(WARNING) << "closing local client " << conn->id << ": message type " << type
                       << " with " << refusal;
    return CloseConnection(conn);
  }
  switch (type) {
    case rpc::REGISTER_CLIENT_REQUEST:
      HandleRegister(conn, body);
      return;
    case rpc::DISCONNECT_CLIENT: {
      // The client exits on purpose; its socket closes next.
      rpc::DisconnectClient msg;
      WorkerPtr worker = worker_pool_.GetWorkerByConnection(conn->id);
      if (worker && msg.ParseFromString(body)) worker->intentional_exit = msg.intentional();
      return;
    }
    case rpc::NOTIFY_TASK_BLOCKED:
    case rpc::NOTIFY_TASK_UNBLOCKED: {
      WorkerPtr worker = worker_pool_.GetWorkerByConnection(conn->id);
      if (!worker) return;
      if (type == rpc::NOTIFY_TASK_BLOCKED) {
        lease_manager_.OnWorkerBlocked(worker);
      } else {
        lease_manager_.OnWorkerUnblocked(worker);
      }
      RequestResourceReport();
      return;
    }
    default:
      if (type >= rpc::PLASMA_CONNECT_REQUEST && type <= rpc::PLASMA_STATS_REPLY) {
        HandlePlasma(conn, type, body);
        return;
      }
      CYRAY_LOG(WARNING) << "closing local client " << conn->id << ": unknown message type "
                         << type;
      CloseConnection(conn);
  }
}

void NodeManager::HandleRegister(const ConnectionPtr &conn, const std::string &body) {
  rpc::RegisterClientRequest request;
  rpc::RegisterClientReply reply;
  if (!request.ParseFromString(body)) {
    CYRAY_LOG(WARNING) << "closing local client " << conn->id << ": bad registration";
    return CloseConnection(conn);
  }
  auto worker = std::make_shared<Worker>();
  worker->worker_id = WorkerID::FromBinary(request.worker_id());
  worker->is_driver = request.worker_type() == rpc::DRIVER;
  if (worker->is_driver && !config_.auth_token.empty() &&
      !ConstantTimeEquals(request.auth_token(), config_.auth_token)) {
    CYRAY_LOG(WARNING) << "refusing a driver (pid " << request.pid()
                       << ") without the cluster token on local client " << conn->id;
    reply.set_success(false);
    reply.set_failure_reason(
        "the raylet refused this driver: it lacks the cluster token (the token is in the "
        "session directory of the head node, file auth_token; pass it with CYRAY_AUTH_TOKEN or "
        "init(_token=...))");
    Send(conn, rpc::REGISTER_CLIENT_REPLY, reply.SerializeAsString());
    return;
  }
  worker->pid = request.pid();
  worker->ip_address = request.ip_address();
  worker->port = request.port();
  worker->task_port = request.task_port();
  worker->startup_token = request.startup_token();
  worker->connection_id = conn->id;
  Status status;
  if (worker->is_driver) {
    worker_pool_.RegisterDriver(worker);
  } else {
    status = worker_pool_.RegisterWorker(worker);
    if (status.ok()) workers_by_token_[worker->startup_token] = {worker->pid, worker->worker_id};
  }
  reply.set_success(status.ok());
  reply.set_failure_reason(status.message());
  reply.set_node_id(config_.node_id.Binary());
  reply.set_node_manager_port(config_.node_manager_port);
  if (status.ok()) {
    conn->registered = true;
    conn->plasma_token = SecureRandomBytes(16);
    plasma_tokens_[conn->plasma_token] = conn->id;
    reply.set_plasma_token(conn->plasma_token);
  } else {
    CYRAY_LOG(WARNING) << "refused registration on local client " << conn->id << ": "
                       << status.message();
  }
  Send(conn, rpc::REGISTER_CLIENT_REPLY, reply.SerializeAsString());
  if (status.ok() && !worker->is_driver) lease_manager_.ScheduleAndDispatch();
}

Status NodeManager::SendWithFd(const ConnectionPtr &conn, uint32_t type, const std::string &body,
                               int fd) {
  // The socket is non-blocking under asio; the reply is small and the
  // connection idle, so one sendmsg carries it whole (or fails).
  return WriteFrameWithFd(conn->socket.native_handle(), type, body, fd);
}

void NodeManager::HandlePlasma(const ConnectionPtr &conn, uint32_t type, const std::string &body) {
  auto object_id = [](const std::string &binary) { return ObjectID::FromBinary(binary); };
  switch (type) {
    case rpc::PLASMA_CONNECT_REQUEST: {
      rpc::PlasmaConnectRequest request;
      request.ParseFromString(body);
      auto owner = plasma_tokens_.find(request.plasma_token());
      if (owner == plasma_tokens_.end() || conn->registered) {
        CYRAY_LOG(WARNING) << "closing local client " << conn->id
                           << ": object-store handshake without a valid token";
        return CloseConnection(conn);
      }
      conn->plasma_authorized = true;
      rpc::PlasmaConnectReply reply;
      reply.set_capacity(store_allocator_.capacity());
      Status s = SendWithFd(conn, rpc::PLASMA_CONNECT_REPLY, reply.SerializeAsString(), store_fd_);
      if (!s.ok()) {
        CYRAY_LOG(WARNING) << s;
        CloseConnection(conn);
      }
      return;
    }
    case rpc::PLASMA_CREATE_REQUEST: {
      rpc::PlasmaCreateRequest request;
      rpc::PlasmaCreateReply reply;
      if (!request.ParseFromString(body)) return CloseConnection(conn);
      object_store::ObjectLocation location;
      Status s = object_store_.Create(object_id(request.object_id()), request.data_size(),
                                      request.metadata_size(), conn->id, &location);
      reply.set_ok(s.ok());
      reply.set_store_full(s.code() == StatusCode::kObjectStoreFull);
      reply.set_error(s.message());
      reply.set_offset(location.offset);
      Send(conn, rpc::PLASMA_CREATE_REPLY, reply.SerializeAsString());
      return;
    }
    case rpc::PLASMA_SEAL_REQUEST: {
      rpc::PlasmaSealRequest request;
      rpc::PlasmaSealReply reply;
      if (!request.ParseFromString(body)) return CloseConnection(conn);
      Status s = object_store_.Seal(object_id(request.object_id()), conn->id);
      reply.set_ok(s.ok());
      reply.set_error(s.message());
      Send(conn, rpc::PLASMA_SEAL_REPLY, reply.SerializeAsString());
      return;
    }
    case rpc::PLASMA_GET_REQUEST: {
      rpc::PlasmaGetRequest request;
      rpc::PlasmaGetReply reply;
      if (!request.ParseFromString(body)) return CloseConnection(conn);
      object_store::ObjectLocation location;
      auto result = object_store_.Get(object_id(request.object_id()), conn->id, &location);
      reply.set_found(result == object_store::ObjectStore::GetResult::kFound);
      reply.set_offset(location.offset);
      reply.set_data_size(location.data_size);
      reply.set_metadata_size(location.metadata_size);
      Send(conn, rpc::PLASMA_GET_REPLY, reply.SerializeAsString());
      return;
    }
    case rpc::PLASMA_RELEASE: {
      rpc::PlasmaRelease request;
      if (!request.ParseFromString(body)) return CloseConnection(conn);
      object_store_.Release(object_id(request.object_id()), conn->id);
      return;
    }
    case rpc::PLASMA_DELETE: {
      rpc::PlasmaDelete request;
      if (!request.ParseFromString(body)) return CloseConnection(conn);
      for (const auto &id : request.object_ids()) object_store_.Delete(object_id(id));
      return;
    }
    case rpc::PLASMA_STATS_REQUEST: {
      auto stats = object_store_.Stats();
      rpc::PlasmaStatsReply reply;
      reply.set_capacity(stats.capacity);
      reply.set_used(stats.used);
      reply.set_num_objects(stats.num_objects);
      reply.set_spilled_bytes(stats.spilled_bytes);
      Send(conn, rpc::PLASMA_STATS_REPLY, reply.SerializeAsString());
      return;
    }
    default:
      CYRAY_LOG(WARNING) << "closing local client " << conn->id << ": unexpected message " << type;
      CloseConnection(conn);
  }
}

void NodeManager::CloseConnection(const ConnectionPtr &conn) {
  if (conn->closed) return;
  conn->closed = true;
  boost::system::error_code ignored;
  conn->socket.close(ignored);
  connections_.erase(conn->id);
  if (!conn->plasma_token.empty()) plasma_tokens_.erase(conn->plasma_token);
  object_store_.DisconnectClient(conn->id);
  if (WorkerPtr worker = worker_pool_.GetWorkerByConnection(conn->id)) {
    OnClientGone(worker, "its connection closed");
  }
}

void NodeManager::OnClientGone(const WorkerPtr &worker, const std::string &why) {
  if (!worker_pool_.GetWorker(worker->worker_id)) return;  // handled already
  CYRAY_LOG(DEBUG) << (worker->is_driver ? "driver " : "worker ") << worker->pid
                   << " gone: " << why;
  // The GCS hears of it once the process is reaped, with its exit status.
  exits_.OnGone(worker->worker_id, worker->pid, worker->is_driver, worker->intentional_exit, why,
                SteadyNowMs());
  if (worker->is_driver) {
    worker_pool_.DisconnectWorker(worker, /*kill=*/false);
  } else {
    lease_manager_.OnWorkerGone(worker);
  }
  OnOwnerGone(worker->worker_id);
  if (worker->is_driver) lease_manager_.ScheduleAndDispatch();
  RequestResourceReport();
}

void NodeManager::KillWorker(const WorkerPtr &worker, const std::string &reason) {
  exits_.OnKilledByRuntime(worker->pid, reason);
  exits_.OnGone(worker->worker_id, worker->pid, worker->is_driver, worker->intentional_exit,
                "killed by the runtime: " + reason, SteadyNowMs());
  lease_manager_.ReturnWorker(worker, /*disconnect=*/true);
}

void NodeManager::OnExitFinal(const WorkerExit &exit) {
  if (!exit.is_driver && !exit.intentional && exit.killed_by_runtime.empty() && !stopping_) {
    CYRAY_LOG(WARNING) << exit.detail << " (worker " << exit.worker_id.Hex().substr(0, 8) << ", "
                       << exit.why << ")";
  }
  ReportFailureToGcs(exit);
  auto range = cause_waiters_.equal_range(exit.worker_id);
  for (auto it = range.first; it != range.second; ++it) {
    auto &waiter = *it->second;
    if (waiter.answered) continue;
    waiter.answered = true;
    waiter.timer->cancel();
    FillFailureCause(exit, waiter.reply);
    waiter.reactor->Finish(grpc::Status::OK);
  }
  cause_waiters_.erase(exit.worker_id);
}

void NodeManager::ReportFailureToGcs(const WorkerExit &exit) {
  rpc::ReportWorkerFailureRequest report;
  report.set_worker_id(exit.worker_id.Binary());
  report.set_node_id(config_.node_id.Binary());
  report.set_intentional(exit.intentional);
  report.set_is_driver(exit.is_driver);
  report.set_message(exit.detail);
  {
    std::lock_guard<std::mutex> lock(report_mu_);
    reports_.push_back(std::move(report));
  }
  report_cv_.notify_one();
}

void NodeManager::GcsReporterLoop() {
  while (true) {
    rpc::ReportWorkerFailureRequest report;
    {
      std::unique_lock<std::mutex> lock(report_mu_);
      report_cv_.wait(lock, [this] { return stopping_ || !reports_.empty(); });
      if (stopping_) return;
      report = std::move(reports_.front());
      reports_.pop_front();
    }
    Status s =
        gcs_client_.ReportWorkerFailure(report.worker_id(), report.node_id(), report.intentional(),
                                        report.is_driver(), report.message());
    if (!s.ok()) CYRAY_LOG(WARNING) << "could not report a worker failure to the GCS: " << s;
  }
}

void NodeManager::OnOwnerGone(const WorkerID &owner_id) {
  lease_manager_.CancelLeasesOf(owner_id);
  if (!CyrayConfig::Instance().kill_idle_workers_of_dead_owner()) return;
  for (const WorkerPtr &worker : worker_pool_.AllWorkers()) {
    if (worker->leased && worker->lease_owner == owner_id) {
      // Its tasks belong to a dead owner: nobody will read their results.
      KillWorker(worker, "its lease owner died");
    }
  }
}

void NodeManager::WaitForChildren() {
  child_signals_.async_wait([this](const boost::system::error_code &ec, int) {
    if (ec) return;
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (WorkerPtr worker = worker_pool_.OnProcessExit(pid)) {
        OnClientGone(worker, "its process exited");
      } else {
        lease_manager_.ScheduleAndDispatch();
      }
      exits_.OnReaped(pid, status);
    }
    WaitForChildren();
  });
}

void NodeManager::OnTimer() {
  const auto &config = CyrayConfig::Instance();
  worker_pool_.KillUnregisteredAfter(config.worker_register_timeout_seconds() * 1000);
  exits_.ExpireUnreaped(SteadyNowMs(), kUnreapedExitTimeoutMs);
  int soft_limit =
      static_cast<int>(config_.resources.count("CPU") ? config_.resources.at("CPU") : 1);
  worker_pool_.TrimIdleWorkers(std::max(1, soft_limit), config.idle_worker_killing_time_ms());
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](const boost::system::error_code &ec) {
    if (!ec) OnTimer();
  });
}

void NodeManager::RequestResourceReport() {
  {
    std::lock_guard<std::mutex> lock(heartbeat_mu_);
    report_requested_ = true;
  }
  heartbeat_cv_.notify_one();
}

rpc::ReportHeartbeatRequest NodeManager::MakeResourceReport() {
  rpc::ReportHeartbeatRequest report;
  report.set_node_id(config_.node_id.Binary());
  for (const auto &[name, amount] : resources_.Available()) {
    (*report.mutable_resources_available())[name] = amount;
  }
  for (const auto &demand : lease_manager_.Demands()) {
    auto *out = report.add_demands();
    for (const auto &[name, amount] : demand.shape) (*out->mutable_shape())[name] = amount;
    out->set_num_ready_requests_queued(demand.count);
    out->set_infeasible(demand.infeasible);
  }
  return report;
}

void NodeManager::HeartbeatLoop() {
  const auto &config = CyrayConfig::Instance();
  // Reports on change come at most this often; they batch what changed meanwhile.
  constexpr auto kMinReportGap = std::chrono::milliseconds(5);
  int64_t last_ok = SteadyNowMs();
  std::string last_sent;
  auto last_sent_at = std::chrono::steady_clock::now();
  while (!stopping_) {
    {
      std::unique_lock<std::mutex> lock(heartbeat_mu_);
      heartbeat_cv_.wait_for(lock, std::chrono::milliseconds(config.gcs_heartbeat_interval_ms()),
                             [this] { return stopping_ || report_requested_; });
      report_requested_ = false;
    }
    if (stopping_) break;
    std::this_thread::sleep_until(last_sent_at + kMinReportGap);
    auto promise = std::make_shared<std::promise<std::string>>();
    auto future = promise->get_future();
    asio::post(io_,
               [this, promise] { promise->set_value(MakeResourceReport().SerializeAsString()); });
    if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) continue;
    std::string report = future.get();
    bool periodic = std::chrono::steady_clock::now() - last_sent_at >=
                    std::chrono::milliseconds(config.gcs_heartbeat_interval_ms());
    if (report == last_sent && !periodic) continue;
    bool alive = true;
    last_sent_at = std::chrono::steady_clock::now();
    Status s = gcs_client_.ReportHeartbeat(report, &alive);
    if (s.ok()) {
      last_ok = SteadyNowMs();
      last_sent = std::move(report);
      if (!alive) {
        asio::post(io_, [this] { Stop("the GCS considers this node dead"); });
        break;
      }
    } else if (SteadyNowMs() - last_ok > config.raylet_gcs_lost_timeout_ms()) {
      asio::post(io_, [this, s] { Stop("lost the GCS: " + s.ToString()); });
      break;
    }
  }
}

void NodeManager::OnClusterViewUpdate(const rpc::ClusterViewUpdate &update) {
  for (const auto &entry : update.nodes()) {
    NodeID id = NodeID::FromBinary(entry.node_id());
    const NodeView *before = cluster_view_.Find(id);
    bool was_alive = before != nullptr && before->alive;
    NodeView node;
    node.node_id = id;
    node.ip_address = entry.ip_address();
    node.port = entry.port();
    node.total = ResourceSet(entry.total().begin(), entry.total().end());
    node.available = ResourceSet(entry.available().begin(), entry.available().end());
    node.labels = LabelSet(entry.labels().begin(), entry.labels().end());
    node.alive = entry.alive();
    if (id == config_.node_id && !node.alive) {
      Stop("the GCS marked this node dead");
      return;
    }
    cluster_view_.Upsert(node);
    if (was_alive && !node.alive) OnNodeRemoved(node);
  }
  // Owners that died elsewhere (a driver on another node that exited or was
  // killed): nobody will use or return what they leased here.
  for (const auto &dead : update.dead_worker_ids()) {
    if (dead.size() == WorkerID::kSize) OnOwnerGone(WorkerID::FromBinary(dead));
  }
  cluster_view_.set_version(update.version());
  lease_manager_.OnClusterViewChanged();
}

void NodeManager::OnNodeRemoved(const NodeView &node) {
  CYRAY_LOG(WARNING) << "node " << node.node_id.Hex() << " at " << node.Address() << " died";
  rpc::NodeRemoved message;
  message.set_node_id(node.node_id.Binary());
  message.set_ip_address(node.ip_address);
  message.set_port(node.port);
  Broadcast(rpc::NODE_REMOVED, message.SerializeAsString());
  pull_manager_.OnNodeRemoved(node.node_id);
  // Owners on that node died with it.
  lease_manager_.CancelWhere(
      [&](const LeaseRequest &request) { return request.owner_node == node.node_id; },
      "the lease owner's node died");
  for (const WorkerPtr &worker : worker_pool_.AllWorkers()) {
    if (worker->leased && worker->lease_owner_node == node.node_id) {
      KillWorker(worker, "its lease owner's node died");
    }
  }
}

void NodeManager::WarnInfeasible(const LeaseRequest &request, const std::string &why) {
  std::string shape = ResourceSetToString(request.placement_demand);
  if (!warned_infeasible_.insert({request.owner_id, shape}).second) return;
  WorkerPtr owner = worker_pool_.GetWorker(request.owner_id);
  if (!owner) return;
  auto conn = connections_.find(owner->connection_id);
  if (conn == connections_.end() || conn->second->closed) return;
  rpc::LocalWarning warning;
  warning.set_message("The following resource request cannot be scheduled right now: " + shape +
                      ": " + why + ". Add such a node, or lower the request.");
  Send(conn->second, rpc::LOCAL_WARNING, warning.SerializeAsString());
}

void NodeManager::Broadcast(uint32_t type, const std::string &body) {
  for (const auto &[id, conn] : connections_) {
    if (conn->registered && !conn->closed) Send(conn, type, body);
  }
}

grpc::ServerUnaryReactor *NodeManager::RequestWorkerLease(
    grpc::CallbackServerContext *ctx, const rpc::RequestWorkerLeaseRequest *request,
    rpc::RequestWorkerLeaseReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  asio::post(io_, [this, request, reply, reactor] {
    if (stopping_) {  // nothing would answer it: Stop has emptied the queues
      reply->set_canceled(true);
      reply->set_failure_message("the raylet is stopping");
      reactor->Finish(grpc::Status::OK);
      return;
    }
    LeaseRequest lease;
    const rpc::TaskSpec &spec = request->resource_spec();
    for (const auto &[name, amount] : spec.required_resources()) {
      if (amount > 0) lease.demand[name] = amount;
    }
    for (const auto &[name, amount] : spec.required_placement_resources()) {
      if (amount > 0) lease.placement_demand[name] = amount;
    }
    if (!lease.placement_demand.empty()) {
      // Placement needs at least what running holds.
      for (const auto &[name, amount] : lease.demand) {
        double &placement = lease.placement_demand[name];
        placement = std::max(placement, amount);
      }
    }
    lease.strategy = spec.scheduling_strategy();
    lease.grant_or_reject = request->grant_or_reject();
    lease.use.gpu = lease.demand.count("GPU") > 0;
    lease.use.actor = spec.type() == rpc::ACTOR_CREATION_TASK;
    lease.owner_id = WorkerID::FromBinary(request->resource_spec().caller_address().worker_id());
    const std::string &owner_node = request->resource_spec().caller_address().node_id();
    if (owner_node.size() == NodeID::kSize) lease.owner_node = NodeID::FromBinary(owner_node);
    lease.task_id = spec.task_id();
    lease.task_name = spec.name();
    lease.backlog_size = request->backlog_size();
    lease.on_reply = [this, reply, reactor](const LeaseReply &result) {
      switch (result.kind) {
        case LeaseReply::Kind::kGranted: {
          auto *addr = reply->mutable_worker_address();
          addr->set_node_id(config_.node_id.Binary());
          addr->set_ip_address(result.worker->ip_address);
          addr->set_port(result.worker->port);
          addr->set_task_port(result.worker->task_port);
          addr->set_worker_id(result.worker->worker_id.Binary());
          reply->set_worker_pid(result.worker->pid);
          FillAllocation(result.worker->allocation, reply->mutable_resource_mapping());
          RequestResourceReport();
          break;
        }
        case LeaseReply::Kind::kSpillback: {
          auto *retry_at = reply->mutable_retry_at_raylet_address();
          retry_at->set_node_id(result.spillback->node_id.Binary());
          retry_at->set_ip_address(result.spillback->ip_address);
          retry_at->set_port(result.spillback->port);
          break;
        }
        case LeaseReply::Kind::kRejected:
          reply->set_rejected(true);
          reply->set_failure_message(result.message);
          break;
        case LeaseReply::Kind::kInfeasible:
          reply->set_infeasible(true);
          reply->set_failure_message(result.message);
          break;
        case LeaseReply::Kind::kCanceled:
          reply->set_canceled(true);
          reply->set_failure_message(result.message);
          break;
      }
      reactor->Finish(grpc::Status::OK);
    };
    lease_manager_.QueueLease(std::move(lease));
  });
  return reactor;
}

grpc::ServerUnaryReactor *NodeManager::ReturnWorker(grpc::CallbackServerContext *ctx,
                                                    const rpc::ReturnWorkerRequest *request,
                                                    rpc::ReturnWorkerReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  asio::post(io_, [this, request, reactor] {
    WorkerPtr worker = worker_pool_.GetWorker(WorkerID::FromBinary(request->worker_id()));
    if (worker && worker->leased) {
      if (request->disconnect_worker()) {
        // The pool forgets the worker now; its exit is reported once reaped (an
        // actor killed this way may restart).
        KillWorker(worker, "its lease ended: " + request->disconnect_reason());
      } else {
        lease_manager_.ReturnWorker(worker, false);
      }
      RequestResourceReport();
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor *NodeManager::GetWorkerFailureCause(
    grpc::CallbackServerContext *ctx, const rpc::GetWorkerFailureCauseRequest *request,
    rpc::GetWorkerFailureCauseReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  asio::post(io_, [this, request, reply, reactor] {
    WorkerID worker_id = WorkerID::FromBinary(request->worker_id());
    if (auto exit = exits_.Find(worker_id)) {
      FillFailureCause(*exit, reply);
      reactor->Finish(grpc::Status::OK);
      return;
    }
    bool may_come = exits_.IsPending(worker_id) || worker_pool_.GetWorker(worker_id);
    if (!may_come || request->wait_ms() <= 0) {
      reactor->Finish(grpc::Status::OK);  // found = false
      return;
    }
    auto waiter = std::make_shared<CauseWaiter>();
    waiter->reactor = reactor;
    waiter->reply = reply;
    waiter->timer = std::make_unique<asio::steady_timer>(
        io_, std::chrono::milliseconds(std::min<int64_t>(request->wait_ms(), 10000)));
    waiter->timer->async_wait([this, waiter, worker_id](const boost::system::error_code &) {
      if (waiter->answered) return;
      waiter->answered = true;
      waiter->reactor->Finish(grpc::Status::OK);  // found = false
      auto range = cause_waiters_.equal_range(worker_id);
      for (auto it = range.first; it != range.second; ++it) {
        if (it->second == waiter) {
          cause_waiters_.erase(it);
          break;
        }
      }
    });
    cause_waiters_.emplace(worker_id, waiter);
  });
  return reactor;
}

grpc::ServerUnaryReactor *NodeManager::CancelWorkerLease(
    grpc::CallbackServerContext *ctx, const rpc::CancelWorkerLeaseRequest *request,
    rpc::CancelWorkerLeaseReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  asio::post(io_, [this, request, reply, reactor] {
    int cancelled = lease_manager_.CancelLease(WorkerID::FromBinary(request->owner_worker_id()),
                                               request->task_id());
    reply->set_num_cancelled(cancelled);
    if (cancelled > 0) RequestResourceReport();  // the demand it reported is gone
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor *NodeManager::PullObject(grpc::CallbackServerContext *ctx,
                                                  const rpc::PullObjectRequest *request,
                                                  rpc::PullObjectReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  asio::post(io_, [this, request, reply, reactor] {
    if (stopping_) {
      reply->set_message("the raylet is stopping");
      reactor->Finish(grpc::Status::OK);
      return;
    }
    int64_t timeout_ms = request->timeout_ms() > 0
                             ? request->timeout_ms()
                             : CyrayConfig::Instance().object_pull_timeout_ms();
    pull_manager_.Pull(ObjectID::FromBinary(request->object_id()), request->owner_address(),
                       timeout_ms, [reply, reactor](const PullResult &result) {
                         reply->set_ok(result.ok);
                         reply->set_lost(result.lost);
                         reply->set_timed_out(result.timed_out);
                         reply->set_reconstruction_failed(result.reconstruction_failed);
                         reply->set_owner_died(result.owner_died);
                         reply->set_message(result.message);
                         reactor->Finish(grpc::Status::OK);
                       });
  });
  return reactor;
}

grpc::ServerUnaryReactor *NodeManager::FreeObjects(grpc::CallbackServerContext *ctx,
                                                   const rpc::FreeObjectsRequest *request,
                                                   rpc::FreeObjectsReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  asio::post(io_, [this, request, reactor] {
    std::vector<std::string> ids(request->object_ids().begin(), request->object_ids().end());
    for (const auto &id : ids) object_store_.Delete(ObjectID::FromBinary(id));
    for (const auto &node_id : request->node_ids()) {
      const NodeView *node = cluster_view_.Find(NodeID::FromBinary(node_id));
      if (node != nullptr && node->alive && node->node_id != config_.node_id) {
        object_transfer_.FreeObjects(node->Address(), ids);
      }
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace cyray::raylet
