// Three places where Mesa's xlib ("fake") GLX departs from the GLX spec in ways
// real apps trip over; our libGL gives them the specified behaviour.
//
// 1. glXChooseFBConfig: Mesa builds exactly one visual from the requested
//    attributes, so a request that leaves GLX_DEPTH_SIZE out (GLX default 0:
//    "any depth, smallest preferred") only gets a config without a depth
//    buffer. A real GLX returns every matching config and lets the app pick:
//    glmark2, for one, scores the list and refuses to run without a
//    depth-capable entry. We return Mesa's config plus the same request with
//    a depth buffer.
// 2. glXDestroyContext on the current context: GLX defers the destruction
//    until the context is no longer current; Mesa frees it at once while
//    glXGetCurrentContext still returns the dangling pointer. A new context
//    malloc'd at the same address then looks current already (glmark2 skips
//    glXMakeCurrent and renders with no context), and making the destroyed
//    context current again used freed memory (piglit's glx-destroycontext-3).
//    We defer it: the thread's next make-current that releases it destroys it.
//
// 3. GLX_ARB_create_context_robustness: Mesa's xlib GLX refuses
//    GLX_CONTEXT_ROBUST_ACCESS_BIT_ARB and GLX_CONTEXT_RESET_NOTIFICATION_
//    STRATEGY_ARB, so an app cannot learn of a reset (a context the host
//    lost) through glGetGraphicsResetStatus. We take the attributes out,
//    create the context, and make it robust (glx_robustness.c); the
//    extension is added to the GLX extension string.
//
// 4. glXChooseFBConfig, GLX_SAMPLES n: the GLX spec asks for the fewest
//    samples of at least n; Mesa makes a visual of exactly n samples, or none
//    when the driver has no n-sample format (llvmpipe has 4 only: a request
//    for 2 failed). We ask again with more samples, up to 32.
//
// 5. glXDestroyWindow of a GLXWindow whose X window is gone: GLX raises
//    GLXBadWindow; Mesa's xlib GLX says nothing.
//
// The build renames Mesa's functions to xen3d_mesa_* in a copy of the static
// library (rename_symbols.py, guest/winsys-remote/meson.build); Mesa's sources
// are untouched. glXGetProcAddress is renamed and wrapped too, since loaders
// (glad, libepoxy) look GLX functions up through it.
#include <GL/glx.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#define XEN3D_EXPORT extern "C" __attribute__((visibility("default")))

extern "C" GLXFBConfig* xen3d_mesa_glXChooseFBConfig(Display* dpy, int screen, const int* attribs, int* nitems);
extern "C" void xen3d_mesa_glXDestroyContext(Display* dpy, GLXContext ctx);
extern "C" Bool xen3d_mesa_glXMakeContextCurrent(Display* dpy, GLXDrawable draw, GLXDrawable read, GLXContext ctx);
extern "C" void xen3d_mesa_glXDestroyWindow(Display* dpy, GLXWindow window);
extern "C" __GLXextFuncPtr xen3d_mesa_glXGetProcAddressARB(const GLubyte* name);
extern "C" GLXContext xen3d_mesa_glXCreateContextAttribsARB(Display* dpy, GLXFBConfig config, GLXContext share,
                                                            Bool direct, const int* attribs);
extern "C" const char* xen3d_mesa_glXQueryExtensionsString(Display* dpy, int screen);
extern "C" void xen3d_glx_make_robust(GLXContext context, int robust_access, int lose_context_on_reset);

namespace {

// Mesa's glXChooseFBConfig with GLX_SAMPLES read as a minimum (item 4).
GLXFBConfig* choose_with_samples(Display* dpy, int screen, const int* attribs, int* nitems) {
  GLXFBConfig* found = xen3d_mesa_glXChooseFBConfig(dpy, screen, attribs, nitems);
  if ((found && *nitems > 0) || !attribs) return found;
  std::vector<int> more;
  int samples_at = -1;
  for (const int* a = attribs; *a != None; a += 2) {
    if (a[0] == GLX_SAMPLES && a[1] > 0) samples_at = static_cast<int>(more.size()) + 1;
    more.push_back(a[0]);
    more.push_back(a[1]);
  }
  if (samples_at < 0) return found;
  more.push_back(None);
  for (int samples = more[samples_at] + 1; samples <= 32; ++samples) {
    more[samples_at] = samples;
    std::free(found);
    found = xen3d_mesa_glXChooseFBConfig(dpy, screen, more.data(), nitems);
    if (found && *nitems > 0) return found;
  }
  return found;
}

}  // namespace

XEN3D_EXPORT GLXFBConfig* glXChooseFBConfig(Display* dpy, int screen, const int* attribs, int* nitems) {
  GLXFBConfig* asked = choose_with_samples(dpy, screen, attribs, nitems);
  if (!attribs || !attribs[0] || !asked || *nitems != 1) return asked;
  std::vector<int> with_depth;
  for (const int* a = attribs; *a != None; a += 2) {
    if (a[0] == GLX_DEPTH_SIZE) return asked;  // the app chose; respect it
    with_depth.push_back(a[0]);
    with_depth.push_back(a[1]);
  }
  with_depth.insert(with_depth.end(), {GLX_DEPTH_SIZE, 1, None});
  int n = 0;
  GLXFBConfig* deep = choose_with_samples(dpy, screen, with_depth.data(), &n);
  auto* both = deep && n == 1 ? static_cast<GLXFBConfig*>(std::malloc(2 * sizeof(GLXFBConfig))) : nullptr;
  if (!both) {
    std::free(deep);
    return asked;
  }
  both[0] = asked[0];
  both[1] = deep[0];
  std::free(asked);
  std::free(deep);
  *nitems = 2;
  return both;
}

namespace {

// The current context glXDestroyContext was asked to destroy (item 2).
thread_local GLXContext destroy_when_released = nullptr;
thread_local Display* destroy_display = nullptr;

void destroy_if_released() {
  if (!destroy_when_released || destroy_when_released == glXGetCurrentContext()) return;
  GLXContext ctx = destroy_when_released;
  destroy_when_released = nullptr;
  xen3d_mesa_glXDestroyContext(destroy_display, ctx);
}

}  // namespace

XEN3D_EXPORT void glXDestroyContext(Display* dpy, GLXContext ctx) {
  if (ctx && ctx == glXGetCurrentContext()) {
    destroy_when_released = ctx;
    destroy_display = dpy;
    return;
  }
  xen3d_mesa_glXDestroyContext(dpy, ctx);
}

XEN3D_EXPORT Bool glXMakeContextCurrent(Display* dpy, GLXDrawable draw, GLXDrawable read, GLXContext ctx) {
  const Bool ok = xen3d_mesa_glXMakeContextCurrent(dpy, draw, read, ctx);
  destroy_if_released();
  return ok;
}

XEN3D_EXPORT Bool glXMakeCurrent(Display* dpy, GLXDrawable drawable, GLXContext ctx) {
  return glXMakeContextCurrent(dpy, drawable, drawable, ctx);
}

XEN3D_EXPORT Bool glXMakeCurrentReadSGI(Display* dpy, GLXDrawable draw, GLXDrawable read, GLXContext ctx) {
  return glXMakeContextCurrent(dpy, draw, read, ctx);
}

namespace {

constexpr unsigned char kXGLXCreateContextAttribsARB = 34;  // glxproto.h

// An X error for a request GLX refuses on the client side, delivered to the
// app's error handler as Mesa's xlib GLX does (glx_api.c, generate_error).
// GLX's own errors are numbered from the extension's first error code.
void error_event(Display* dpy, unsigned char code, bool glx_code, unsigned char minor) {
  XErrorHandler handler = XSetErrorHandler(nullptr);
  XSetErrorHandler(handler);
  if (!handler) return;
  int major = 0, first_event = 0, first_error = 0;
  if (!XQueryExtension(dpy, "GLX", &major, &first_event, &first_error)) major = 0;
  XEvent event{};
  event.xerror.type = 0;  // X_Error
  event.xerror.display = dpy;
  event.xerror.serial = NextRequest(dpy) - 1;
  event.xerror.error_code = static_cast<unsigned char>(glx_code ? first_error + code : code);
  event.xerror.request_code = static_cast<unsigned char>(major);
  event.xerror.minor_code = minor;
  handler(dpy, &event.xerror);
}

void x_error(Display* dpy, unsigned char code, unsigned char minor) { error_event(dpy, code, false, minor); }
void glx_error(Display* dpy, unsigned char code, unsigned char minor) { error_event(dpy, code, true, minor); }

constexpr unsigned char kXGLXDestroyWindow = 32;  // glxproto.h
constexpr unsigned char kGLXBadWindow = 12;       // glxproto.h, relative to GLX's first error

bool window_exists(Display* dpy, Window w) {
  static thread_local bool gone;
  gone = false;
  XSync(dpy, False);
  XErrorHandler app = XSetErrorHandler([](Display*, XErrorEvent*) { gone = true; return 0; });
  XWindowAttributes attributes;
  XGetWindowAttributes(dpy, w, &attributes);
  XSync(dpy, False);
  XSetErrorHandler(app);
  return !gone;
}

}  // namespace

XEN3D_EXPORT void glXDestroyWindow(Display* dpy, GLXWindow window) {
  const bool exists = window && window_exists(dpy, window);
  xen3d_mesa_glXDestroyWindow(dpy, window);
  if (!exists) glx_error(dpy, kGLXBadWindow, kXGLXDestroyWindow);
}

XEN3D_EXPORT GLXContext glXCreateContextAttribsARB(Display* dpy, GLXFBConfig config, GLXContext share, Bool direct,
                                                   const int* attribs) {
  std::vector<int> kept;
  bool robust_access = false, lose_on_reset = false;
  for (const int* a = attribs; a && a[0] != None; a += 2) {
    if (a[0] == GLX_CONTEXT_RESET_NOTIFICATION_STRATEGY_ARB) {
      if (a[1] != GLX_LOSE_CONTEXT_ON_RESET_ARB && a[1] != GLX_NO_RESET_NOTIFICATION_ARB) {
        // The extension names no error; BadMatch is what similar cases get (and NVIDIA, and piglit).
        x_error(dpy, BadMatch, kXGLXCreateContextAttribsARB);
        return nullptr;
      }
      lose_on_reset = a[1] == GLX_LOSE_CONTEXT_ON_RESET_ARB;
      continue;
    }
    int value = a[1];
    if (a[0] == GLX_CONTEXT_FLAGS_ARB && (value & GLX_CONTEXT_ROBUST_ACCESS_BIT_ARB)) {
      robust_access = true;
      value &= ~GLX_CONTEXT_ROBUST_ACCESS_BIT_ARB;
    }
    kept.push_back(a[0]);
    kept.push_back(value);
  }
  kept.push_back(None);
  GLXContext ctx = xen3d_mesa_glXCreateContextAttribsARB(dpy, config, share, direct, kept.data());
  if (ctx && (robust_access || lose_on_reset)) xen3d_glx_make_robust(ctx, robust_access, lose_on_reset);
  return ctx;
}

XEN3D_EXPORT const char* glXQueryExtensionsString(Display* dpy, int screen) {
  static const std::string extensions =
      std::string(xen3d_mesa_glXQueryExtensionsString(dpy, screen)) +
      " GLX_ARB_create_context_robustness GLX_MESA_query_renderer";
  return extensions.c_str();
}

extern "C" Bool glXQueryRendererIntegerMESA(Display*, int, int, int, unsigned int*);
extern "C" Bool glXQueryCurrentRendererIntegerMESA(int, unsigned int*);
extern "C" const char* glXQueryRendererStringMESA(Display*, int, int, int);
extern "C" const char* glXQueryCurrentRendererStringMESA(int);

namespace {
// glx_query_renderer.c: GLX_MESA_query_renderer.
const std::pair<const char*, __GLXextFuncPtr> kQueryRenderer[] = {
    {"glXQueryRendererIntegerMESA", reinterpret_cast<__GLXextFuncPtr>(glXQueryRendererIntegerMESA)},
    {"glXQueryCurrentRendererIntegerMESA", reinterpret_cast<__GLXextFuncPtr>(glXQueryCurrentRendererIntegerMESA)},
    {"glXQueryRendererStringMESA", reinterpret_cast<__GLXextFuncPtr>(glXQueryRendererStringMESA)},
    {"glXQueryCurrentRendererStringMESA", reinterpret_cast<__GLXextFuncPtr>(glXQueryCurrentRendererStringMESA)},
};
}  // namespace

XEN3D_EXPORT __GLXextFuncPtr glXGetProcAddressARB(const GLubyte* name) {
  const char* n = reinterpret_cast<const char*>(name);
  if (n && !std::strcmp(n, "glXCreateContextAttribsARB")) {
    return reinterpret_cast<__GLXextFuncPtr>(glXCreateContextAttribsARB);
  }
  if (n && !std::strcmp(n, "glXChooseFBConfig")) return reinterpret_cast<__GLXextFuncPtr>(glXChooseFBConfig);
  if (n && !std::strcmp(n, "glXDestroyContext")) return reinterpret_cast<__GLXextFuncPtr>(glXDestroyContext);
  for (const auto& [name, fn] : kQueryRenderer) {
    if (n && !std::strcmp(n, name)) return fn;
  }
  if (n && !std::strcmp(n, "glXMakeCurrent")) return reinterpret_cast<__GLXextFuncPtr>(glXMakeCurrent);
  if (n && !std::strcmp(n, "glXMakeContextCurrent")) return reinterpret_cast<__GLXextFuncPtr>(glXMakeContextCurrent);
  if (n && !std::strcmp(n, "glXMakeCurrentReadSGI")) return reinterpret_cast<__GLXextFuncPtr>(glXMakeCurrentReadSGI);
  if (n && !std::strcmp(n, "glXDestroyWindow")) return reinterpret_cast<__GLXextFuncPtr>(glXDestroyWindow);
  return xen3d_mesa_glXGetProcAddressARB(name);
}

XEN3D_EXPORT void (*glXGetProcAddress(const GLubyte* name))() { return glXGetProcAddressARB(name); }
