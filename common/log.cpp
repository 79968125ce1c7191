#include "common/log.h"

#include <atomic>
#include <mutex>
#include <ctime>

namespace xen3d {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
std::mutex g_mutex;
char g_program[64] = "xen3d-compositor";
}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
void set_log_program(const char* name) { snprintf(g_program, sizeof g_program, "%s", name); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

void log(LogLevel level, const char* fmt, ...) {
  if (static_cast<int>(level) > g_level.load()) return;
  static const char* const names[] = {"error", "warn", "info", "debug"};
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  localtime_r(&ts.tv_sec, &t);
  std::lock_guard<std::mutex> lock(g_mutex);
  fprintf(stderr, "[%02d:%02d:%02d.%03ld] %s %s: %s\n", t.tm_hour, t.tm_min, t.tm_sec,
          ts.tv_nsec / 1000000, g_program, names[static_cast<int>(level)], msg);
}

}  // namespace xen3d
