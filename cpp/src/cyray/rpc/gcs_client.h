// GcsClient: blocking calls to the GCS server (nodes, jobs, internal KV) for
// the raylet and the core worker. None of these is on the per-task path.
// Thread-safe (gRPC stubs are).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cyray/common/status.h"

namespace cyray::rpc {

class AddTaskEventDataRequest;

class GcsClient {
 public:
  explicit GcsClient(const std::string &address, int64_t timeout_ms = 10000);
  ~GcsClient();

  const std::string &address() const { return address_; }
  // Waits up to `timeout_ms` for the GCS to answer (it may still be starting).
  Status WaitUntilReady(int64_t timeout_ms);

  Status RegisterNode(const std::string &serialized_node_info);
  Status UnregisterNode(const std::string &node_id, const std::string &reason);
  // Each element is a serialized GcsNodeInfo.
  Status GetAllNodeInfo(std::vector<std::string> *nodes);
  // A serialized rpc::ReportHeartbeatRequest; *alive is false when the GCS
  // considers the node dead.
  Status ReportHeartbeat(const std::string &serialized_request, bool *alive);

  Status ReportWorkerFailure(const std::string &worker_id, const std::string &node_id,
                             bool intentional, bool is_driver, const std::string &message);

  // Actors. Serialized rpc::TaskSpec / rpc::ActorTableData in and out.
  // RegisterActor fails with KeyError when the actor's name is taken.
  Status RegisterActor(const std::string &serialized_task_spec);
  Status GetNamedActorInfo(const std::string &name, const std::string &ns, bool *found,
                           std::string *serialized_actor, std::string *serialized_task_spec);
  Status GetActorInfo(const std::string &actor_id, bool *found, std::string *serialized_actor);
  Status KillActor(const std::string &actor_id, bool force_kill, bool no_restart);

  // A batch of task events (see core_worker/task_event_buffer.h).
  Status AddTaskEventData(const AddTaskEventDataRequest &request, int64_t timeout_ms);

  Status GetNextJobID(int *job_id);
  Status AddJob(const std::string &serialized_job_data);
  Status MarkJobFinished(const std::string &job_id);

  Status KVGet(const std::string &ns, const std::string &key, std::optional<std::string> *value);
  Status KVPut(const std::string &ns, const std::string &key, const std::string &value,
               bool overwrite, bool *added);
  Status KVDel(const std::string &ns, const std::string &key, bool by_prefix, int *deleted);
  Status KVExists(const std::string &ns, const std::string &key, bool *exists);
  Status KVKeys(const std::string &ns, const std::string &prefix, std::vector<std::string> *keys);

 private:
  struct Stubs;
  std::string address_;
  int64_t timeout_ms_;
  std::unique_ptr<Stubs> stubs_;
};

}  // namespace cyray::rpc
