// ProcessLauncher: starts worker processes by fork/exec of
// `python -m cyray.workers.default_worker` with the node's settings as
// command-line arguments, stdout/stderr redirected to per-worker log files.
// Workers die with the raylet (PR_SET_PDEATHSIG). Used on the main thread.
#pragma once

#include <string>
#include <vector>

#include "cyray/raylet/worker_pool.h"

namespace cyray::raylet {

class ProcessLauncher : public ProcessLauncherInterface {
 public:
  // `argv_prefix` is the command up to the per-worker arguments; the launcher
  // appends `--startup-token=N`. Logs go to `log_dir`/worker-<token>.{out,err}.
  ProcessLauncher(std::vector<std::string> argv_prefix, std::string log_dir);

  StatusOr<int> Launch(int64_t startup_token) override;
  void Kill(int pid, bool force) override;

 private:
  std::vector<std::string> argv_prefix_;
  std::string log_dir_;
};

}  // namespace cyray::raylet
