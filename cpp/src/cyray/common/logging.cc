#include "cyray/common/logging.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace cyray {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::INFO)};
std::mutex g_component_mu;
std::string g_component = "cyray";

const char *LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::DEBUG:
      return "D";
    case LogLevel::INFO:
      return "I";
    case LogLevel::WARNING:
      return "W";
    case LogLevel::ERROR:
      return "E";
    case LogLevel::FATAL:
      return "F";
  }
  return "?";
}

const char *BaseName(const char *path) {
  const char *base = path;
  for (const char *p = path; *p; ++p) {
    if (*p == '/') base = p + 1;
  }
  return base;
}

}  // namespace

LogLevel ParseLogLevel(const std::string &name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "debug") return LogLevel::DEBUG;
  if (lower == "warning" || lower == "warn") return LogLevel::WARNING;
  if (lower == "error") return LogLevel::ERROR;
  return LogLevel::INFO;
}

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

bool IsLevelEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void SetLogComponent(const std::string &name) {
  std::lock_guard<std::mutex> lock(g_component_mu);
  g_component = name;
}

LogMessage::LogMessage(LogLevel level, const char *file, int line) : level_(level) {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm tm_buf;
  localtime_r(&secs, &tm_buf);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%m%d %H:%M:%S", &tm_buf);
  std::string component;
  {
    std::lock_guard<std::mutex> lock(g_component_mu);
    component = g_component;
  }
  char micro_buf[8];
  std::snprintf(micro_buf, sizeof(micro_buf), "%06ld", static_cast<long>(micros));
  stream_ << "[" << LevelLetter(level) << stamp << "." << micro_buf << " " << component << " "
          << getpid() << " " << BaseName(file) << ":" << line << "] ";
}

LogMessage::~LogMessage() {
  stream_ << "\n";
  std::string text = stream_.str();
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
  if (level_ == LogLevel::FATAL) std::abort();
}

}  // namespace cyray
