// A worker process (or a connected driver) as the raylet sees it. Owned by the
// WorkerPool; touched only on the raylet's main thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cyray/common/id.h"
#include "cyray/raylet/resources.h"

namespace cyray::raylet {

struct Worker {
  WorkerID worker_id;
  bool is_driver = false;
  int pid = 0;
  std::string ip_address;
  int port = 0;  // of its CoreWorkerService
  int64_t startup_token = -1;
  // Opaque handle of its local-socket connection (0 when none).
  uint64_t connection_id = 0;
  // It announced that it exits on purpose (max_calls, exit_actor).
  bool intentional_exit = false;

  // Lease state: set while an owner holds this worker.
  bool leased = false;
  WorkerID lease_owner;
  ResourceAllocation allocation;
  // CPU given back while the worker waits in `get`.
  double released_cpu = 0;
  int64_t idle_since_ms = 0;
};

using WorkerPtr = std::shared_ptr<Worker>;

}  // namespace cyray::raylet
