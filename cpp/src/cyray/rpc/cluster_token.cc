#include "cyray/rpc/cluster_token.h"

namespace cyray::rpc {

namespace {
std::string &TokenStorage() {
  static std::string token;
  return token;
}
}  // namespace

void SetClusterToken(const std::string &token) { TokenStorage() = token; }

const std::string &ClusterToken() { return TokenStorage(); }

}  // namespace cyray::rpc
