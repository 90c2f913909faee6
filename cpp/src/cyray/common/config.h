// CyrayConfig: the process-wide values of the knobs in config_def.h.
// Read from the environment once, on first use; read-only afterwards, so any
// thread may call the accessors.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace cyray {

class CyrayConfig {
 public:
  static const CyrayConfig &Instance();

#define CYRAY_CONFIG(type, name, default_value, doc) \
  const type &name() const { return name##_; }
#include "cyray/common/config_def.h"
#undef CYRAY_CONFIG

  struct KnobInfo {
    std::string type;
    std::string value;  // as text
    std::string doc;
  };
  // Every knob by name, for `cyray._raylet.config()` and diagnostics.
  std::map<std::string, KnobInfo> Describe() const;

  // Builds a config from `getenv`-like lookups; exposed for tests.
  using EnvLookup = const char *(*)(const char *);
  explicit CyrayConfig(EnvLookup lookup);

 private:
#define CYRAY_CONFIG(type, name, default_value, doc) type name##_ = default_value;
#include "cyray/common/config_def.h"
#undef CYRAY_CONFIG
};

}  // namespace cyray
