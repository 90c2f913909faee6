// The cluster token of this process: every cyray RPC carries it and every
// cyray server checks it (see grpc_util.h). No gRPC here: Cython sees this.
#pragma once

#include <string>

namespace cyray::rpc {

// Set once per process, before any channel or server is made; empty: calls
// carry no token and servers accept every call.
void SetClusterToken(const std::string &token);
const std::string &ClusterToken();

}  // namespace cyray::rpc
