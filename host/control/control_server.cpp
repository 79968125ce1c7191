// The control socket: one request line per connection, one answer, then the
// connection closes. Answers start with "ok" or "error <message>"; the exact
// format is in xen3dctl --help (xen3dctl.cpp), which is its only documented client.
#include "host/control/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/png_writer.h"
#include "proto/socket_io.h"

namespace xen3d::host {
namespace {

constexpr size_t kMaxRequestBytes = 1024;
// One client at a time: these bound how long a slow or stuck one holds the rest up.
constexpr auto kRequestTimeout = std::chrono::seconds(2);
constexpr auto kAnswerTimeout = std::chrono::seconds(10);

using Clock = std::chrono::steady_clock;

std::string errno_text() { return std::strerror(errno); }

// Names and messages go into one-line, tab-separated answers.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

bool is_text_line(std::string_view line) {
  for (char c : line)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

std::string format_list(const std::vector<VmSummary>& vms) {
  std::string out = "ok " + std::to_string(vms.size()) + "\n";
  for (const VmSummary& vm : vms) {
    char line[512];
    std::snprintf(line, sizeof line, "\t%u\t%ux%u\t%u windows\t%llu frames\t%s\n", vm.id, vm.width, vm.height,
                  vm.gl_windows, static_cast<unsigned long long>(vm.presents), vm.selected ? "selected" : "-");
    out += one_line(vm.name) + line;
  }
  return out;
}

std::string format_stats(const std::vector<VmSummary>& vms) {
  std::string out = "ok " + std::to_string(vms.size()) + "\n";
  for (const VmSummary& vm : vms) {
    char line[512];
    std::snprintf(line, sizeof line,
                  "\tcompositions=%llu\tcompose_ms_avg=%.3f\tpresents=%llu\tpresent_ms_avg=%.3f"
                  "\treadback_bytes_saved=%llu\tfb_updates=%llu\tgl_connections=%u\n",
                  static_cast<unsigned long long>(vm.compositions), vm.compose_ms_avg,
                  static_cast<unsigned long long>(vm.presents), vm.present_ms_avg,
                  static_cast<unsigned long long>(vm.readback_bytes_saved),
                  static_cast<unsigned long long>(vm.fb_updates), vm.gl_connections);
    out += one_line(vm.name) + line;
  }
  return out;
}

std::string error_answer(std::string_view message) { return "error " + one_line(message) + "\n"; }

}  // namespace

struct ControlServer::Impl {
  explicit Impl(DesktopControl& c) : control(c) {}

  DesktopControl& control;
  std::string path;
  int listen_fd = -1;
  int wake_read = -1, wake_write = -1;  // stop() wakes the thread through this pipe
  dev_t socket_dev = 0;
  ino_t socket_ino = 0;
  std::thread thread;

  void serve();
  void serve_client(int fd);
  // Waits for `events` on fd until `deadline`; false on timeout or stop.
  bool wait_for(int fd, short events, Clock::time_point deadline);
  bool read_request(int fd, std::string& request, std::string& problem);
  void write_answer(int fd, const std::string& head, const std::vector<uint8_t>& payload);
  std::string answer(const std::string& request, std::vector<uint8_t>& payload);
  void close_all();
};

bool ControlServer::Impl::wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd fds[2] = {{fd, events, 0}, {wake_read, POLLIN, 0}};
    int n = poll(fds, 2, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[1].revents) return false;
    if (fds[0].revents) return true;
  }
}

bool ControlServer::Impl::read_request(int fd, std::string& request, std::string& problem) {
  Clock::time_point deadline = Clock::now() + kRequestTimeout;
  request.clear();
  char buf[256];
  for (;;) {
    if (!wait_for(fd, POLLIN, deadline)) {
      problem = "no complete request line within 2 s";
      return false;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      problem = "cannot read the request: " + errno_text();
      return false;
    }
    if (n == 0) break;  // a last line without '\n' still counts
    request.append(buf, static_cast<size_t>(n));
    if (size_t end = request.find('\n'); end != std::string::npos) {
      request.resize(end);
      break;
    }
    if (request.size() > kMaxRequestBytes) break;
  }
  if (request.size() > kMaxRequestBytes) {
    problem = "request longer than " + std::to_string(kMaxRequestBytes) + " bytes";
    return false;
  }
  if (!request.empty() && request.back() == '\r') request.pop_back();
  if (!is_text_line(request)) {
    problem = "request is not a line of text";
    return false;
  }
  return true;
}

void ControlServer::Impl::write_answer(int fd, const std::string& head, const std::vector<uint8_t>& payload) {
  Clock::time_point deadline = Clock::now() + kAnswerTimeout;
  auto send_all = [&](const uint8_t* data, size_t size) {
    while (size > 0) {
      ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        if (!wait_for(fd, POLLOUT, deadline)) {
          XLOG_WARN("control: client stopped reading its answer; dropped it");
          return false;
        }
        continue;
      }
      if (n < 0) {
        XLOG_DEBUG("control: client went away before its answer: %s", errno_text().c_str());
        return false;
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  };
  if (send_all(reinterpret_cast<const uint8_t*>(head.data()), head.size()) && !payload.empty())
    send_all(payload.data(), payload.size());
}

std::string ControlServer::Impl::answer(const std::string& request, std::vector<uint8_t>& payload) {
  std::string_view line = request;
  size_t space = line.find(' ');
  std::string_view command = line.substr(0, space);
  std::string argument = space == std::string_view::npos ? "" : std::string(line.substr(space + 1));

  if (command == "list" || command == "stats") {
    if (!argument.empty()) return error_answer(std::string(command) + " takes no argument");
    std::vector<VmSummary> vms = control.list();
    return command == "list" ? format_list(vms) : format_stats(vms);
  }
  if (command == "switch") {
    if (argument.empty()) return error_answer("switch needs a VM name");
    std::string error;
    if (!control.select(argument, error))
      return error_answer(error.empty() ? "no VM named \"" + argument + "\"" : error);
    XLOG_DEBUG("control: switched to VM %s", one_line(argument).c_str());
    return "ok\n";
  }
  if (command == "screenshot") {
    if (argument.empty()) return error_answer("screenshot needs a VM name");
    DesktopImage image;
    std::string error;
    if (!control.capture(argument, image, error))
      return error_answer(error.empty() ? "cannot capture VM \"" + argument + "\"" : error);
    if (image.width == 0 || image.height == 0 || image.stride < image.width * 4 ||
        image.pixels.size() < size_t{image.stride} * (image.height - 1) + image.width * 4)
      return error_answer("VM \"" + argument + "\" has no desktop image yet");
    if (!encode_png_bgrx(image.pixels.data(), image.width, image.height, image.stride, payload, error))
      return error_answer(error);
    return "ok " + std::to_string(payload.size()) + "\n";
  }
  if (command.empty()) return error_answer("empty request; commands: list, switch VM, screenshot VM, stats");
  return error_answer("unknown command \"" + std::string(command) +
                      "\"; commands: list, switch VM, screenshot VM, stats");
}

void ControlServer::Impl::serve_client(int fd) {
  std::string request, problem;
  std::vector<uint8_t> payload;
  std::string head;
  if (read_request(fd, request, problem)) {
    XLOG_DEBUG("control: request \"%s\"", one_line(request).c_str());
    head = answer(request, payload);
  } else {
    XLOG_DEBUG("control: bad request: %s", problem.c_str());
    head = error_answer(problem);
  }
  write_answer(fd, head, payload);
  // Closing a unix socket with unread input resets it, and the client could
  // lose the answer (say, the error about its over-long line): read off what
  // it already sent first.
  shutdown(fd, SHUT_WR);
  char discard[4096];
  for (size_t drained = 0; drained < (1u << 20);) {
    ssize_t n = recv(fd, discard, sizeof discard, MSG_DONTWAIT);
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
}

void ControlServer::Impl::serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_read, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      XLOG_ERROR("control: poll on %s failed: %s; the control socket stops", path.c_str(), errno_text().c_str());
      return;
    }
    if (fds[1].revents) return;
    int client = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        XLOG_WARN("control: accept on %s failed: %s", path.c_str(), errno_text().c_str());
        // EMFILE and friends would spin: give the process a moment.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;
    }
    serve_client(client);
    close(client);
  }
}

void ControlServer::Impl::close_all() {
  if (listen_fd >= 0) {
    // Unlink only our own socket: another compositor may have replaced it since.
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && st.st_dev == socket_dev && st.st_ino == socket_ino) unlink(path.c_str());
    close(listen_fd);
  }
  if (wake_read >= 0) close(wake_read);
  if (wake_write >= 0) close(wake_write);
  listen_fd = wake_read = wake_write = -1;
}

ControlServer::ControlServer(DesktopControl& control) : impl_(std::make_unique<Impl>(control)) {}

ControlServer::~ControlServer() { stop(); }

bool ControlServer::start(const std::string& path, std::string& error) {
  if (impl_->thread.joinable()) {
    error = "the control socket is already listening on " + impl_->path;
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    error = "control socket path \"" + path + "\" is empty or longer than " +
            std::to_string(sizeof addr.sun_path - 1) + " bytes";
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (dir.empty()) dir = "/";
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    error = "cannot use control socket directory " + dir + ": " + errno_text();
    return false;
  }
  // A directory someone else owns (say a planted /tmp/xen3d-<uid>) could let
  // them swap the socket for their own.
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    error = "control socket directory " + dir + " belongs to uid " + std::to_string(st.st_uid) +
            ", not to this user; refusing to listen there";
    return false;
  }

  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = path + " exists and is not a socket; not replacing it";
      return false;
    }
    // Non-blocking: a stuck owner with a full backlog must not hang this start
    // (EAGAIN means someone is still listening there).
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    bool live = probe >= 0 && (connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 || errno == EAGAIN);
    if (probe >= 0) close(probe);
    if (live) {
      error = "another process (a running xen3d-compositor?) is listening on " + path;
      return false;
    }
    unlink(path.c_str());  // stale: left by a compositor that did not stop cleanly
  }

  Impl& s = *impl_;
  s.path = path;
  std::string why;
  s.listen_fd = proto::listen_unix(path, 8, SOCK_NONBLOCK, 0600, why);
  if (s.listen_fd < 0) {
    error = "control socket: " + why;
    return false;
  }
  int wake[2];
  if (lstat(path.c_str(), &st) != 0 || pipe2(wake, O_CLOEXEC) != 0) {
    error = "cannot set up control socket " + path + ": " + errno_text();
    s.close_all();
    return false;
  }
  s.socket_dev = st.st_dev;
  s.socket_ino = st.st_ino;
  s.wake_read = wake[0];
  s.wake_write = wake[1];
  s.thread = std::thread([&s] { s.serve(); });
  XLOG_DEBUG("control: listening on %s", path.c_str());
  return true;
}

void ControlServer::stop() {
  Impl& s = *impl_;
  if (s.thread.joinable()) {
    char byte = 1;
    while (write(s.wake_write, &byte, 1) < 0 && errno == EINTR) {
    }
    s.thread.join();
  }
  s.close_all();
}

}  // namespace xen3d::host
