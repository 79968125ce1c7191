// vnc-input: a VNC viewer (libvncclient, the library of real viewers) that
// logs in with a password and types and clicks into the desktop it shows:
//   vnc-input HOST:PORT PASSWORD_FILE ACTION...
// ACTION: move:X,Y  click:X,Y (button 1 down and up there)  key:KEYSYM_NAME
//         wheel-up:X,Y  sleep:MS
// Prints "sent <action> t=NS" (CLOCK_MONOTONIC, as x-input-probe prints)
// after each. Exit 1 when the server refuses the login or the connection.
#include <X11/Xlib.h>  // XStringToKeysym
#include <rfb/rfbclient.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <unistd.h>

namespace {

std::string g_password;

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

char* password(rfbClient*) { return strdup(g_password.c_str()); }

bool at(const std::string& arg, int& x, int& y) { return std::sscanf(arg.c_str(), "%d,%d", &x, &y) == 2; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: vnc-input HOST:PORT PASSWORD_FILE ACTION...\n");
    return 2;
  }
  const std::string server = argv[1];
  const auto colon = server.rfind(':');
  std::ifstream pw(argv[2]);
  if (colon == std::string::npos || !std::getline(pw, g_password)) {
    std::fprintf(stderr, "vnc-input: need HOST:PORT and a readable password file\n");
    return 2;
  }
  rfbClient* client = rfbGetClient(8, 3, 4);
  client->GetPassword = password;
  client->serverHost = strdup(server.substr(0, colon).c_str());
  client->serverPort = std::atoi(server.c_str() + colon + 1);
  if (!rfbInitClient(client, nullptr, nullptr)) {  // frees the client on failure
    std::fprintf(stderr, "vnc-input: could not log in to %s\n", server.c_str());
    return 1;
  }
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    const auto sep = a.find(':');
    const std::string verb = a.substr(0, sep), arg = sep == std::string::npos ? "" : a.substr(sep + 1);
    int x = 0, y = 0;
    bool ok = true;
    if (verb == "move" && at(arg, x, y)) {
      ok = SendPointerEvent(client, x, y, 0);
    } else if (verb == "click" && at(arg, x, y)) {
      ok = SendPointerEvent(client, x, y, 0) && SendPointerEvent(client, x, y, rfbButton1Mask) &&
           SendPointerEvent(client, x, y, 0);
    } else if (verb == "wheel-up" && at(arg, x, y)) {
      ok = SendPointerEvent(client, x, y, rfbButton4Mask) && SendPointerEvent(client, x, y, 0);
    } else if (verb == "key") {
      const KeySym sym = XStringToKeysym(arg.c_str());
      if (sym == NoSymbol) {
        std::fprintf(stderr, "vnc-input: no keysym named %s\n", arg.c_str());
        return 2;
      }
      ok = SendKeyEvent(client, static_cast<uint32_t>(sym), TRUE) && SendKeyEvent(client, static_cast<uint32_t>(sym), FALSE);
    } else if (verb == "sleep") {
      usleep(static_cast<useconds_t>(std::atoi(arg.c_str())) * 1000);
    } else {
      std::fprintf(stderr, "vnc-input: bad action %s\n", a.c_str());
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "vnc-input: the connection broke at %s\n", a.c_str());
      return 1;
    }
    std::printf("sent %s t=%llu\n", a.c_str(), static_cast<unsigned long long>(now_ns()));
    std::fflush(stdout);
  }
  usleep(300 * 1000);  // the server reads the last events before the socket closes
  rfbClientCleanup(client);
  return 0;
}
