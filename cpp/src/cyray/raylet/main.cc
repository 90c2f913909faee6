// The raylet binary: one per node. Started by `cyray.init()` / `cyray start`
// with its settings as --name=value flags; runs until SIGTERM or GCS loss.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "cyray/common/config.h"
#include "cyray/common/logging.h"
#include "cyray/raylet/node_manager.h"
#include "cyray/rpc/cluster_token.h"

namespace {

constexpr const char *kUsage = R"(usage: raylet --gcs-address=HOST:PORT --raylet-socket-name=PATH
    --python-executable=PATH --session-dir=DIR [--node-ip-address=IP]
    [--node-manager-port=N] [--node-id=HEX] [--resources=CPU=2,GPU=0,name=amount]
    [--num-prestart-workers=N] [--maximum-startup-concurrency=N] [--head]
    [--ready-file=PATH] [--node-name=NAME] [--parent-pid=PID]
    [--object-store-memory=BYTES] [--labels=key=value,key2=value2])";

std::map<std::string, std::string> ParseFlags(int argc, char **argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      std::cerr << "raylet: unexpected argument '" << arg << "'\n" << kUsage << "\n";
      std::exit(2);
    }
    auto eq = arg.find('=');
    if (eq == std::string::npos) {
      flags[arg.substr(2)] = "true";
    } else {
      flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
    }
  }
  return flags;
}

cyray::raylet::ResourceSet ParseResources(const std::string &text) {
  cyray::raylet::ResourceSet out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos) continue;
    double amount = std::strtod(item.substr(eq + 1).c_str(), nullptr);
    if (amount > 0) out[item.substr(0, eq)] = amount;
  }
  return out;
}

// "key=value,key2=value2" (a value may not contain ',').
std::map<std::string, std::string> ParseLabels(const std::string &text) {
  std::map<std::string, std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

std::string Require(const std::map<std::string, std::string> &flags, const std::string &name) {
  auto it = flags.find(name);
  if (it == flags.end() || it->second.empty()) {
    std::cerr << "raylet: missing --" << name << "\n" << kUsage << "\n";
    std::exit(2);
  }
  return it->second;
}

std::string Get(const std::map<std::string, std::string> &flags, const std::string &name,
                const std::string &fallback) {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

// Sends this process SIGTERM when process `parent_pid` exits; false if it is
// gone already. A pidfd follows the process, whereas PR_SET_PDEATHSIG follows
// the thread that started us (a driver's init() from a thread that later ends
// would take the cluster with it); PDEATHSIG stays as the fallback.
bool WatchParent(int parent_pid) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, parent_pid, 0));
  if (pidfd < 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    return ::getppid() == parent_pid;
  }
  if (::getppid() != parent_pid) return false;
  std::thread([pidfd] {
    struct pollfd fd = {pidfd, POLLIN, 0};
    while (::poll(&fd, 1, -1) < 0 && errno == EINTR) {
    }
    ::kill(::getpid(), SIGTERM);
  }).detach();
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  using namespace cyray;
  const auto &config = CyrayConfig::Instance();
  SetLogLevel(ParseLogLevel(config.log_level()));
  SetLogComponent("raylet");
  auto flags = ParseFlags(argc, argv);
  if (flags.count("help")) {
    std::cout << kUsage << "\n";
    return 0;
  }

  // Started by a driver: end with it (SIGTERM lets the raylet end its workers).
  int parent_pid = std::atoi(Get(flags, "parent-pid", "0").c_str());
  if (parent_pid > 0 && !WatchParent(parent_pid)) {
    CYRAY_LOG(ERROR) << "parent process " << parent_pid << " is gone; exiting";
    return 1;
  }

  raylet::NodeManagerConfig nm;
  std::string node_id_hex = Get(flags, "node-id", "");
  nm.node_id = node_id_hex.empty() ? NodeID::FromRandom() : NodeID::FromHex(node_id_hex);
  nm.node_ip_address = Get(flags, "node-ip-address", "127.0.0.1");
  nm.node_manager_port = std::atoi(Get(flags, "node-manager-port", "0").c_str());
  nm.socket_path = Require(flags, "raylet-socket-name");
  nm.gcs_address = Require(flags, "gcs-address");
  nm.session_dir = Require(flags, "session-dir");
  nm.log_dir = nm.session_dir + "/logs";
  nm.resources = ParseResources(Get(flags, "resources", ""));
  nm.labels = ParseLabels(Get(flags, "labels", ""));
  nm.is_head = flags.count("head") > 0;
  nm.ready_file = Get(flags, "ready-file", "");
  nm.node_name = Get(flags, "node-name", "");
  // The cluster token, from the process that started this raylet.
  if (const char *token = std::getenv("CYRAY_AUTH_TOKEN")) nm.auth_token = token;
  // Before any channel or server exists: all of them carry or check it.
  rpc::SetClusterToken(nm.auth_token);
  std::string store_memory = Get(flags, "object-store-memory", "");
  if (!store_memory.empty())
    nm.object_store_memory = std::strtoull(store_memory.c_str(), nullptr, 10);
  double cpus = nm.resources.count("CPU") ? nm.resources["CPU"] : 1;
  int prestart = static_cast<int>(config.num_prestart_workers());
  nm.num_prestart_workers = std::atoi(
      Get(flags, "num-prestart-workers", std::to_string(prestart < 0 ? int(cpus) : prestart))
          .c_str());
  int concurrency = static_cast<int>(config.maximum_startup_concurrency());
  nm.maximum_startup_concurrency =
      std::atoi(Get(flags, "maximum-startup-concurrency",
                    std::to_string(concurrency > 0 ? concurrency : std::max(1, int(cpus))))
                    .c_str());
  nm.worker_argv = {Require(flags, "python-executable"), "-m",
                    "cyray.workers.default_worker",      "--node-ip-address=" + nm.node_ip_address,
                    "--node-id=" + nm.node_id.Hex(),     "--raylet-socket-name=" + nm.socket_path,
                    "--gcs-address=" + nm.gcs_address,   "--session-dir=" + nm.session_dir};

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  raylet::NodeManager node_manager(io, nm);
  Status status = node_manager.Start();
  if (!status.ok()) {
    CYRAY_LOG(ERROR) << "raylet failed to start: " << status;
    return 1;
  }
  io.run();
  return 0;
}
