// Host logging (the compositor, its rooms and the Xen backends it runs): one
// line per event, prefixed with the level and, for guest events, the guest's
// connection id, so a failure says whose it was.
#pragma once

#include <cstdarg>
#include <cstdio>

namespace xen3d {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };
void set_log_level(LogLevel level);
// The program name each line carries (default "xen3d-compositor"); a render
// worker logs as "xen3d-render-worker[PID]" into the compositor's stream.
void set_log_program(const char* name);
LogLevel log_level();
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define XLOG_ERROR(...) ::xen3d::log(::xen3d::LogLevel::Error, __VA_ARGS__)
#define XLOG_WARN(...) ::xen3d::log(::xen3d::LogLevel::Warn, __VA_ARGS__)
#define XLOG_INFO(...) ::xen3d::log(::xen3d::LogLevel::Info, __VA_ARGS__)
#define XLOG_DEBUG(...) ::xen3d::log(::xen3d::LogLevel::Debug, __VA_ARGS__)

}  // namespace xen3d
