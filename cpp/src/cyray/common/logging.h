// Minimal leveled logging to stderr: CYRAY_LOG(INFO) << "...";
// CYRAY_CHECK(cond) << "..." aborts with the message when cond is false.
// The level comes from the `log_level` config knob (CYRAY_log_level env var).
// Thread-safe: each message is written with one write(2).
#pragma once

#include <sstream>
#include <string>

namespace cyray {

enum class LogLevel : int { DEBUG = 0, INFO = 1, WARNING = 2, ERROR = 3, FATAL = 4 };

// Parses "debug"/"info"/"warning"/"error" (any case); INFO when unknown.
LogLevel ParseLogLevel(const std::string &name);
void SetLogLevel(LogLevel level);
bool IsLevelEnabled(LogLevel level);
// Names the component in every line, e.g. "raylet" or "core_worker".
void SetLogComponent(const std::string &name);

class LogMessage {
 public:
  LogMessage(LogLevel level, const char *file, int line);
  ~LogMessage();  // writes the line; aborts for FATAL
  std::ostream &stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Swallows the stream when a level is disabled.
struct LogVoidify {
  void operator&(std::ostream &) {}
};

}  // namespace cyray

#define CYRAY_LOG(level)                             \
  !::cyray::IsLevelEnabled(::cyray::LogLevel::level) \
      ? (void)0                                      \
      : ::cyray::LogVoidify() &                      \
            ::cyray::LogMessage(::cyray::LogLevel::level, __FILE__, __LINE__).stream()

#define CYRAY_CHECK(cond)                                                                 \
  (cond) ? (void)0                                                                        \
         : ::cyray::LogVoidify() &                                                        \
               ::cyray::LogMessage(::cyray::LogLevel::FATAL, __FILE__, __LINE__).stream() \
                   << "Check failed: " #cond " "

#define CYRAY_CHECK_OK(expr)                                  \
  do {                                                        \
    ::cyray::Status _st = (expr);                             \
    CYRAY_CHECK(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)
