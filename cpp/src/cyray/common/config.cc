#include "cyray/common/config.h"

#include <cstdlib>
#include <sstream>
#include <string>

#include "cyray/common/logging.h"

namespace cyray {
namespace {

void Parse(const char *text, std::string *out) { *out = text; }
void Parse(const char *text, int64_t *out) {
  char *end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0') {
    CYRAY_LOG(WARNING) << "ignoring non-integer config value '" << text << "'";
    return;
  }
  *out = v;
}
[[maybe_unused]] void Parse(const char *text, double *out) {
  char *end = nullptr;
  double v = std::strtod(text, &end);
  if (end == text || *end != '\0') {
    CYRAY_LOG(WARNING) << "ignoring non-number config value '" << text << "'";
    return;
  }
  *out = v;
}
void Parse(const char *text, bool *out) {
  std::string s(text);
  *out = (s == "1" || s == "true" || s == "True" || s == "TRUE");
}

template <typename T>
std::string ToText(const T &v) {
  std::ostringstream os;
  os << std::boolalpha << v;
  return os.str();
}

}  // namespace

CyrayConfig::CyrayConfig(EnvLookup lookup) {
#define CYRAY_CONFIG(type, name, default_value, doc) \
  if (const char *v = lookup("CYRAY_" #name)) Parse(v, &name##_);
#include "cyray/common/config_def.h"
#undef CYRAY_CONFIG
}

const CyrayConfig &CyrayConfig::Instance() {
  static const CyrayConfig instance([](const char *n) -> const char * { return std::getenv(n); });
  return instance;
}

std::map<std::string, CyrayConfig::KnobInfo> CyrayConfig::Describe() const {
  std::map<std::string, KnobInfo> out;
#define CYRAY_CONFIG(type, name, default_value, doc) \
  out[#name] = KnobInfo{#type, ToText(name##_), doc};
#include "cyray/common/config_def.h"
#undef CYRAY_CONFIG
  return out;
}

}  // namespace cyray
