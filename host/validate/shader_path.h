// Which IR guest shaders reach the host driver in: host/shader's NIR
// translation of the validated TGSI for every driver that compiles NIR
// (llvmpipe, zink, GPU drivers), or the validated TGSI itself for softpipe,
// which interprets TGSI (given NIR it runs it back through Mesa's
// nir_to_tgsi: caps_snapshot.h says why that is refused). What guests may ask
// for depends on it (the caps table masks what a TGSI driver cannot run), so
// it is part of what this room decides. It follows from the driver, never
// from an option: llvmpipe's TGSI path (--shader-path tgsi) was removed once
// the NIR path won on conformance and speed in one run (docs/shaders.md).
#pragma once

namespace xen3d::host {

enum class ShaderPath { Tgsi, Nir };

}  // namespace xen3d::host
