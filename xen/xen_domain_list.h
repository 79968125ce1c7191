// The running domains, from libxenctrl. C, because libxenctrl's headers are
// not valid C++ (anonymous structs, GNU attributes).
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xen3d_domain_entry {
  uint16_t domid;
  uint8_t dying;
};

// Fills up to `max` entries; the count, or -1 with a reason in `why`.
int xen3d_list_domains(struct xen3d_domain_entry* out, int max, char* why, unsigned why_size);

#ifdef __cplusplus
}
#endif
