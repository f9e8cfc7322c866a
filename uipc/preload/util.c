/* libuipc-preload: result decoding the SysV calls share (ipc/util.c's place). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

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

static int copy_user(void *dst, const void *src, size_t n, int to_user)
{
    size_t done = 0;
    if (!n)
        return 0;
    if (!dst || !src) {
        errno = EFAULT;
        return -1;
    }
    while (done < n) {
        struct iovec local = {(char *)(to_user ? (void *)src : dst) + done, n - done};
        struct iovec remote = {(char *)(to_user ? dst : (void *)src) + done, n - done};
        ssize_t k = to_user ? process_vm_writev(getpid(), &local, 1, &remote, 1, 0)
                            : process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (k <= 0) {
            if (k < 0 && errno != EFAULT && errno != EINTR) {
                /* no process_vm_* here (seccomp, old kernel): a plain copy */
                memcpy((char *)dst + done, (const char *)src + done, n - done);
                return 0;
            }
            if (k < 0 && errno == EINTR)
                continue;
            errno = EFAULT;
            return -1;
        }
        done += (size_t)k;
    }
    return 0;
}

int uipc_copy_from_user(void *dst, const void *src, size_t n)
{
    return copy_user(dst, src, n, 0);
}

int uipc_copy_to_user(void *dst, const void *src, size_t n)
{
    return copy_user(dst, src, n, 1);
}
