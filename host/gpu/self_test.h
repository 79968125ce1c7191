// Renders a known frame on the host driver and checks the pixels read back:
// proves the pipe-loader screen works before any guest connects.
#pragma once

#include <string>

struct pipe_screen;

namespace xen3d::host {

// Clears a 64x64 target to blue, draws a red triangle, reads it back and
// checks chosen pixels. Writes the frame to png_path when not empty.
bool run_self_test(pipe_screen* screen, const std::string& png_path, std::string& report);

}  // namespace xen3d::host
