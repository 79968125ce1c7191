// Names of displif request codes (xen/io/displif.h, included before this),
// for logs: nullptr for a code the protocol does not define.
#pragma once

#include <cstdint>

namespace xen3d::xen {

inline const char* displif_op_name(uint8_t op) {
  switch (op) {
    case XENDISPL_OP_DBUF_CREATE: return "dbuf_create";
    case XENDISPL_OP_DBUF_DESTROY: return "dbuf_destroy";
    case XENDISPL_OP_FB_ATTACH: return "fb_attach";
    case XENDISPL_OP_FB_DETACH: return "fb_detach";
    case XENDISPL_OP_SET_CONFIG: return "set_config";
    case XENDISPL_OP_PG_FLIP: return "pg_flip";
    case XENDISPL_OP_GET_EDID: return "get_edid";
    default: return nullptr;
  }
}

}  // namespace xen3d::xen
