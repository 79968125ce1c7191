#include "host/desktop/pv_keyboard_input.h"

#include <map>
#include <mutex>
#include <utility>

#include "host/desktop/desktop_input.h"
#include "host/desktop/desktop_registry.h"

namespace xen3d::host {
namespace {

class PvKeyboardSink final : public InputSink {
 public:
  explicit PvKeyboardSink(std::shared_ptr<xen::PvKeyboard> keyboard) : keyboard_(std::move(keyboard)) {}
  void deliver(const InputEvent& e) override {
    switch (e.kind) {
      case InputEvent::Kind::Key: keyboard_->key(e.code, e.down); break;
      case InputEvent::Kind::Pointer: keyboard_->pointer(e.x, e.y, e.width, e.height); break;
      case InputEvent::Kind::Wheel: keyboard_->wheel(e.y, e.x); break;
    }
  }

 private:
  std::shared_ptr<xen::PvKeyboard> keyboard_;
};

}  // namespace

xen::PvKeyboardAttach pv_keyboard_attach(DesktopRegistry& desktops) {
  // The sink each device got, to unbind exactly it (a domain may have two).
  auto bound = std::make_shared<std::map<std::pair<xen::DomId, uint32_t>, std::shared_ptr<InputSink>>>();
  return [&desktops, bound](const xen::PvKeyboardConfig& c, std::shared_ptr<xen::PvKeyboard> keyboard) {
    const auto key = std::make_pair(c.domid, c.device);
    if (keyboard) {
      auto sink = std::make_shared<PvKeyboardSink>(std::move(keyboard));
      (*bound)[key] = sink;
      desktops.set_vm_input(c.vm, sink);
    } else if (auto it = bound->find(key); it != bound->end()) {
      desktops.clear_vm_input(c.vm, it->second);
      bound->erase(it);
    }
  };
}

}  // namespace xen3d::host
