#include "cyray/raylet/local_message_validation.h"

#include "cyray/common/id.h"
#include "cyray/protobuf/local_protocol.pb.h"

namespace cyray::raylet {

namespace {

Status CheckObjectId(const std::string &id) {
  if (id.size() != ObjectID::kSize) {
    return Status::Invalid("an object id of " + std::to_string(id.size()) + " bytes (expected " +
                           std::to_string(ObjectID::kSize) + ")");
  }
  return Status::OK();
}

template <typename Message>
Status Parse(const std::string &body, Message *message) {
  if (!message->ParseFromString(body)) return Status::Invalid("a body that does not parse");
  return Status::OK();
}

}  // namespace

Status ValidateLocalMessage(uint32_t type, const std::string &body) {
  switch (type) {
    case rpc::REGISTER_CLIENT_REQUEST: {
      rpc::RegisterClientRequest m;
      CYRAY_RETURN_NOT_OK(Parse(body, &m));
      if (m.worker_id().size() != WorkerID::kSize) return Status::Invalid("a bad worker id");
      if (!rpc::WorkerType_IsValid(m.worker_type())) return Status::Invalid("a bad worker type");
      if (m.port() < 0 || m.port() > 65535) return Status::Invalid("a bad port");
      if (m.task_port() < 0 || m.task_port() > 65535) return Status::Invalid("a bad task port");
      return Status::OK();
    }
    case rpc::DISCONNECT_CLIENT: {
      rpc::DisconnectClient m;
      return Parse(body, &m);
    }
    case rpc::NOTIFY_TASK_BLOCKED:
    case rpc::NOTIFY_TASK_UNBLOCKED:
    case rpc::PLASMA_STATS_REQUEST:
      return body.empty() ? Status::OK() : Status::Invalid("a body where none belongs");
    case rpc::PLASMA_CONNECT_REQUEST: {
      rpc::PlasmaConnectRequest m;
      return Parse(body, &m);
    }
    case rpc::PLASMA_CREATE_REQUEST: {
      rpc::PlasmaCreateRequest m;
      CYRAY_RETURN_NOT_OK(Parse(body, &m));
      CYRAY_RETURN_NOT_OK(CheckObjectId(m.object_id()));
      // Sizes whose sum would wrap around are malformed. A well-formed object
      // larger than the store is not: the store answers it with a clear error.
      if (m.data_size() > kMaxObjectSize || m.metadata_size() > kMaxObjectSize - m.data_size()) {
        return Status::Invalid("object sizes " + std::to_string(m.data_size()) + " + " +
                               std::to_string(m.metadata_size()) + " beyond any store");
      }
      return Status::OK();
    }
    case rpc::PLASMA_SEAL_REQUEST: {
      rpc::PlasmaSealRequest m;
      CYRAY_RETURN_NOT_OK(Parse(body, &m));
      return CheckObjectId(m.object_id());
    }
    case rpc::PLASMA_GET_REQUEST: {
      rpc::PlasmaGetRequest m;
      CYRAY_RETURN_NOT_OK(Parse(body, &m));
      return CheckObjectId(m.object_id());
    }
    case rpc::PLASMA_RELEASE: {
      rpc::PlasmaRelease m;
      CYRAY_RETURN_NOT_OK(Parse(body, &m));
      return CheckObjectId(m.object_id());
    }
    case rpc::PLASMA_DELETE: {
      rpc::PlasmaDelete m;
      CYRAY_RETURN_NOT_OK(Parse(body, &m));
      if (m.object_ids_size() > kMaxIdsPerDelete) return Status::Invalid("too many object ids");
      for (const auto &id : m.object_ids()) CYRAY_RETURN_NOT_OK(CheckObjectId(id));
      return Status::OK();
    }
    default:
      return Status::Invalid("an unknown message type " + std::to_string(type));
  }
}

}  // namespace cyray::raylet
