/* libuipc-preload: connections to the daemon, one per thread.
 *
 * The C twin of uipc/client/connection.py.  A thread's first IPC call
 * connects to the socket uipc.paths would pick ($UIPC_SOCKET, the system
 * socket when UIPC_SYSTEM=1, else $XDG_RUNTIME_DIR/uipc or /tmp/uipc-$UID),
 * after the same trust checks (the directory is ours or root's and closed
 * to others; the listener runs as us or root), and says hello with
 * $UIPC_NAMESPACE.  Requests then go out one at a time and the thread waits
 * for each reply.
 *
 * Signals (signal(7)): while a request sleeps in the daemon, a caught
 * signal interrupts it.  UIPC_WAIT_EINTR waits in ppoll with the caller's
 * signal mask, which is never restarted, and which blocks signals from
 * before the request is sent until the wait, so a signal that lands
 * between the two still interrupts it, as the kernel's signal_pending
 * check before sleeping does.  UIPC_WAIT_RESTART waits in recvmsg, which
 * the kernel restarts by itself under SA_RESTART.  Either way, when the
 * wait is interrupted, the interrupt frame goes to the daemon and the
 * reply is read: EINTR, or the result if the call completed first (a
 * message received is never lost), and no sleeper is left behind.
 *
 * Processes: connections are close-on-exec, so an exec closes them all
 * and the daemon takes that for the exec (it drops the attachments).  A
 * fork child closes its copies of the parent's connections at once and,
 * when the parent held anything (uipc_hold), opens its own anchor and
 * reports the fork with the attachments it inherited.  vfork and
 * posix_spawn children run no atfork handler; they exec, which closes the
 * copies.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "raw.h"
#include "shim.h"

#define MAX_GROUPS 256
/* connections take descriptors from here up (where the limit allows) */
#define UIPC_FD_FLOOR 100
#define REPLY_HEADER_SIZE 12
#define REQ_HEADER_SIZE 10

struct creds {
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    int ngroups;
    gid_t groups[MAX_GROUPS];
};

struct conn {
    int fd;
    int busy;           /* a call is in flight (a signal handler may call again) */
    pid_t pid;
    uint32_t next_id;
    uint32_t max_frame;
    struct creds creds;
    unsigned char *buf; /* the last reply's payload */
    size_t cap;
    struct conn *next;  /* every connection of the process (fork closes them) */
};

static __thread struct conn *thread_conn;
static struct conn *all_conns;
static struct conn *anchor;
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t conn_key;
static pid_t cached_pid;
static pid_t pid_before_fork;
static uint64_t boot_id_seen;
static int said_unreachable, said_restarted, said_hello;

void *uipc_next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

void uipc_warn_once(int *said, const char *fmt, ...)
{
    if (__atomic_exchange_n(said, 1, __ATOMIC_RELAXED))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    int saved = errno;
    ssize_t w = raw_write(2, "uipc: ", 6);
    w = raw_write(2, line, (size_t)n);
    (void)w;
    errno = saved;
}

/* --- credentials: a connection carries those the process had at connect --- */
static void read_creds(struct creds *c)
{
    raw_getresuid(&c->ruid, &c->euid, &c->suid);
    raw_getresgid(&c->rgid, &c->egid, &c->sgid);
    c->ngroups = raw_getgroups(MAX_GROUPS, c->groups);
    if (c->ngroups < 0)
        c->ngroups = -1;
}

static int same_creds(const struct creds *a, const struct creds *b)
{
    return a->ruid == b->ruid && a->euid == b->euid && a->suid == b->suid &&
           a->rgid == b->rgid && a->egid == b->egid && a->sgid == b->sgid &&
           a->ngroups == b->ngroups &&
           (a->ngroups <= 0 || !memcmp(a->groups, b->groups, sizeof(gid_t) * (size_t)a->ngroups));
}

/* --- where the daemon listens (uipc/paths.py) --- */
static int socket_path(char *out, size_t size, char *dir, size_t dsize)
{
    const char *env = getenv("UIPC_SOCKET");
    int n;
    if (env && *env) {
        n = snprintf(out, size, "%s", env);
    } else if (getenv("UIPC_SYSTEM") && !strcmp(getenv("UIPC_SYSTEM"), "1")) {
        n = snprintf(out, size, "/run/uipc/uipc.sock");
    } else {
        const char *rt = getenv("XDG_RUNTIME_DIR");
        struct stat st;
        if (rt && *rt && raw_stat(rt, &st) == 0 && S_ISDIR(st.st_mode))
            n = snprintf(out, size, "%s/uipc/uipc.sock", rt);
        else
            n = snprintf(out, size, "/tmp/uipc-%u/uipc.sock", (unsigned)raw_getuid());
    }
    if (n < 0 || (size_t)n >= size)
        return -1;
    snprintf(dir, dsize, "%s", out);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, dsize, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    return 0;
}

static int is_user_dir(const char *dir)
{
    char mine[512];
    const char *rt = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (rt && *rt && raw_stat(rt, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(mine, sizeof mine, "%s/uipc", rt);
    else
        snprintf(mine, sizeof mine, "/tmp/uipc-%u", (unsigned)raw_getuid());
    return !strcmp(mine, dir);
}

/* check_socket_dir(): refuse a directory someone else could have prepared.
 * Returns 0, 1 when it does not exist (nothing listens), -1 refused. */
static int check_socket_dir(const char *dir)
{
    struct stat st;
    uid_t euid = raw_geteuid();
    if (raw_lstat(dir, &st) != 0)
        return 1;
    static int said;
    if (!S_ISDIR(st.st_mode)) {
        uipc_warn_once(&said, "%s is not a directory; refusing it", dir);
        return -1;
    }
    if (is_user_dir(dir) && (st.st_uid != euid || (st.st_mode & 077))) {
        uipc_warn_once(&said, "%s belongs to uid %u with mode %03o; it must be ours (uid %u) "
                       "and 0700: someone else may have made it. Remove it to go on.",
                       dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777), (unsigned)euid);
        return -1;
    }
    if (st.st_uid != euid && st.st_uid != 0) {
        uipc_warn_once(&said, "%s belongs to uid %u, neither us (uid %u) nor root; refusing it",
                       dir, (unsigned)st.st_uid, (unsigned)euid);
        return -1;
    }
    if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
        uipc_warn_once(&said, "%s (mode %03o) is writable by others; refusing it", dir,
                       (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

/* --- frames --- */
static int send_all(int fd, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t n = raw_sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4); /* x86-64 and aarch64 are little-endian, as the wire */
}

static int send_request(struct conn *c, uint32_t req_id, uint16_t op, const void *args,
                        size_t args_len, const void *tail, size_t tail_len)
{
    unsigned char head[REQ_HEADER_SIZE];
    put_u32(head, (uint32_t)(REQ_HEADER_SIZE - 4 + args_len + tail_len));
    put_u32(head + 4, req_id);
    memcpy(head + 8, &op, 2);
    struct iovec iov[3] = {{head, sizeof head}, {(void *)args, args_len}, {(void *)tail, tail_len}};
    return send_all(c->fd, iov, tail_len ? 3 : 2);
}

/* Read exactly n bytes (descriptors that come are appended to fds).  A
 * signal is not an error here: the reply is on its way. */
static int recv_exact(struct conn *c, void *dst, size_t n, int *fds, int *nfds)
{
    size_t got = 0;
    while (got < n) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * UIPC_MAX_REPLY_FDS)];
            struct cmsghdr align;
        } u;
        struct iovec iov = {(char *)dst + got, n - got};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                            .msg_controllen = sizeof u.buf};
        ssize_t k = raw_recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            int count = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *in = (int *)CMSG_DATA(cm);
            for (int i = 0; i < count; i++) {
                if (*nfds < UIPC_MAX_REPLY_FDS)
                    fds[(*nfds)++] = in[i];
                else
                    raw_close(in[i]);
            }
        }
        if (k == 0) {
            errno = ECONNRESET;
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

static void close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        raw_close(fds[i]);
}

/* Read one frame; its payload lands in c->buf. */
static int recv_frame(struct conn *c, uint32_t *rid, int32_t *status, size_t *len, int *fds,
                      int *nfds)
{
    unsigned char head[REPLY_HEADER_SIZE];
    if (recv_exact(c, head, sizeof head, fds, nfds) < 0)
        return -1;
    uint32_t length;
    memcpy(&length, head, 4);
    memcpy(rid, head + 4, 4);
    memcpy(status, head + 8, 4);
    if (length < 8 || length > UIPC_MAX_FRAME) {
        errno = EPROTO;
        return -1;
    }
    size_t n = length - 8;
    if (n + 1 > c->cap) {
        unsigned char *nb = realloc(c->buf, n + 1);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        c->buf = nb;
        c->cap = n + 1;
    }
    if (recv_exact(c, c->buf, n, fds, nfds) < 0)
        return -1;
    c->buf[n] = 0; /* an error's explanation reads as a C string */
    *len = n;
    return 0;
}

/* Wait for the reply's first byte as `wait` says; 1 if a signal came first. */
static int wait_reply(struct conn *c, enum uipc_wait wait, const sigset_t *caller_mask)
{
    if (wait == UIPC_WAIT_EINTR) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        for (;;) {
            int n = raw_ppoll(&p, 1, caller_mask);
            if (n > 0)
                return 0;
            if (n < 0 && errno == EINTR)
                return 1;
            if (n < 0)
                return -1;
        }
    }
    unsigned char b;
    for (;;) {
        ssize_t n = raw_recv(c->fd, &b, 1, MSG_PEEK);
        if (n >= 0)
            return 0;
        if (errno == EINTR)
            return 1;
        return -1;
    }
}

/* --- connecting --- */
static void drop_conn(struct conn *c)
{
    pthread_mutex_lock(&conns_lock);
    for (struct conn **p = &all_conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&conns_lock);
    if (c->fd >= 0)
        raw_close(c->fd);
    free(c->buf);
    free(c);
}

static int unreachable(const char *path, const char *why)
{
    uipc_warn_once(&said_unreachable, "no uipc daemon at %s (%s): IPC calls fail with ENOSYS "
                   "and /proc/sysvipc, /proc/sys/kernel and /proc/sys/fs/mqueue show the "
                   "machine's (start one with `uipc daemon`, or run the program with "
                   "`uipc run --preload`)", path, why);
    errno = ENOSYS;
    return -1;
}

static struct conn *connect_daemon(void)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)], dir[sizeof path];
    if (socket_path(path, sizeof path, dir, sizeof dir) < 0) {
        unreachable("$UIPC_SOCKET", "the path is too long");
        return NULL;
    }
    int ok = check_socket_dir(dir);
    if (ok != 0) {
        unreachable(path, ok > 0 ? "no such directory" : "refused: see above");
        return NULL;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->fd = raw_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        free(c);
        return NULL;
    }
    if (c->fd < UIPC_FD_FLOOR) {
        /* out of the way of the program's own numbers: one that closed 0
         * and calls IPC next must not find its socket as its stdin */
        int high = raw_fcntl(c->fd, F_DUPFD_CLOEXEC, UIPC_FD_FLOOR);
        if (high >= 0) {
            raw_close(c->fd);
            c->fd = high;
        }
    }
    read_creds(&c->creds);
    c->pid = raw_getpid();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int r;
    do
        r = raw_connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        raw_close(c->fd);
        free(c);
        unreachable(path, strerror(e));
        return NULL;
    }
    struct ucred peer;
    socklen_t plen = sizeof peer;
    int system = !strcmp(dir, "/run/uipc");
    if (raw_getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen) < 0 ||
        (peer.uid != 0 && (system || peer.uid != raw_geteuid()))) {
        static int said;
        uipc_warn_once(&said, "the process at %s (pid %d) runs as uid %u, not as us or root: "
                       "refusing to talk to it", path, (int)peer.pid, (unsigned)peer.uid);
        raw_close(c->fd);
        free(c);
        errno = ENOSYS;
        return NULL;
    }
    /* hello */
    const char *ns = getenv("UIPC_NAMESPACE");
    const char *create = getenv("UIPC_NAMESPACE_CREATE");
    struct uipc_hello_args h = {UIPC_PROTO_VERSION, create && !strcmp(create, "1"), 0};
    uint32_t rid;
    int32_t status;
    size_t len;
    int fds[UIPC_MAX_REPLY_FDS], nfds = 0;
    c->next_id = 1;
    if (send_request(c, 1, UIPC_OP_HELLO, &h, sizeof h, ns ? ns : "", ns ? strlen(ns) : 0) < 0 ||
        recv_frame(c, &rid, &status, &len, fds, &nfds) < 0) {
        int e = errno;
        drop_conn(c);
        unreachable(path, strerror(e));
        return NULL;
    }
    close_fds(fds, nfds);
    struct uipc_hello_result hr;
    if (status || len != sizeof hr) {
        if (status)
            uipc_warn_once(&said_hello, "the daemon at %s refused us: %s (%s); IPC calls fail "
                           "with ENOSYS", path, strerror(status), (const char *)c->buf);
        else
            uipc_warn_once(&said_hello, "the daemon at %s speaks another protocol version: "
                           "restart it (uipc daemon --stop)", path);
        drop_conn(c);
        errno = ENOSYS;
        return NULL;
    }
    memcpy(&hr, c->buf, sizeof hr);
    if (hr.version != UIPC_PROTO_VERSION) {
        uipc_warn_once(&said_hello, "the daemon at %s speaks protocol %u, we speak %u: restart "
                       "it (uipc daemon --stop)", path, hr.version, UIPC_PROTO_VERSION);
        drop_conn(c);
        errno = ENOSYS;
        return NULL;
    }
    c->max_frame = hr.max_frame;
    uint64_t seen = __atomic_exchange_n(&boot_id_seen, hr.boot_id, __ATOMIC_RELAXED);
    if (seen && seen != hr.boot_id)
        uipc_warn_once(&said_restarted, "the uipc daemon at %s restarted: every object, id and "
                       "attachment from before is gone", path);
    pthread_mutex_lock(&conns_lock);
    c->next = all_conns;
    all_conns = c;
    pthread_mutex_unlock(&conns_lock);
    return c;
}

static struct conn *this_thread_conn(void)
{
    struct conn *c = thread_conn;
    if (c) {
        struct creds now;
        read_creds(&now);
        if (c->pid == cached_pid && same_creds(&now, &c->creds))
            return c;
        /* credentials changed (setuid, setgroups): the daemon knows us by
         * those we connected with, so this connection is not used again */
        thread_conn = NULL;
        drop_conn(c);
    }
    c = connect_daemon();
    if (c) {
        thread_conn = c;
        pthread_setspecific(conn_key, c);
    }
    return c;
}

int uipc_hold(void)
{
    pthread_mutex_lock(&conns_lock);
    int have = anchor != NULL;
    pthread_mutex_unlock(&conns_lock);
    if (have)
        return 0;
    struct conn *c = connect_daemon();
    if (!c)
        return -1;
    pthread_mutex_lock(&conns_lock);
    if (anchor) {
        pthread_mutex_unlock(&conns_lock);
        drop_conn(c); /* another thread made it first */
        return 0;
    }
    anchor = c;
    pthread_mutex_unlock(&conns_lock);
    return 0;
}

/* --- calls --- */
static int call_on(struct conn *c, uint16_t op, const void *args, size_t args_len,
                   const void *tail, size_t tail_len, enum uipc_wait wait, struct uipc_reply *r)
{
    if (REQ_HEADER_SIZE - 4 + args_len + tail_len > c->max_frame) {
        r->status = EINVAL;
        r->data = (const unsigned char *)"a request this large exceeds the uipc daemon's frame limit";
        r->len = strlen((const char *)r->data);
        r->nfds = 0;
        return 0;
    }
    uint32_t req_id = c->next_id = c->next_id % 0xFFFFFFFFu + 1;
    sigset_t all, caller;
    sigfillset(&all);
    int masked = wait == UIPC_WAIT_EINTR && pthread_sigmask(SIG_BLOCK, &all, &caller) == 0;
    int failed = send_request(c, req_id, op, args, args_len, tail, tail_len) < 0;
    if (failed && errno == EFAULT) {
        /* the tail points at memory we may not read: the kernel's
         * copy_from_user fails; what went out of the frame is unknown, so
         * the connection is not used again */
        if (masked)
            pthread_sigmask(SIG_SETMASK, &caller, NULL);
        errno = EFAULT;
        return -1;
    }
    int interrupted = 0;
    if (!failed) {
        int w = wait_reply(c, wait, masked ? &caller : NULL);
        if (w < 0)
            failed = 1;
        else if (w > 0) {
            interrupted = 1;
            struct uipc_interrupt_args ia = {req_id};
            if (send_request(c, 0, UIPC_OP_INTERRUPT, &ia, sizeof ia, NULL, 0) < 0)
                failed = 1;
        }
    }
    if (masked)
        pthread_sigmask(SIG_SETMASK, &caller, NULL);
    (void)interrupted;
    while (!failed) {
        uint32_t rid;
        int32_t status;
        size_t len;
        int fds[UIPC_MAX_REPLY_FDS], nfds = 0;
        if (recv_frame(c, &rid, &status, &len, fds, &nfds) < 0) {
            failed = 1;
            break;
        }
        if (rid != req_id) {
            /* an event, or the late answer to a request given up on */
            close_fds(fds, nfds);
            if (rid == UIPC_EVENT_REQ_ID && status) {
                errno = status; /* the daemon closes this connection */
                failed = 1;
            }
            continue;
        }
        /* an errno is 1..4095 (the kernel's MAX_ERRNO); anything else is a
         * reply we cannot trust */
        r->status = status < 0 || status > 4095 ? EPROTO : status;
        r->data = c->buf;
        r->len = len;
        r->nfds = nfds;
        memcpy(r->fds, fds, sizeof(int) * (size_t)nfds);
        return 0;
    }
    return -1;
}

/* A call made while this thread's connection is busy: a signal handler
 * calling IPC in the middle of a call.  The kernel is reentrant; we give
 * the nested call a connection of its own for its duration. */
static int nested_call(uint16_t op, const void *args, size_t args_len, const void *tail,
                       size_t tail_len, enum uipc_wait wait, struct uipc_reply *r)
{
    static __thread struct conn *spare;
    struct conn *c = spare ? spare : connect_daemon();
    if (!c)
        return -1;
    if (c->busy) { /* nested twice: not supported */
        errno = EDEADLK;
        return -1;
    }
    spare = c;
    c->busy = 1;
    int rc = call_on(c, op, args, args_len, tail, tail_len, wait, r);
    c->busy = 0;
    if (rc < 0) {
        int e = errno;
        spare = NULL;
        drop_conn(c);
        errno = e == EFAULT ? EFAULT : ECONNRESET;
    }
    return rc;
}

int uipc_call(uint16_t op, const void *args, size_t args_len, const void *tail, size_t tail_len,
              enum uipc_wait wait, struct uipc_reply *r)
{
    int saved = errno;
    if (thread_conn && thread_conn->busy)
        return nested_call(op, args, args_len, tail, tail_len, wait, r);
    struct conn *c = this_thread_conn();
    if (!c)
        return -1;
    c->busy = 1;
    int rc = call_on(c, op, args, args_len, tail, tail_len, wait, r);
    c->busy = 0;
    if (rc == 0) {
        errno = saved;
        return 0;
    }
    if (errno == EFAULT) {
        thread_conn = NULL;
        pthread_setspecific(conn_key, NULL);
        drop_conn(c);
        errno = EFAULT;
        return -1;
    }
    static int said;
    uipc_warn_once(&said, "the connection to the uipc daemon was lost (%s): the call's "
                   "effect is unknown", strerror(errno));
    thread_conn = NULL;
    pthread_setspecific(conn_key, NULL);
    drop_conn(c);
    errno = ECONNRESET;
    return -1;
}

int uipc_sys(uint16_t op, const void *args, size_t args_len, const void *tail, size_t tail_len,
             enum uipc_wait wait, struct uipc_reply *r)
{
    if (uipc_call(op, args, args_len, tail, tail_len, wait, r) < 0)
        return -1;
    if (r->status) {
        close_fds(r->fds, r->nfds);
        r->nfds = 0;
        errno = r->status;
        return -1;
    }
    return 0;
}

/* --- threads, fork, exec --- */
static void thread_gone(void *p)
{
    struct conn *c = p;
    if (c && c == thread_conn)
        thread_conn = NULL;
    if (c)
        drop_conn(c);
}

/* The fork handshake (as uipc/client/connection.py's): Linux copies the
 * descriptor table and the mappings at fork, the daemon learns of the fork
 * when the child reports it, so a parent that holds anything waits until
 * its child has reported (or died) before it goes on: nothing it does right
 * after fork (closing its end of a pipe, shmdt) can come first. */
static int fork_pipe[2] = {-1, -1};

static void before_fork(void)
{
    pid_before_fork = cached_pid;
    int held = __atomic_load_n(&anchor, __ATOMIC_RELAXED) != NULL;
    uipc_shm_atfork_prepare();
    pthread_mutex_lock(&conns_lock);
    if (!held || raw_pipe2(fork_pipe, O_CLOEXEC) != 0)
        fork_pipe[0] = fork_pipe[1] = -1;
}

static void after_fork_parent(void)
{
    int r = fork_pipe[0], w = fork_pipe[1];
    fork_pipe[0] = fork_pipe[1] = -1;
    pthread_mutex_unlock(&conns_lock);
    uipc_shm_atfork_parent();
    if (r < 0)
        return;
    int saved = errno;
    raw_close(w);
    char b;
    while (raw_read(r, &b, 1) < 0 && errno == EINTR)
        ; /* EOF: the child reported, exec'd or died */
    raw_close(r);
    errno = saved;
}

static void report_fork(void);

static void after_fork_child(void)
{
    int w = fork_pipe[1], saved = errno;
    if (fork_pipe[0] >= 0)
        raw_close(fork_pipe[0]);
    fork_pipe[0] = fork_pipe[1] = -1;
    report_fork();
    if (w >= 0)
        raw_close(w); /* the parent goes on */
    errno = saved;
}

static void report_fork(void)
{
    pthread_mutex_init(&conns_lock, NULL);
    cached_pid = raw_getpid();
    int held = anchor != NULL;
    /* our copies of the parent's connections: the daemon would take them
     * for the parent's, and they would keep its exec from being seen */
    struct conn *c = all_conns;
    while (c) {
        struct conn *next = c->next;
        raw_close(c->fd);
        free(c->buf);
        free(c);
        c = next;
    }
    all_conns = NULL;
    anchor = NULL;
    thread_conn = NULL;
    pthread_setspecific(conn_key, NULL);
    uipc_shm_atfork_child();
    if (!held || uipc_hold() < 0)
        return;
    /* report the fork at once: our copies of the parent's mappings count */
    int64_t ids[4096];
    size_t n = uipc_shm_inherited(ids, sizeof ids / sizeof ids[0]);
    struct uipc_fork_args fa = {pid_before_fork};
    struct uipc_reply r;
    int saved = errno;
    call_on(anchor, UIPC_OP_FORK, &fa, sizeof fa, ids, n * sizeof ids[0], UIPC_WAIT_RESTART, &r);
    errno = saved;
}

__attribute__((constructor)) static void shim_init(void)
{
    cached_pid = raw_getpid();
    pthread_key_create(&conn_key, thread_gone);
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

int uipc_sys_fd(uint16_t op, const void *args, size_t args_len, const void *tail,
                size_t tail_len, enum uipc_wait wait)
{
    struct uipc_reply r;
    if (uipc_sys(op, args, args_len, tail, tail_len, wait, &r) < 0)
        return -1;
    if (r.nfds < 1) {
        errno = EIO; /* a reply without its descriptor: nothing to hand out */
        return -1;
    }
    close_fds(r.fds + 1, r.nfds - 1);
    return r.fds[0];
}

int uipc_unlink_name(uint16_t op, const char *name)
{
    size_t len = strnlen(name, PATH_MAX);
    if (len >= PATH_MAX) { /* glibc: a name __shm_get_name refuses is ENOENT */
        errno = ENOENT;
        return -1;
    }
    struct uipc_reply r;
    return uipc_sys(op, NULL, 0, name, len, UIPC_WAIT_RESTART, &r);
}
