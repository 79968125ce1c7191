// xen3dctl: steers a running xen3d-compositor through its control socket
// (control_server.cpp). Links nothing but control_socket_path.cpp.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "host/control/control_server.h"

namespace {

constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2;
constexpr int kAnswerTimeoutMs = 30000;

const char kHelp[] =
    "usage: xen3dctl [--socket PATH] COMMAND\n"
    "\n"
    "Steers a running xen3d-compositor.\n"
    "\n"
    "commands:\n"
    "  list                    one line per VM desktop:\n"
    "                            NAME<TAB>ID<TAB>WIDTHxHEIGHT<TAB>N windows<TAB>N frames<TAB>selected|-\n"
    "                          (windows: GL windows the guest's Xorg module tracks; frames: GL\n"
    "                          frames presented; \"selected\" marks the VM the window and VNC show)\n"
    "  switch VM               show VM's desktop in the window and VNC outputs\n"
    "  screenshot VM FILE.png  write VM's composed desktop as a PNG (FILE \"-\": standard output)\n"
    "  stats                   one line per VM:\n"
    "                            NAME<TAB>compositions=N<TAB>compose_ms_avg=F<TAB>presents=N<TAB>present_ms_avg=F<TAB>\n"
    "                            readback_bytes_saved=N<TAB>fb_updates=N<TAB>gl_connections=N\n"
    "\n"
    "options:\n"
    "  --socket PATH           the compositor's control socket; default: $XEN3D_CONTROL, else\n"
    "                          $XDG_RUNTIME_DIR/xen3d-control.sock, else /tmp/xen3d-UID/control.sock\n"
    "  -h, --help              this text\n"
    "\n"
    "exit status: 0 done, 1 the compositor answered with an error or could not be reached,\n"
    "2 bad usage.\n"
    "\n"
    "protocol (for scripts: one connection per request, e.g. with socat):\n"
    "  the client sends one line (at most 1024 bytes): \"list\", \"stats\", \"switch VM\" or\n"
    "  \"screenshot VM\". The answer's first line is \"error MESSAGE\" or \"ok\" plus, for list and\n"
    "  stats, \" N\" followed by N lines as above, and for screenshot \" N\" followed by N bytes of\n"
    "  PNG. Then the compositor closes the connection.\n";

int usage_error(const char* message) {
  std::fprintf(stderr, "xen3dctl: %s\n(xen3dctl --help for usage)\n", message);
  return kExitUsage;
}

class Connection {
 public:
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }

  bool open(const std::string& path) {
    path_ = path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
      std::fprintf(stderr, "xen3dctl: socket path %s is longer than %zu bytes\n", path.c_str(),
                   sizeof addr.sun_path - 1);
      return false;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr,
                   "xen3dctl: cannot reach the compositor's control socket at %s (%s). "
                   "Is xen3d-compositor running?\n",
                   path.c_str(), std::strerror(errno));
      return false;
    }
    return true;
  }

  bool send_line(const std::string& line) {
    std::string data = line + "\n";
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(std::string("cannot send the request: ") + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    return true;
  }

  bool read_line(std::string& line) {
    line.clear();
    for (;;) {
      if (size_t end = buffer_.find('\n'); end != std::string::npos) {
        line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return true;
      }
      if (!fill()) return false;
      if (eof_) return fail("the compositor closed the connection mid-answer");
    }
  }

  bool read_bytes(size_t count, std::vector<uint8_t>& out) {
    while (buffer_.size() < count) {
      if (!fill()) return false;
      if (eof_) return fail("the compositor closed the connection mid-answer");
    }
    out.assign(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(count));
    buffer_.erase(0, count);
    return true;
  }

 private:
  bool fail(const std::string& message) {
    std::fprintf(stderr, "xen3dctl: %s (socket %s)\n", message.c_str(), path_.c_str());
    return false;
  }

  bool fill() {
    pollfd pfd{fd_, POLLIN, 0};
    int ready;
    while ((ready = poll(&pfd, 1, kAnswerTimeoutMs)) < 0 && errno == EINTR) {
    }
    if (ready == 0) return fail("the compositor did not answer within 30 s");
    char chunk[65536];
    ssize_t n;
    while ((n = recv(fd_, chunk, sizeof chunk, 0)) < 0 && errno == EINTR) {
    }
    if (n < 0) return fail(std::string("cannot read the answer: ") + std::strerror(errno));
    if (n == 0) eof_ = true;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string path_;
  std::string buffer_;
  bool eof_ = false;
};

// The number after "ok " in an answer's first line.
bool parse_count(const std::string& head, size_t& count) {
  if (head.size() < 4) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(head.c_str() + 3, &end, 10);
  if (errno != 0 || end == head.c_str() + 3 || *end != '\0') return false;
  count = static_cast<size_t>(value);
  return true;
}

bool write_file(const std::string& path, const std::vector<uint8_t>& data) {
  if (path == "-") return std::fwrite(data.data(), 1, data.size(), stdout) == data.size() && std::fflush(stdout) == 0;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::fprintf(stderr, "xen3dctl: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) std::fprintf(stderr, "xen3dctl: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kHelp, stdout);
      return kExitOk;
    }
    if (arg == "--socket") {
      if (i + 1 >= argc) return usage_error("--socket needs a PATH");
      socket_path = argv[++i];
    } else if (arg.rfind("--socket=", 0) == 0) {
      socket_path = arg.substr(9);
    } else if (arg == "--") {
      for (++i; i < argc; ++i) words.emplace_back(argv[i]);
    } else if (arg.size() > 1 && arg[0] == '-' && words.empty()) {
      return usage_error(("unknown option " + arg).c_str());
    } else {
      words.push_back(arg);
    }
  }
  if (words.empty()) return usage_error("no command given (list, switch, screenshot, stats)");
  if (socket_path.empty()) {
    const char* from_env = std::getenv("XEN3D_CONTROL");
    socket_path = from_env && *from_env ? from_env : xen3d::host::default_control_socket_path();
  }

  const std::string& command = words[0];
  size_t arguments_wanted;
  if (command == "list" || command == "stats") {
    arguments_wanted = 0;
  } else if (command == "switch") {
    arguments_wanted = 1;
  } else if (command == "screenshot") {
    arguments_wanted = 2;
  } else {
    return usage_error(("unknown command " + command + " (list, switch, screenshot, stats)").c_str());
  }
  if (words.size() != arguments_wanted + 1) {
    const char* shape = command == "switch"       ? "switch VM"
                        : command == "screenshot" ? "screenshot VM FILE.png"
                                                  : nullptr;
    return usage_error(shape ? (command + " wants: xen3dctl " + std::string(shape)).c_str()
                             : (command + " takes no arguments").c_str());
  }
  std::string request = command;
  if (arguments_wanted > 0) {
    const std::string& vm = words[1];
    if (vm.empty() || vm.find_first_of("\r\n") != std::string::npos)
      return usage_error("a VM name must be non-empty and on one line");
    request += " " + vm;
  }

  Connection connection;
  if (!connection.open(socket_path) || !connection.send_line(request)) return kExitError;
  std::string head;
  if (!connection.read_line(head)) return kExitError;
  if (head.rfind("error", 0) == 0) {
    std::string message = head.size() > 6 ? head.substr(6) : "the compositor reported an unnamed error";
    std::fprintf(stderr, "xen3dctl: %s\n", message.c_str());
    return kExitError;
  }
  if (head != "ok" && head.rfind("ok ", 0) != 0) {
    std::fprintf(stderr, "xen3dctl: unexpected answer \"%s\" from %s\n", head.c_str(), socket_path.c_str());
    return kExitError;
  }

  if (command == "switch") return kExitOk;
  size_t count = 0;
  if (!parse_count(head, count)) {
    std::fprintf(stderr, "xen3dctl: answer \"%s\" lacks a count\n", head.c_str());
    return kExitError;
  }
  if (command == "screenshot") {
    std::vector<uint8_t> png;
    if (!connection.read_bytes(count, png) || !write_file(words[2], png)) return kExitError;
    return kExitOk;
  }
  for (size_t i = 0; i < count; ++i) {
    std::string line;
    if (!connection.read_line(line)) return kExitError;
    std::printf("%s\n", line.c_str());
  }
  return kExitOk;
}
