#include "cyray/core_worker/plasma_client.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "cyray/common/config.h"

#include "cyray/common/local_socket.h"
#include "cyray/common/logging.h"
#include "cyray/protobuf/local_protocol.pb.h"

namespace cyray::core {

PlasmaBuffer::~PlasmaBuffer() { client_->Release(id_); }

StatusOr<std::shared_ptr<PlasmaClient>> PlasmaClient::Connect(const std::string &socket_path,
                                                              const std::string &plasma_token) {
  auto sock = ConnectUnixSocket(socket_path);
  if (!sock.ok()) return sock.status();
  std::shared_ptr<PlasmaClient> client(new PlasmaClient());
  client->fd_ = *sock;
  rpc::PlasmaConnectRequest request;
  request.set_plasma_token(plasma_token);
  CYRAY_RETURN_NOT_OK(
      WriteFrame(client->fd_, rpc::PLASMA_CONNECT_REQUEST, request.SerializeAsString()));
  uint32_t type = 0;
  std::string body;
  int store_fd = -1;
  CYRAY_RETURN_NOT_OK(ReadFrameWithFd(client->fd_, &type, &body, &store_fd));
  rpc::PlasmaConnectReply reply;
  if (type != rpc::PLASMA_CONNECT_REPLY || !reply.ParseFromString(body)) {
    ::close(store_fd);
    return Status::IOError("bad object store handshake");
  }
  client->capacity_ = reply.capacity();
  void *base = ::mmap(nullptr, client->capacity_, PROT_READ | PROT_WRITE, MAP_SHARED, store_fd, 0);
  ::close(store_fd);
  if (base == MAP_FAILED) {
    return Status::IOError(std::string("mapping the object store: ") + std::strerror(errno));
  }
  client->base_ = static_cast<uint8_t *>(base);
  return client;
}

PlasmaClient::~PlasmaClient() {
  if (base_ != nullptr) ::munmap(base_, capacity_);
  if (fd_ >= 0) ::close(fd_);
}

Status PlasmaClient::Request(uint32_t type, const std::string &body, uint32_t reply_type,
                             std::string *reply) {
  CYRAY_RETURN_NOT_OK(WriteFrame(fd_, type, body));
  if (reply == nullptr) return Status::OK();
  uint32_t got_type = 0;
  CYRAY_RETURN_NOT_OK(ReadFrame(fd_, &got_type, reply));
  if (got_type != reply_type) return Status::IOError("unexpected reply from the object store");
  return Status::OK();
}

Status PlasmaClient::Create(const ObjectID &id, size_t data_size, size_t metadata_size,
                            uint8_t **address) {
  rpc::PlasmaCreateRequest request;
  request.set_object_id(id.Binary());
  request.set_data_size(data_size);
  request.set_metadata_size(metadata_size);
  std::string raw;
  rpc::PlasmaCreateReply reply;
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(CyrayConfig::Instance().object_store_full_timeout_ms());
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      CYRAY_RETURN_NOT_OK(Request(rpc::PLASMA_CREATE_REQUEST, request.SerializeAsString(),
                                  rpc::PLASMA_CREATE_REPLY, &raw));
    }
    if (!reply.ParseFromString(raw)) return Status::IOError("bad create reply");
    // Readers may release objects soon; an object larger than the store never fits.
    bool may_fit = data_size + metadata_size <= capacity_;
    if (reply.ok() || !reply.store_full() || !may_fit ||
        std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!reply.ok()) {
    return reply.store_full() ? Status::ObjectStoreFull(reply.error())
                              : Status::Invalid(reply.error());
  }
  *address = base_ + reply.offset();
  return Status::OK();
}

Status PlasmaClient::Seal(const ObjectID &id) {
  rpc::PlasmaSealRequest request;
  request.set_object_id(id.Binary());
  std::string raw;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CYRAY_RETURN_NOT_OK(Request(rpc::PLASMA_SEAL_REQUEST, request.SerializeAsString(),
                                rpc::PLASMA_SEAL_REPLY, &raw));
  }
  rpc::PlasmaSealReply reply;
  if (!reply.ParseFromString(raw)) return Status::IOError("bad seal reply");
  return reply.ok() ? Status::OK() : Status::Invalid(reply.error());
}

StatusOr<std::shared_ptr<PlasmaBuffer>> PlasmaClient::Get(const ObjectID &id) {
  rpc::PlasmaGetRequest request;
  request.set_object_id(id.Binary());
  std::string raw;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CYRAY_RETURN_NOT_OK(
        Request(rpc::PLASMA_GET_REQUEST, request.SerializeAsString(), rpc::PLASMA_GET_REPLY, &raw));
  }
  rpc::PlasmaGetReply reply;
  if (!reply.ParseFromString(raw)) return Status::IOError("bad get reply");
  if (!reply.found()) return std::shared_ptr<PlasmaBuffer>();
  return std::make_shared<PlasmaBuffer>(shared_from_this(), id, base_ + reply.offset(),
                                        reply.data_size(), reply.metadata_size());
}

void PlasmaClient::Release(const ObjectID &id) {
  rpc::PlasmaRelease request;
  request.set_object_id(id.Binary());
  std::lock_guard<std::mutex> lock(mu_);
  (void)Request(rpc::PLASMA_RELEASE, request.SerializeAsString(), 0, nullptr);
}

void PlasmaClient::Delete(const std::vector<ObjectID> &ids) {
  rpc::PlasmaDelete request;
  for (const auto &id : ids) request.add_object_ids(id.Binary());
  std::lock_guard<std::mutex> lock(mu_);
  (void)Request(rpc::PLASMA_DELETE, request.SerializeAsString(), 0, nullptr);
}

Status PlasmaClient::Put(const ObjectID &id, const std::string &data, const std::string &metadata) {
  uint8_t *address = nullptr;
  CYRAY_RETURN_NOT_OK(Create(id, data.size(), metadata.size(), &address));
  std::memcpy(address, data.data(), data.size());
  std::memcpy(address + data.size(), metadata.data(), metadata.size());
  return Seal(id);
}

Status PlasmaClient::Stats(uint64_t *capacity, uint64_t *used, uint64_t *num_objects,
                           uint64_t *spilled_bytes) {
  std::string raw;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CYRAY_RETURN_NOT_OK(Request(rpc::PLASMA_STATS_REQUEST, "", rpc::PLASMA_STATS_REPLY, &raw));
  }
  rpc::PlasmaStatsReply reply;
  if (!reply.ParseFromString(raw)) return Status::IOError("bad stats reply");
  *capacity = reply.capacity();
  *used = reply.used();
  *num_objects = reply.num_objects();
  if (spilled_bytes) *spilled_bytes = reply.spilled_bytes();
  return Status::OK();
}

}  // namespace cyray::core
