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

/* sem.c: the syscalls' bodies, shared by the libc wrappers and syscall.c.
 * uipc_semctl takes the raw syscall's fourth argument: union semun passed
 * by value as an unsigned long. */
struct sembuf;
struct timespec;
UIPC_HIDDEN int uipc_semtimedop(int semid, struct sembuf *sops, size_t nsops,
                                const struct timespec *timeout);
UIPC_HIDDEN int uipc_semctl(int semid, int semnum, int cmd, unsigned long arg);

/* copy_from_user()/copy_to_user(): copy between the caller's memory and
 * ours without faulting on a bad pointer (process_vm_readv/writev on this
 * process): 0, or -1 with errno EFAULT, as the kernel's copies fail. */
UIPC_HIDDEN int uipc_copy_from_user(void *dst, const void *src, size_t n);
UIPC_HIDDEN int uipc_copy_to_user(void *dst, const void *src, size_t n);

#endif
