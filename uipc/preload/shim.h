/* libuipc-preload: the shim's internal interface.
 *
 * conn.c speaks the wire protocol (docs/protocol.md, uipc_proto.h) on one
 * connection per thread; sysv.c, posix.c and procfs.c are the interposed
 * libc functions, each a thin packer of its op's fixed arguments and tail.
 * No function here allocates a connection before the program's first IPC
 * call: a program that never uses IPC never talks to the daemon.
 */
#ifndef UIPC_SHIM_H
#define UIPC_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uipc_proto.h"

#define UIPC_EXPORT __attribute__((visibility("default")))
#define UIPC_HIDDEN __attribute__((visibility("hidden")))

/* How a call that sleeps in the daemon treats a caught signal (signal(7)). */
enum uipc_wait {
    /* msgrcv, msgsnd, semop, semtimedop: EINTR whatever SA_RESTART says */
    UIPC_WAIT_EINTR = 0,
    /* mq_*, sem_wait: restarted when the handler has SA_RESTART */
    UIPC_WAIT_RESTART = 1,
};

#define UIPC_MAX_REPLY_FDS 4

struct uipc_reply {
    int status;                 /* 0, or the errno the call fails with */
    const unsigned char *data;  /* the payload after the reply header: valid
                                   until this thread's next call */
    size_t len;
    int fds[UIPC_MAX_REPLY_FDS];  /* descriptors that came with it (SCM_RIGHTS) */
    int nfds;
};

/* Run one request on this thread's connection and wait for its reply.
 * Returns 0 with *r filled (r->status may be an errno: the call's failure),
 * or -1 with errno set when there is no answer: ENOSYS when no daemon can
 * be reached (said once on stderr), ECONNRESET when it went away. */
UIPC_HIDDEN int uipc_call(uint16_t op, const void *args, size_t args_len, const void *tail,
                          size_t tail_len, enum uipc_wait wait, struct uipc_reply *r);

/* uipc_call, with the reply's status turned into errno: returns 0 on
 * success, else -1 with errno set (descriptors that came are closed). */
UIPC_HIDDEN int uipc_sys(uint16_t op, const void *args, size_t args_len, const void *tail,
                         size_t tail_len, enum uipc_wait wait, struct uipc_reply *r);

/* uipc_sys for a call whose reply carries one descriptor (mq_open,
 * shm_open): returns it (close-on-exec: MSG_CMSG_CLOEXEC), or -1 with
 * errno; EIO for a reply without one. */
UIPC_HIDDEN int uipc_sys_fd(uint16_t op, const void *args, size_t args_len, const void *tail,
                            size_t tail_len, enum uipc_wait wait);

/* sem_unlink/shm_unlink: the name as glibc's __shm_get_name takes it (a
 * name PATH_MAX long or more is ENOENT), then `op` with it as the tail. */
UIPC_HIDDEN int uipc_unlink_name(uint16_t op, const char *name);

/* The process holds something the daemon must see it keep (attachments,
 * queue descriptors, named semaphores): keep one connection open for the
 * process as long as it lives (connections are close-on-exec, and the
 * daemon takes the last one closing for an exec), and make a fork child
 * report its inheritance at once.  Returns 0, or -1 with errno. */
UIPC_HIDDEN int uipc_hold(void);

/* The real libc function this library hides (dlsym RTLD_NEXT). */
UIPC_HIDDEN void *uipc_next(const char *name);
#define UIPC_REAL(type, name) ((type)uipc_next(#name))

/* One line on stderr, prefixed "uipc: ", at most once per key per process. */
UIPC_HIDDEN void uipc_warn_once(int *said, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- provided by sysv.c for fork: the attach ids a fork child inherits --- */
UIPC_HIDDEN size_t uipc_shm_inherited(int64_t *ids, size_t max);
UIPC_HIDDEN void uipc_shm_atfork_prepare(void);
UIPC_HIDDEN void uipc_shm_atfork_parent(void);
UIPC_HIDDEN void uipc_shm_atfork_child(void);

#endif
