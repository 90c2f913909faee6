#include "cyray/raylet/worker_exits.h"

#include <sys/wait.h>

#include <csignal>
#include <cstring>

namespace cyray::raylet {

namespace {

std::string SignalName(int sig) {
  switch (sig) {
    case SIGKILL:
      return "SIGKILL";
    case SIGTERM:
      return "SIGTERM";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    case SIGPIPE:
      return "SIGPIPE";
    default:
      return "SIG" + std::to_string(sig);
  }
}

}  // namespace

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    std::string out = "was killed by signal " + std::to_string(sig) + " (" + SignalName(sig) + ")";
    if (WCOREDUMP(wait_status)) out += ", core dumped";
    return out;
  }
  return "ended with wait status " + std::to_string(wait_status);
}

void WorkerExits::OnGone(const WorkerID &worker_id, int pid, bool is_driver, bool intentional,
                         const std::string &why, int64_t now_ms) {
  WorkerExit exit;
  exit.worker_id = worker_id;
  exit.pid = pid;
  exit.is_driver = is_driver;
  exit.intentional = intentional;
  exit.why = why;
  if (pid <= 0 || is_driver) {
    // Not our child: nothing to reap.
    exit.detail = (is_driver ? "driver pid " : "worker pid ") + std::to_string(pid) + " is gone (" +
                  why + ")";
    Finish(std::move(exit));
    return;
  }
  auto reason = kill_reasons_.find(pid);
  if (reason != kill_reasons_.end()) {
    exit.killed_by_runtime = reason->second;
    kill_reasons_.erase(reason);
  }
  pending_since_ms_[pid] = now_ms;
  pending_[pid] = std::move(exit);
}

void WorkerExits::OnKilledByRuntime(int pid, const std::string &reason) {
  auto it = pending_.find(pid);
  if (it != pending_.end()) {
    it->second.killed_by_runtime = reason;
  } else {
    kill_reasons_[pid] = reason;
  }
}

bool WorkerExits::OnReaped(int pid, int wait_status) {
  auto it = pending_.find(pid);
  if (it == pending_.end()) return false;
  WorkerExit exit = std::move(it->second);
  pending_.erase(it);
  pending_since_ms_.erase(pid);
  kill_reasons_.erase(pid);
  exit.reaped = true;
  exit.detail = "worker pid " + std::to_string(pid) + " " + DescribeWaitStatus(wait_status);
  if (!exit.killed_by_runtime.empty()) {
    exit.detail += " (killed by the runtime: " + exit.killed_by_runtime + ")";
  }
  Finish(std::move(exit));
  return true;
}

void WorkerExits::ExpireUnreaped(int64_t now_ms, int64_t timeout_ms) {
  std::vector<int> expired;
  for (const auto &[pid, since] : pending_since_ms_) {
    if (now_ms - since >= timeout_ms) expired.push_back(pid);
  }
  for (int pid : expired) {
    WorkerExit exit = std::move(pending_[pid]);
    pending_.erase(pid);
    pending_since_ms_.erase(pid);
    exit.detail = "worker pid " + std::to_string(pid) + " is gone (" + exit.why +
                  "; its exit status is unknown)";
    Finish(std::move(exit));
  }
}

std::optional<WorkerExit> WorkerExits::Find(const WorkerID &worker_id) const {
  auto it = final_.find(worker_id);
  if (it == final_.end()) return std::nullopt;
  return it->second;
}

bool WorkerExits::IsPending(const WorkerID &worker_id) const {
  for (const auto &[pid, exit] : pending_) {
    if (exit.worker_id == worker_id) return true;
  }
  return false;
}

void WorkerExits::Finish(WorkerExit exit) {
  if (!final_.count(exit.worker_id)) order_.push_back(exit.worker_id);
  final_[exit.worker_id] = exit;
  while (order_.size() > max_kept_) {
    final_.erase(order_.front());
    order_.pop_front();
  }
  on_final_(exit);
}

}  // namespace cyray::raylet
