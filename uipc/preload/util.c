/* libuipc-preload: result decoding the SysV calls share (ipc/util.c's place). */
#include <errno.h>
#include <string.h>

#include "sysv.h"

int64_t uipc_int_result(const struct uipc_reply *r)
{
    int64_t v = 0;
    if (r->len >= sizeof v)
        memcpy(&v, r->data, sizeof v);
    return v;
}

int uipc_ctl_result(const struct uipc_reply *r, struct uipc_ctl *out)
{
    if (r->len < 9) {
        errno = EPROTO;
        return -1;
    }
    out->tag = r->data[0];
    memcpy(&out->ret, r->data + 1, 8);
    out->fields = r->data + 9;
    out->len = r->len - 9;
    return 0;
}
