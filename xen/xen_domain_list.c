// libxenctrl loaded at run time, like the other Xen libraries (xen_api_real.cpp).
#include <xenctrl.h>  // before other Xen headers: it defines __XEN_TOOLS__

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xen/xen_domain_list.h"

int xen3d_list_domains(struct xen3d_domain_entry* out, int max, char* why, unsigned why_size) {
  void* lib = dlopen("libxenctrl.so.4.17", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(why, why_size, "cannot load libxenctrl.so.4.17 (%s); install the package libxenctrl4.17", dlerror());
    return -1;
  }
  __typeof__(&xc_interface_open) open_fn = (__typeof__(&xc_interface_open))dlsym(lib, "xc_interface_open");
  __typeof__(&xc_interface_close) close_fn = (__typeof__(&xc_interface_close))dlsym(lib, "xc_interface_close");
  __typeof__(&xc_domain_getinfolist) list_fn =
      (__typeof__(&xc_domain_getinfolist))dlsym(lib, "xc_domain_getinfolist");
  int n = -1;
  if (!open_fn || !close_fn || !list_fn) {
    snprintf(why, why_size, "libxenctrl.so.4.17 lacks xc_domain_getinfolist");
  } else {
    xc_interface* xc = open_fn(NULL, NULL, 0);
    if (!xc) {
      snprintf(why, why_size, "cannot open the hypervisor interface (%s): run in dom0 as root", strerror(errno));
    } else {
      xc_domaininfo_t* info = calloc((size_t)max, sizeof *info);
      n = info ? list_fn(xc, 0, (unsigned)max, info) : -1;
      if (n < 0) snprintf(why, why_size, "xc_domain_getinfolist failed: %s", strerror(errno));
      for (int i = 0; i < n; ++i) {
        out[i].domid = (uint16_t)info[i].domain;
        out[i].dying = (info[i].flags & XEN_DOMINF_dying) != 0;
      }
      free(info);
      close_fn(xc);
    }
  }
  dlclose(lib);
  return n;
}
