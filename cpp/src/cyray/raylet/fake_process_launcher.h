// A ProcessLauncherInterface for tests: records launches and kills, starts nothing.
#pragma once

#include <vector>

#include "cyray/raylet/worker_pool.h"

namespace cyray::raylet {

class FakeProcessLauncher : public ProcessLauncherInterface {
 public:
  StatusOr<int> Launch(int64_t startup_token) override {
    if (fail_next) {
      fail_next = false;
      return Status::IOError("fork failed");
    }
    tokens.push_back(startup_token);
    return next_pid++;
  }
  void Kill(int pid, bool force) override { killed.push_back(pid); }

  int next_pid = 1000;
  bool fail_next = false;
  std::vector<int64_t> tokens;
  std::vector<int> killed;
};

}  // namespace cyray::raylet
