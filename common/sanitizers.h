// Whether this translation unit is built with AddressSanitizer (gcc defines
// __SANITIZE_ADDRESS__, clang has __has_feature): the sanitized host differs
// where ASan's runtime needs what production code must not do.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define XEN3D_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XEN3D_ADDRESS_SANITIZER 1
#endif
#endif
#ifndef XEN3D_ADDRESS_SANITIZER
#define XEN3D_ADDRESS_SANITIZER 0
#endif
