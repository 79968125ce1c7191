// Every VM desktop the compositor holds, the selected one, and the thread
// that composes it for the outputs. Guest connections open desktops (the
// window system) and join them (GL connections, by token); the outputs, the
// control socket and the VM picker see them through DesktopControl.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host/desktop/desktop.h"
#include "host/desktop/desktop_control.h"

struct pipe_context;
struct pipe_screen;

namespace xen3d::host {

class DesktopRegistry final : public DesktopControl {
 public:
  // `driver_lock`: HostGpu::context_lock() (null when the driver needs none).
  DesktopRegistry(pipe_screen* screen, std::mutex* driver_lock, int max_fps);
  ~DesktopRegistry() override;

  // Takes ownership of `outputs` and starts composing for them.
  void start(std::vector<std::unique_ptr<Output>> outputs);
  void stop();

  // The GPU lock: the driver lock (if any), then the composition lock.
  // Guest threads that already hold the driver lock take composition_lock() only.
  std::mutex& composition_lock() { return gpu_mutex_; }

  // Who opens a desktop: the peer that owns its name (SessionInfo::peer_id),
  // and whether the name is that peer's Xen domain name from xenstore.
  struct NameOwner {
    std::string peer;
    bool xen_domain_name = false;
  };
  // A window system opens a desktop. A name belongs to the first peer that
  // opens it, for the compositor's life: no other peer may open a desktop of
  // that name, except a Xen domain named so in xenstore, which takes it over
  // (an open desktop of another peer with that name is closed).
  std::shared_ptr<Desktop> open(const std::string& name, const NameOwner& owner, std::unique_ptr<FramebufferSource> fb,
                                std::string& error);
  // A Xen domain's window system (its X server with the module) takes the
  // desktop its PV display shows: the open desktop `name` whose name the
  // domain `peer` owns as its xenstore name. nullptr with `error` when there
  // is none or another window system has it (Desktop::attach_window_system).
  std::shared_ptr<Desktop> attach_window_system(const std::string& name, const std::string& peer, std::string& error);
  // The window system left: the desktop goes (GPU objects freed here).
  void close(const std::shared_ptr<Desktop>& desktop);
  // A GL connection joins by token; nullptr when no open desktop has it.
  std::shared_ptr<Desktop> join(uint64_t token);
  // A GL connection's desktop_join, for a connection in this process or a
  // render worker's: `joined` is the desktop it presents into, kept by the
  // caller between calls. A window system may reopen its desktop (compositor
  // restart, a screen too big for its region): the connection then follows
  // it to the new one. `rejected`: the join breaks the rules (another desktop
  // is still open for this connection).
  struct JoinOutcome {
    bool ok = false;
    bool rejected = false;
    uint32_t desktop_id = 0;
    std::string reason;
  };
  JoinOutcome join_gl(uint64_t token, uint32_t connection, const std::shared_ptr<GuestMemoryAccount>& memory,
                      std::shared_ptr<Desktop>& joined, bool driver_lock_held);
  // The connection presents no more: its surfaces go.
  void leave_gl(std::shared_ptr<Desktop>& joined, uint32_t connection, bool driver_lock_held);
  // Shares `window`'s surface with a render worker (Desktop::share_surface), with the GPU lock.
  int share_surface(Desktop& desktop, uint32_t window, uint32_t connection, uint32_t width, uint32_t height,
                    uint64_t& size, std::string& error);
  // Input for the VM `name` (a Xen domain's PV keyboard), which takes it
  // before the desktop's own sink (the Xorg module's): set, or cleared when
  // `sink` is still the one set.
  void set_vm_input(const std::string& name, std::shared_ptr<InputSink> sink);
  void clear_vm_input(const std::string& name, const std::shared_ptr<InputSink>& sink);
  // Something in `desktop` changed: wake the composition thread.
  void damaged(const Desktop& desktop);

  // DesktopControl
  std::vector<VmSummary> list() override;
  bool select(const std::string& name, std::string& error) override;
  std::string selected() override;
  bool capture(const std::string& name, DesktopImage& out, std::string& error) override;
  void send_input(const InputEvent& event, const char* source) override;

 private:
  std::unique_lock<std::mutex> driver_lock_unless(bool held) {
    return driver_lock_ && !held ? std::unique_lock<std::mutex>(*driver_lock_) : std::unique_lock<std::mutex>();
  }
  void compose_loop();
  void release_evicted();  // frees taken-over desktops' GPU objects (takes the GPU lock)
  std::shared_ptr<Desktop> find_locked(const std::string& name) const;
  bool compose_now(Desktop& d, std::vector<DesktopRect>& damage, std::string& error);

  pipe_screen* screen_;
  std::mutex* driver_lock_;
  const int max_fps_;
  std::mutex gpu_mutex_;
  pipe_context* ctx_ = nullptr;  // the composition context (gpu_mutex_)

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<uint32_t, std::shared_ptr<Desktop>> desktops_;
  std::map<std::string, NameOwner> name_owners_;  // every desktop name opened so far
  std::vector<std::shared_ptr<Desktop>> evicted_;   // taken over by a Xen domain; GPU objects not freed yet
  uint32_t next_id_ = 1;
  std::string selected_;
  // Keys and buttons down in the desktop that last took input: released
  // there when the selection moves on, so no VM keeps a key held forever.
  struct HeldInput {
    uint32_t desktop = 0;
    std::weak_ptr<InputSink> sink;
    std::set<uint16_t> codes;
    void release();  // without mutex_
  };
  HeldInput held_;
  std::set<uint32_t> no_input_logged_;  // desktops whose lack of input was logged
  std::map<std::string, std::shared_ptr<InputSink>> vm_inputs_;  // set_vm_input
  bool switched_ = true;  // the outputs need a whole picture
  bool stop_ = false;
  std::vector<std::unique_ptr<Output>> outputs_;
  std::thread thread_;
};

}  // namespace xen3d::host
