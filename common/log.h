// Compositor logging: one line per event, prefixed with the level and, for
// guest events, the guest's connection id, so a failure says whose it was.
#pragma once

#include <cstdarg>
#include <cstdio>

namespace xen3d::host {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };
void set_log_level(LogLevel level);
LogLevel log_level();
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define XLOG_ERROR(...) ::xen3d::host::log(::xen3d::host::LogLevel::Error, __VA_ARGS__)
#define XLOG_WARN(...) ::xen3d::host::log(::xen3d::host::LogLevel::Warn, __VA_ARGS__)
#define XLOG_INFO(...) ::xen3d::host::log(::xen3d::host::LogLevel::Info, __VA_ARGS__)
#define XLOG_DEBUG(...) ::xen3d::host::log(::xen3d::host::LogLevel::Debug, __VA_ARGS__)

}  // namespace xen3d::host
