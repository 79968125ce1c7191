// PNG output: DIR/<vm>.png per VM, replaced atomically (temp file + rename)
// so a reader never sees half a file. Encoding takes tens of milliseconds, so
// it happens on a writer thread of its own; show() only copies damaged rects
// into the VM's latest image.
//
// When a file is written: a VM's first frame and the first frame after a
// switch (show() for another VM than the previous call, with empty damage) at
// once; otherwise at most once a second while damage arrives, and the last
// change is always written (a second after the previous write at the latest).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.h"
#include "host/desktop/desktop_rect.h"
#include "host/outputs/outputs.h"
#include "common/png_writer.h"

namespace xen3d::host {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kMinInterval = std::chrono::seconds(1);

// VM names come from guests: keep them to one harmless file name.
std::string file_name_for(const std::string& vm) {
  std::string name;
  for (char c : vm) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '_' || c == '.' || c == '+' || c == '@';
    name += plain ? c : '_';
  }
  if (name.empty() || name[0] == '.') name.insert(0, "_");
  return name;
}

// Copies `rects` (all of it when empty) of `from` into `to`, which has the
// same size and is packed (stride = width * 4).
void copy_rects(const DesktopImage& from, const std::vector<DesktopRect>& rects, DesktopImage& to) {
  if (rects.empty()) {
    copy_rect(from.pixels.data(), from.stride, to.pixels.data(), to.stride, {0, 0, from.width, from.height});
    return;
  }
  for (const DesktopRect& r : rects) {
    copy_rect(from.pixels.data(), from.stride, to.pixels.data(), to.stride, rect_clip(r, from.width, from.height));
  }
}

bool image_is_whole(const DesktopImage& image) {
  return image.width > 0 && image.height > 0 && image.stride >= image.width * 4 &&
         image.pixels.size() >= size_t{image.stride} * (image.height - 1) + size_t{image.width} * 4;
}

class PngOutput final : public Output {
 public:
  explicit PngOutput(std::string dir) : dir_(std::move(dir)) {
    writer_ = std::thread([this] { write_loop(); });
  }

  ~PngOutput() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    writer_.join();
  }

  std::string describe() const override { return "PNG files in " + dir_; }

  void show(const std::string& vm, const DesktopImage& image, const std::vector<DesktopRect>& damage) override {
    if (!image_is_whole(image)) return;
    {
      std::lock_guard lock(mutex_);
      VmFile& file = files_[vm];
      bool first = file.latest.width == 0;
      bool resized = file.latest.width != image.width || file.latest.height != image.height;
      if (resized) {
        file.latest.width = image.width;
        file.latest.height = image.height;
        file.latest.stride = image.width * 4;
        file.latest.pixels.assign(size_t{file.latest.stride} * image.height, 0);
      }
      copy_rects(image, resized ? std::vector<DesktopRect>{} : damage, file.latest);
      file.dirty = true;
      if (first || (vm != previous_vm_ && damage.empty())) file.write_now = true;
      previous_vm_ = vm;
    }
    wake_.notify_one();
  }

  // Every VM left: their files stay; images already written need not stay in
  // memory (pending ones are still written).
  void show_nothing() override {
    std::lock_guard lock(mutex_);
    std::erase_if(files_, [](const auto& entry) { return !entry.second.dirty; });
    previous_vm_.clear();
  }

 private:
  struct VmFile {
    DesktopImage latest;      // packed copy, kept whole so damage can be applied to it
    bool dirty = false;       // changed since the last write
    bool write_now = false;   // first frame or switch: skip the once-a-second limit
    Clock::time_point last_write{};
    std::string last_error;   // logged once, not every second
  };

  void write_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      Clock::time_point now = Clock::now();
      std::optional<std::string> due_vm;
      Clock::time_point next_due = Clock::time_point::max();
      for (auto& [vm, file] : files_) {
        if (!file.dirty) continue;
        Clock::time_point due = file.write_now ? now : file.last_write + kMinInterval;
        if (stopping_ || due <= now) {
          due_vm = vm;
          break;
        }
        next_due = std::min(next_due, due);
      }
      if (!due_vm) {
        if (stopping_) return;  // everything pending has been written
        if (next_due == Clock::time_point::max()) {
          wake_.wait(lock);
        } else {
          wake_.wait_until(lock, next_due);
        }
        continue;
      }
      VmFile& file = files_[*due_vm];
      snapshot_ = file.latest;  // encode outside the lock from a copy
      file.dirty = false;
      file.write_now = false;
      file.last_write = now;
      lock.unlock();
      std::string error;
      bool written = write_atomically(*due_vm, error);
      lock.lock();
      auto after = files_.find(*due_vm);  // show_nothing() may have dropped it meanwhile
      std::string previous_error = after != files_.end() ? after->second.last_error : "";
      if (!written && error != previous_error) XLOG_WARN("png output: %s", error.c_str());
      if (written && !previous_error.empty()) XLOG_INFO("png output: writing %s works again", dir_.c_str());
      if (after != files_.end()) after->second.last_error = written ? "" : error;
    }
  }

  bool write_atomically(const std::string& vm, std::string& error) {
    std::string name = file_name_for(vm);
    std::string final_path = dir_ + "/" + name + ".png";
    std::string temp_path = dir_ + "/." + name + ".png.tmp";
    if (!write_png_bgrx(temp_path, snapshot_.pixels.data(), snapshot_.width, snapshot_.height, snapshot_.stride,
                        error)) {
      unlink(temp_path.c_str());
      return false;
    }
    if (std::rename(temp_path.c_str(), final_path.c_str()) != 0) {
      error = "cannot rename " + temp_path + " to " + final_path + ": " + std::strerror(errno);
      unlink(temp_path.c_str());
      return false;
    }
    return true;
  }

  const std::string dir_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, VmFile> files_;
  std::string previous_vm_;
  bool stopping_ = false;
  DesktopImage snapshot_;  // writer thread only
  std::thread writer_;
};

}  // namespace

std::unique_ptr<Output> make_png_output(const std::string& dir, std::string& error) {
  if (dir.empty()) {
    error = "the PNG output needs a directory";
    return nullptr;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec)) {
    error = "cannot create PNG output directory " + dir + ": " + (ec ? ec.message() : "not a directory");
    return nullptr;
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    error = "cannot write into PNG output directory " + dir + ": " + std::strerror(errno);
    return nullptr;
  }
  XLOG_INFO("png output: writing DIR/<vm>.png into %s (at most once a second per VM)", dir.c_str());
  return std::make_unique<PngOutput>(dir);
}

}  // namespace xen3d::host
