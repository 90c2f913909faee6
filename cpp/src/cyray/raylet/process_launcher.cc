#include "cyray/raylet/process_launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>

namespace cyray::raylet {

ProcessLauncher::ProcessLauncher(std::vector<std::string> argv_prefix, std::string log_dir)
    : argv_prefix_(std::move(argv_prefix)), log_dir_(std::move(log_dir)) {}

StatusOr<int> ProcessLauncher::Launch(int64_t startup_token) {
  std::vector<std::string> args = argv_prefix_;
  args.push_back("--startup-token=" + std::to_string(startup_token));
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::string base =
      log_dir_ + "/worker-" + std::to_string(getpid()) + "-" + std::to_string(startup_token);
  int out_fd = ::open((base + ".out").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err_fd = ::open((base + ".err").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t parent = getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    return Status::IOError(std::string("fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    if (out_fd >= 0) ::dup2(out_fd, STDOUT_FILENO);
    if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  if (out_fd >= 0) ::close(out_fd);
  if (err_fd >= 0) ::close(err_fd);
  return static_cast<int>(pid);
}

void ProcessLauncher::Kill(int pid, bool force) {
  if (pid > 0) ::kill(pid, force ? SIGKILL : SIGTERM);
}

}  // namespace cyray::raylet
