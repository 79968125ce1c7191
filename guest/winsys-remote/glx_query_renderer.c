// GLX_MESA_query_renderer for Mesa's xlib GLX, which lacks it. The answers
// are those of Mesa's DRI GLX (dri_query_renderer.c): the vendor, device,
// acceleration and memory from the screen's caps (the host driver's, through
// the remote driver), the GL versions a context on it would get
// (st_api_query_versions, what st/mesa computes at context creation).
// Programs read them to pick a profile and to judge the GPU (SDL, browsers);
// piglit's glx_mesa_query_renderer covers every query.
#include <GL/glx.h>
#include <GL/glxext.h>
#include <stdio.h>
#include <string.h>

#include "pipe/p_compiler.h"  // before frontend/api.h, which uses bool without it
#include "frontend/api.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"

#define XEN3D_EXPORT __attribute__((visibility("default")))

// xlib_remote_screen.cpp: the screen this process made for its X display.
struct pipe_screen *xen3d_glx_first_screen(void);

static struct pipe_screen *screen_of(Display *dpy, int screen) {
  if (!dpy || screen < 0 || screen >= ScreenCount(dpy)) return NULL;
  if (!xen3d_glx_first_screen()) {
    // Mesa's xlib GLX makes its pipe_screen with the display's first visual.
    int attribs[] = {GLX_RGBA, None};
    XVisualInfo *vi = glXChooseVisual(dpy, screen, attribs);
    if (vi) XFree(vi);
  }
  return xen3d_glx_first_screen();
}

struct versions {
  int core, compat, es1, es2;
};

static struct versions versions_of(struct pipe_screen *screen) {
  static struct pipe_screen *known;
  static struct versions v;
  if (known != screen) {
    struct st_manager sm;
    struct st_config_options options;
    memset(&sm, 0, sizeof sm);
    memset(&options, 0, sizeof options);
    sm.screen = screen;
    st_api_query_versions(&sm, &options, &v.core, &v.compat, &v.es1, &v.es2);
    known = screen;
  }
  return v;
}

// st/mesa's versions are major * 10 + minor (0: the API is not offered).
static Bool major_minor(int version, unsigned int *value) {
  value[0] = (unsigned)version / 10;
  value[1] = (unsigned)version % 10;
  return True;
}

static Bool query_integer(struct pipe_screen *s, int attribute, unsigned int *value) {
  if (!s || !value) return False;
  const struct versions v = versions_of(s);
  switch (attribute) {
    case GLX_RENDERER_VENDOR_ID_MESA: value[0] = (unsigned)s->get_param(s, PIPE_CAP_VENDOR_ID); return True;
    case GLX_RENDERER_DEVICE_ID_MESA: value[0] = (unsigned)s->get_param(s, PIPE_CAP_DEVICE_ID); return True;
    case GLX_RENDERER_VERSION_MESA: {
      unsigned major = 0, minor = 0, patch = 0;
      sscanf(PACKAGE_VERSION, "%u.%u.%u", &major, &minor, &patch);
      value[0] = major;
      value[1] = minor;
      value[2] = patch;
      return True;
    }
    case GLX_RENDERER_ACCELERATED_MESA: value[0] = s->get_param(s, PIPE_CAP_ACCELERATED) != 0; return True;
    case GLX_RENDERER_VIDEO_MEMORY_MESA: value[0] = (unsigned)s->get_param(s, PIPE_CAP_VIDEO_MEMORY); return True;
    case GLX_RENDERER_UNIFIED_MEMORY_ARCHITECTURE_MESA: value[0] = s->get_param(s, PIPE_CAP_UMA) != 0; return True;
    case GLX_RENDERER_PREFERRED_PROFILE_MESA:
      value[0] = v.core ? GLX_CONTEXT_CORE_PROFILE_BIT_ARB : GLX_CONTEXT_COMPATIBILITY_PROFILE_BIT_ARB;
      return True;
    case GLX_RENDERER_OPENGL_CORE_PROFILE_VERSION_MESA: return major_minor(v.core, value);
    case GLX_RENDERER_OPENGL_COMPATIBILITY_PROFILE_VERSION_MESA: return major_minor(v.compat, value);
    case GLX_RENDERER_OPENGL_ES_PROFILE_VERSION_MESA: return major_minor(v.es1, value);
    case GLX_RENDERER_OPENGL_ES2_PROFILE_VERSION_MESA: return major_minor(v.es2, value);
    default:
      return False;
  }
}

static const char *query_string(struct pipe_screen *s, int attribute) {
  if (!s) return NULL;
  switch (attribute) {
    case GLX_RENDERER_VENDOR_ID_MESA: return s->get_vendor(s);
    case GLX_RENDERER_DEVICE_ID_MESA: return s->get_name(s);
    default: return NULL;
  }
}

XEN3D_EXPORT Bool glXQueryRendererIntegerMESA(Display *dpy, int screen, int renderer, int attribute,
                                              unsigned int *value) {
  return renderer == 0 && query_integer(screen_of(dpy, screen), attribute, value);
}

XEN3D_EXPORT Bool glXQueryCurrentRendererIntegerMESA(int attribute, unsigned int *value) {
  if (!glXGetCurrentContext()) return False;
  return query_integer(screen_of(glXGetCurrentDisplay(), 0), attribute, value);
}

XEN3D_EXPORT const char *glXQueryRendererStringMESA(Display *dpy, int screen, int renderer, int attribute) {
  return renderer == 0 ? query_string(screen_of(dpy, screen), attribute) : NULL;
}

XEN3D_EXPORT const char *glXQueryCurrentRendererStringMESA(int attribute) {
  if (!glXGetCurrentContext()) return NULL;
  return query_string(screen_of(glXGetCurrentDisplay(), 0), attribute);
}
