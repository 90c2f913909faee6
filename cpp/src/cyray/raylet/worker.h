// A worker process (or a connected driver) as the raylet sees it. Owned by the
// WorkerPool; touched only on the raylet's main thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cyray/common/id.h"
#include "cyray/raylet/resources.h"

namespace cyray::raylet {

// What a lease uses a worker for. A worker keeps the use of its first lease:
// GPU tasks never share a process with CPU tasks (CUDA_VISIBLE_DEVICES is
// process-wide), and an actor gets a worker that never ran tasks (a task's
// worker may own objects others still use, and an actor's worker dies with it).
struct WorkerUse {
  bool gpu = false;
  bool actor = false;
  bool operator==(const WorkerUse &other) const { return gpu == other.gpu && actor == other.actor; }
};

struct Worker {
  WorkerID worker_id;
  bool is_driver = false;
  int pid = 0;
  std::string ip_address;
  int port = 0;       // of its CoreWorkerService
  int task_port = 0;  // of its task channel (0: none)
  int64_t startup_token = -1;
  // Opaque handle of its local-socket connection (0 when none).
  uint64_t connection_id = 0;
  // It announced that it exits on purpose (max_calls, exit_actor).
  bool intentional_exit = false;
  // Set by its first lease (see WorkerUse).
  std::optional<WorkerUse> use;

  // Lease state: set while an owner holds this worker.
  bool leased = false;
  // The node of the lease owner's process (Nil when unknown).
  NodeID lease_owner_node;
  WorkerID lease_owner;
  ResourceAllocation allocation;
  // CPU given back while the worker waits in `get`.
  double released_cpu = 0;
  int64_t idle_since_ms = 0;
};

using WorkerPtr = std::shared_ptr<Worker>;

}  // namespace cyray::raylet
