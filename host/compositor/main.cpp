// xen3d-compositor: executes guests' remoted Gallium commands on a local driver.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>
#include <sys/stat.h>

#include "host/compositor/compositor.h"
#include "host/control/control_server.h"
#include "host/desktop/desktop_registry.h"
#include "host/outputs/outputs.h"
#include "host/gpu/gpu_discovery.h"
#include "host/gpu/host_gpu.h"
#include "host/validate/caps_snapshot.h"
#include "common/log.h"
#include "host/desktop/pv_display_desktop.h"
#include "host/desktop/pv_keyboard_input.h"
#include "host/compositor/xen_guest_setup.h"
#include "host/gpu/self_test.h"
#include "proto/commands.gen.h"

using namespace xen3d;
using namespace xen3d::host;

namespace {

Compositor* g_compositor = nullptr;

void on_signal(int) {
  if (g_compositor) g_compositor->request_stop();
}

void usage(FILE* out) {
  std::fprintf(out,
      "usage: xen3d-compositor [options]\n"
      "\n"
      "Runs guests' Gallium commands on a host driver and shows their windows.\n"
      "\n"
      "options:\n"
      "  --listen SPEC       serve guests on SPEC (repeatable): local:/path.sock, tcp:host:port\n"
      "                      or xen (guests in Xen domains; run in dom0, see --print-xl-config)\n"
      "                      (default: local:%s)\n"
      "  --driver NAME       host Gallium driver: auto (zink when the GPU has a Vulkan\n"
      "                      driver, else llvmpipe), llvmpipe, softpipe, zink (on a GPU's\n"
      "                      Vulkan driver, or lavapipe without one), or a DRM driver the\n"
      "                      pipe-loader finds (see --list-drivers)\n"
      "                      (default: $XEN3D_DRIVER, else auto)\n"
      "  --self-test         render a test frame on the host driver, check the pixels, exit\n"
      "  --snapshot DIR      write each window's latest presented frame as PNG into DIR\n"
      "                      (guest<N>-win<window>.png)\n"
      "  --record DIR        write each guest's command stream to DIR/guest<N>-<program>.x3drec\n"
      "                      (replay with xen3d-replay)\n"
      "  --snapshot-frames LIST\n"
      "                      also keep these frames of every window (comma-separated\n"
      "                      1-based present counts) as guest<N>-win<window>-frame<K>.png\n"
      "  --output SPEC       where the selected VM desktop is shown (repeatable; default none):\n"
      "                        window[:DISPLAY]  a window on the host X display ($DISPLAY);\n"
      "                                          Ctrl+Alt+Left/Right switch VMs, Ctrl+Alt+Space\n"
      "                                          or F12 opens the VM picker\n"
      "                        vnc[:PORT]        a VNC server (default port 5900); keys and\n"
      "                                          pointer go to the VM with --vnc-password-file\n"
      "                        png:DIR           DIR/<vm>.png of the selected VM, refreshed at most 1/s\n"
      "  --vnc-password-file FILE\n"
      "                      VNC viewers must give the password on FILE's first line; they\n"
      "                      then type and point into the selected VM\n"
      "  --vnc-view-only     VNC viewers only watch, even with a password\n"
      "  --vnc-listen ADDR   the VNC output's IPv4 address (default 127.0.0.1, or\n"
      "                      $XEN3D_VNC_LISTEN); 0.0.0.0: every interface, which needs a password\n"
      "  --control PATH      control socket for xen3dctl (default %s; 'none': off)\n"
      "  --pv-display on|off with --listen xen: be the backend of the domains' Xen PV displays\n"
      "                      (vdispl, xen-drm-front), shown as VM desktops, and PV keyboards\n"
      "                      (vkbd, xen-kbdfront), which get their input (default on)\n"
      "  --pv-display-hz N   how often a PV display's buffer is checked for changes (default 30)\n"
      "  --max-fps N         compose the selected desktop at most N times a second (default 60)\n"
      "  --max-guest-mem-mib N\n"
      "                      refuse a guest's resources beyond N MiB in all (default 4096)\n"
      "  --max-arena-mib N   the most shared memory a guest may keep buffers in, for\n"
      "                      persistent maps (ARB_buffer_storage; default 256, 0: none); a\n"
      "                      local guest's counts against --max-guest-mem-mib, a Xen guest's\n"
      "                      is its own grant pages\n"
      "  --max-guest-objects N\n"
      "                      refuse a guest's host objects (of any kind) beyond N (default 65536)\n"
      "  --shader-cache DIR|off\n"
      "                      with render workers on the NIR path: keep the driver's compiled\n"
      "                      shaders in DIR, one cache per VM, as llvmpipe in-process keeps them\n"
      "                      (default $XDG_CACHE_HOME/xen3d/shaders or ~/.cache/xen3d/shaders;\n"
      "                      llvmpipe 22.3 caches NIR shaders only)\n"
      "  --max-shader-tokens N\n"
      "                      refuse shaders of more than N TGSI tokens (default 262144); a\n"
      "                      shader's tokens also count against --max-guest-mem-mib\n"
      "  --cmd-ring-kib N    default command ring size per guest (default 1024)\n"
      "  --bulk-heap-kib N   default bulk-data heap per guest (default 8192)\n"
      "  --max-cmd-ring-kib N, --max-bulk-heap-kib N\n"
      "                      the most a guest may ask for: bounds the commands and data it\n"
      "                      can have in flight (defaults 16384 and 262144)\n"
      "  --max-guests N      refuse guests beyond N at once (default 64)\n"
      "  --max-guests-per-vm N\n"
      "                      refuse a VM's guest connections beyond N at once (default 16), so\n"
      "                      one VM cannot take every slot; a VM is a Xen domain, a TCP peer\n"
      "                      address or a local uid (the compositor's own uid is not limited)\n"
      "  --render-workers on|off\n"
      "                      serve each GL connection in a xen3d-render-worker process of its\n"
      "                      own, sandboxed, under the GPU-time watchdog (docs/render-workers.md;\n"
      "                      default on); off serves every guest in the compositor's process\n"
      "  --gpu-budget-ms N   with render workers: kill a worker whose one record keeps the host\n"
      "                      busy longer than N ms; its guest's context is lost (default 10000)\n"
      "  --worker-threads N|auto  with render workers: llvmpipe rasterizer threads per\n"
      "                      worker, 0 to rasterize on the worker's own thread (default auto:\n"
      "                      the cores shared among the guests, none once a share is one core)\n"
      "  --trace             log every record guests send, decoded\n"
      "  --list-drivers      list the drivers this build can open here, and on what\n"
      "  -v, --verbose       debug logging;  -q, --quiet  warnings and errors only\n"
      "  --version           protocol and build versions\n"
      "  --print-xl-config   the domU config lines and guest setup for --listen xen\n"
      "  -h, --help          this text\n"
      "\n"
      "Guests choose the compositor with XEN3D_TRANSPORT=local:/path.sock | tcp:host:port | xen.\n"
      "A guest X server with the xen3d module (guest/xorg-ext) opens a VM desktop; its GL\n"
      "windows are then composited here instead of being read back into the guest.\n",
      proto::default_socket_path().c_str(), default_control_socket_path().c_str());
}

// "1,5,60" -> {1, 5, 60}; false on anything else.
bool parse_frame_list(const std::string& s, std::set<uint64_t>& out) {
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = s.find(',', pos);
    const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    const unsigned long long v = std::strtoull(item.c_str(), &end, 10);
    if (item.empty() || *end || v == 0 || item[0] == '-') return false;
    out.insert(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return !out.empty();
}

// $XDG_CACHE_HOME/xen3d/shaders, else ~/.cache/xen3d/shaders ("" without either).
std::string default_shader_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') return std::string(xdg) + "/xen3d/shaders";
  if (const char* home = std::getenv("HOME"); home && *home == '/') return std::string(home) + "/.cache/xen3d/shaders";
  return "";
}

bool parse_uint(const char* s, uint32_t& out) {
  char* end = nullptr;
  unsigned long v = std::strtoul(s, &end, 10);
  if (!*s || *end || v > 0xffffffffu) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CompositorOptions opts;
  opts.render_workers = true;  // the compositor's default (the struct's is for in-process tests)
  const char* driver_env = std::getenv("XEN3D_DRIVER");
  std::string driver = driver_env && *driver_env ? driver_env : "auto", snapshot_dir, control_path = default_control_socket_path();
  std::vector<std::string> output_specs;
  VncOptions vnc;
  if (const char* env = std::getenv("XEN3D_VNC_LISTEN"); env && *env) vnc.listen = env;
  uint32_t max_fps = 60, pv_display_hz = 30;
  bool self_test = false, list_drivers = false, pv_display = true;
  std::string shader_cache = default_shader_cache_dir();
  bool shader_cache_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* what) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "xen3d-compositor: %s needs %s (see --help)\n", a.c_str(), what);
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](uint32_t& out) {
      const char* v = value("a number");
      if (!parse_uint(v, out)) {
        std::fprintf(stderr, "xen3d-compositor: %s: '%s' is not a number\n", a.c_str(), v);
        std::exit(2);
      }
    };
    uint32_t n = 0;
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("xen3d-compositor 0.1.0, wire protocol %u.%u, Mesa 22.3.6\n", proto::kProtocolMajor,
                  proto::kProtocolMinor);
      return 0;
    } else if (a == "--print-xl-config") {
      std::fputs(xen_guest_setup_text().c_str(), stdout);
      return 0;
    } else if (a == "--listen") {
      opts.listen.emplace_back(value("an endpoint"));
    } else if (a == "--driver") {
      driver = value("a driver name");
    } else if (a == "--self-test") {
      self_test = true;
    } else if (a == "--snapshot") {
      snapshot_dir = value("a directory");
    } else if (a == "--record") {
      opts.connection.record_dir = value("a directory");
    } else if (a == "--snapshot-frames") {
      const char* v = value("a comma-separated list of frame numbers");
      if (!parse_frame_list(v, opts.connection.snapshot_frames)) {
        std::fprintf(stderr, "xen3d-compositor: --snapshot-frames: '%s' is not a list like 1,10,60\n", v);
        return 2;
      }
    } else if (a == "--output") {
      output_specs.emplace_back(value("an output (window, vnc[:PORT], png:DIR)"));
    } else if (a == "--vnc-password-file") {
      vnc.password_file = value("a file whose first line is the password");
    } else if (a == "--vnc-view-only") {
      vnc.view_only = true;
    } else if (a == "--vnc-listen") {
      vnc.listen = value("an IPv4 address");
    } else if (a == "--control") {
      control_path = value("a socket path or 'none'");
    } else if (a == "--pv-display") {
      const std::string v = value("on or off");
      if (v != "on" && v != "off") {
        std::fprintf(stderr, "xen3d-compositor: --pv-display must be on or off\n");
        return 2;
      }
      pv_display = v == "on";
    } else if (a == "--pv-display-hz") {
      number(pv_display_hz);
      if (!pv_display_hz || pv_display_hz > 240) {
        std::fprintf(stderr, "xen3d-compositor: --pv-display-hz must be 1..240\n");
        return 2;
      }
    } else if (a == "--max-fps") {
      number(max_fps);
      if (!max_fps || max_fps > 1000) {
        std::fprintf(stderr, "xen3d-compositor: --max-fps must be 1..1000\n");
        return 2;
      }
    } else if (a == "--max-guest-mem-mib") {
      number(n);
      if (!n) {
        std::fprintf(stderr, "xen3d-compositor: --max-guest-mem-mib must be at least 1\n");
        return 2;
      }
      opts.connection.max_guest_resource_bytes = uint64_t{n} << 20;
    } else if (a == "--max-arena-mib") {
      number(n);
      if (n > 65536) {
        std::fprintf(stderr, "xen3d-compositor: --max-arena-mib must be 0..65536\n");
        return 2;
      }
      opts.connection.max_arena_mib = n;
    } else if (a == "--max-guest-objects") {
      number(n);
      if (!n) {
        std::fprintf(stderr, "xen3d-compositor: --max-guest-objects must be at least 1\n");
        return 2;
      }
      opts.connection.max_guest_objects = n;
    } else if (a == "--shader-cache") {
      shader_cache = value("a directory or 'off'");
      shader_cache_given = true;
    } else if (a == "--max-shader-tokens") {
      number(n);
      if (n < 64 || n > 1048576) {
        std::fprintf(stderr, "xen3d-compositor: --max-shader-tokens must be 64..1048576\n");
        return 2;
      }
      opts.connection.max_shader_tokens = n;
    } else if (a == "--max-cmd-ring-kib" || a == "--max-bulk-heap-kib") {
      // A command ring must hold two of the largest records (64 KiB each).
      number(n);
      if (n < 256 || n > 1048576) {
        std::fprintf(stderr, "xen3d-compositor: %s must be 256..1048576\n", a.c_str());
        return 2;
      }
      (a == "--max-cmd-ring-kib" ? opts.policy.max_cmd_ring_kib : opts.policy.max_bulk_heap_kib) = n;
    } else if (a == "--cmd-ring-kib") {
      number(opts.policy.default_cmd_ring_kib);
    } else if (a == "--bulk-heap-kib") {
      number(opts.policy.default_bulk_heap_kib);
    } else if (a == "--max-guests") {
      number(n);
      opts.max_guests = static_cast<int>(n);
    } else if (a == "--max-guests-per-vm") {
      number(n);
      if (n == 0) {
        std::fprintf(stderr, "xen3d-compositor: --max-guests-per-vm must be at least 1\n");
        return 2;
      }
      opts.max_guests_per_vm = static_cast<int>(n);
    } else if (a == "--render-workers") {
      const std::string v = value("on or off");
      if (v != "on" && v != "off") {
        std::fprintf(stderr, "xen3d-compositor: --render-workers must be on or off\n");
        return 2;
      }
      opts.render_workers = v == "on";
    } else if (a == "--gpu-budget-ms") {
      number(opts.gpu_budget_ms);
      if (opts.gpu_budget_ms < 100) {
        std::fprintf(stderr, "xen3d-compositor: --gpu-budget-ms must be at least 100\n");
        return 2;
      }
    } else if (a == "--worker-threads") {
      const char* v = value("a number or 'auto'");
      uint32_t threads = 0;
      if (std::string(v) == "auto") {
        opts.worker_threads = -1;
      } else if (parse_uint(v, threads) && threads <= 64) {
        opts.worker_threads = static_cast<int>(threads);
      } else {
        std::fprintf(stderr, "xen3d-compositor: --worker-threads must be 0..64 or auto, not '%s'\n", v);
        return 2;
      }
    } else if (a == "--trace") {
      opts.connection.trace = true;
    } else if (a == "--list-drivers") {
      list_drivers = true;
    } else if (a == "-v" || a == "--verbose") {
      set_log_level(LogLevel::Debug);
    } else if (a == "-q" || a == "--quiet") {
      set_log_level(LogLevel::Warn);
    } else {
      std::fprintf(stderr, "xen3d-compositor: unknown option '%s' (see --help)\n", a.c_str());
      return 2;
    }
  }

  if (list_drivers) {
    for (const auto& d : HostGpu::available_drivers()) std::printf("%-10s %s\n", d.name.c_str(), d.what.c_str());
    return 0;
  }
  for (const std::string* dir : {&snapshot_dir, &opts.connection.record_dir}) {
    if (dir->empty()) continue;
    mkdir(dir->c_str(), 0755);
    struct stat st{};
    if (stat(dir->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      std::fprintf(stderr, "xen3d-compositor: cannot use directory '%s'\n", dir->c_str());
      return 2;
    }
  }

  if (driver == "auto") {
    std::string why;
    driver = choose_default_driver(why);
    XLOG_INFO("host driver %s: %s (--driver names another)", driver.c_str(), why.c_str());
  }
  opts.driver = driver;  // what render workers open too
  std::string error;
  auto gpu = HostGpu::open(driver, error);
  if (!gpu) {
    XLOG_ERROR("cannot open host driver '%s': %s", driver.c_str(), error.c_str());
    return 1;
  }
  opts.connection.shader_path = shader_path_for(gpu->screen());
  XLOG_INFO("host driver: %s; guest shaders reach it as %s", gpu->renderer().c_str(),
            opts.connection.shader_path == ShaderPath::Nir ? "NIR (host/shader's translation)" : "TGSI");
  // The per-VM shader caches (host/worker/shader_cache.h): llvmpipe 22.3
  // keeps compiled code only for NIR shaders, and only a worker serves one VM.
  if (shader_cache == "off") shader_cache.clear();
  const bool llvmpipe = gpu->renderer().rfind("llvmpipe", 0) == 0;
  if (!shader_cache.empty() && opts.render_workers && llvmpipe && opts.connection.shader_path == ShaderPath::Nir) {
    opts.shader_cache = shader_cache;
    XLOG_INFO("compiled shaders are kept per VM in %s", shader_cache.c_str());
  } else if (shader_cache_given && !shader_cache.empty()) {
    XLOG_WARN("--shader-cache has no effect %s",
              !opts.render_workers ? "without render workers (one cache would serve every VM)"
              : opts.connection.shader_path != ShaderPath::Nir
                  ? "on a driver that takes TGSI (softpipe; llvmpipe 22.3 caches NIR shaders only)"
                  : "on this driver (only llvmpipe's cache opens once the worker knows its VM)");
  }

  if (self_test) {
    std::string report;
    const std::string png = snapshot_dir.empty() ? "" : snapshot_dir + "/self-test.png";
    bool ok = run_self_test(gpu->screen(), png, report);
    std::printf("self-test %s on %s: %s\n", ok ? "PASSED" : "FAILED", gpu->renderer().c_str(), report.c_str());
    return ok ? 0 : 1;
  }

  if (opts.listen.empty()) opts.listen.push_back("local:" + proto::default_socket_path());
  opts.connection.snapshot_dir = snapshot_dir;
  if (!opts.connection.snapshot_frames.empty() && snapshot_dir.empty()) {
    XLOG_WARN("--snapshot-frames has no effect without --snapshot DIR");
  }
  // Desktops and where they are shown. Destroyed after the compositor (its
  // guests hold desktops) and before the GPU.
  DesktopRegistry desktops(gpu->screen(), gpu->context_lock(), static_cast<int>(max_fps));
  std::vector<std::unique_ptr<Output>> outputs;
  for (const auto& spec : output_specs) {
    std::unique_ptr<Output> out;
    const auto colon = spec.find(':');
    const std::string kind = spec.substr(0, colon), arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
    if (kind == "none") continue;
    if (kind == "window") {
      out = make_window_output(desktops, arg, error);
    } else if (kind == "vnc") {
      uint32_t port = 5900;
      if (!arg.empty() && (!parse_uint(arg.c_str(), port) || port > 65535)) {
        std::fprintf(stderr, "xen3d-compositor: --output vnc:%s: not a port number\n", arg.c_str());
        return 2;
      }
      vnc.port = static_cast<int>(port);
      out = make_vnc_output(desktops, vnc, error);
    } else if (kind == "png") {
      if (arg.empty()) {
        std::fprintf(stderr, "xen3d-compositor: --output png needs a directory: png:DIR\n");
        return 2;
      }
      out = make_png_output(arg, error);
    } else {
      std::fprintf(stderr, "xen3d-compositor: --output '%s': expected window[:DISPLAY], vnc[:PORT] or png:DIR\n",
                   spec.c_str());
      return 2;
    }
    if (!out) {
      XLOG_ERROR("output '%s': %s", spec.c_str(), error.c_str());
      return 1;
    }
    XLOG_INFO("output: %s", out->describe().c_str());
    outputs.push_back(std::move(out));
  }
  desktops.start(std::move(outputs));
  ControlServer control(desktops);
  if (control_path != "none") {
    if (control.start(control_path, error)) {
      XLOG_INFO("control socket: %s (xen3dctl --socket %s list)", control_path.c_str(), control_path.c_str());
    } else {
      XLOG_WARN("no control socket: %s", error.c_str());
    }
  }
  opts.connection.desktops = &desktops;
  // Xen domains' 2D desktops arrive through their PV displays. Stopped (its
  // desktops closed) before the registry.
  std::unique_ptr<xen::DisplifBackend> pv_displays;
  if (pv_display && std::any_of(opts.listen.begin(), opts.listen.end(), [](const std::string& l) { return l.rfind("xen", 0) == 0; })) {
    pv_displays = xen::DisplifBackend::start(
        [&desktops](const xen::PvDisplayConfig& c, std::string& why) { return open_pv_display_desktop(desktops, c, why); },
        static_cast<int>(pv_display_hz), error);
    if (pv_displays) {
      XLOG_INFO("PV display backend: serving vdispl devices (xen-drm-front) as VM desktops");
    } else {
      XLOG_WARN("no PV display backend: %s", error.c_str());
    }
  }
  // Their keyboards and pointers: the outputs' input for those desktops.
  std::unique_ptr<xen::VkbdBackend> pv_keyboards;
  if (pv_display && std::any_of(opts.listen.begin(), opts.listen.end(), [](const std::string& l) { return l.rfind("xen", 0) == 0; })) {
    pv_keyboards = xen::VkbdBackend::start(pv_keyboard_attach(desktops), error);
    if (pv_keyboards) {
      XLOG_INFO("PV keyboard backend: serving vkbd devices (xen-kbdfront) with the desktops' input");
    } else {
      XLOG_WARN("no PV keyboard backend: %s", error.c_str());
    }
  }
  Compositor compositor(*gpu, opts);
  if (!compositor.start(error)) {
    XLOG_ERROR("%s", error.c_str());
    return 1;
  }
  g_compositor = &compositor;
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  XLOG_INFO("ready");
  compositor.run();
  g_compositor = nullptr;
  pv_keyboards.reset();
  pv_displays.reset();
  control.stop();
  desktops.stop();
  return 0;
}
