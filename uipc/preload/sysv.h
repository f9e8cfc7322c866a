/* libuipc-preload: helpers the SysV calls share (util.c). */
#ifndef UIPC_SYSV_H
#define UIPC_SYSV_H

#include "shim.h"

/* The i64 of an `int` result. */
UIPC_HIDDEN int64_t uipc_int_result(const struct uipc_reply *r);

/* A `ctl` result: u8 tag | i64 ret | fields (docs/protocol.md). */
struct uipc_ctl {
    uint8_t tag;
    int64_t ret;
    const unsigned char *fields;
    size_t len;
};

/* Decode a ctl reply; -1 with errno EPROTO when it is malformed. */
UIPC_HIDDEN int uipc_ctl_result(const struct uipc_reply *r, struct uipc_ctl *out);

#endif
