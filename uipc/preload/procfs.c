/* libuipc-preload: the kernel's /proc views of IPC, served by uipc.
 *
 * open(2) and fopen(3) of exactly these paths (nothing else: no other
 * spelling, no relative path) are answered from the caller's uipc namespace:
 *
 *   /proc/sysvipc/{msg,sem,shm}       the proc_read op's text (ipc/util.c's
 *                                     seq_file, sysvipc_*_proc_show)
 *   /proc/sys/kernel/{msgmax,msgmnb,msgmni,msg_next_id,sem,sem_next_id,
 *     shmmax,shmall,shmmni,shm_rmid_forced,shm_next_id}
 *   /proc/sys/fs/mqueue/{msg_max,msgsize_max,msg_default,msgsize_default,
 *     queues_max}                     the value and a newline (proc_read);
 *                                     write(2) sets the sysctl (sysctl op)
 *
 * The descriptor is a memfd holding the text at open time (Linux makes it
 * at each read(2): reading one descriptor again after lseek(0) shows the
 * same snapshot here, except that a write through an O_RDWR descriptor
 * refreshes it), reopened through /proc/self/fd with the caller's access
 * mode so that write(2) on a read-only one is EBADF as on Linux, and put at
 * the number open(2) would have picked.  The daemon checks the open as
 * open(2) would (proc_read's acc: EACCES for a sysctl the caller may not set,
 * or a /proc/sysvipc file opened for writing without CAP_DAC_OVERRIDE).
 *
 * Writes: descriptors opened for writing are kept in proc_fds[] (their
 * dups too: dup, dup2, dup3, fcntl F_DUPFD); write(2) on one sets the sysctl
 * as proc_dointvec does: only a write at file position 0 counts
 * (sysctl_writes_strict), it returns what the kernel would have consumed,
 * and a failing one returns -1 with the daemon's errno (EINVAL for garbage).
 * Every other descriptor costs write(2) and close(2) one array lookup.
 * A write-only descriptor starts empty, so that bytes which reached it
 * behind write(2)'s back (stdio's internal writes: bash's echo builtin with
 * a redirection) are seen and applied when the descriptor is next written,
 * closed or replaced through the shim.  A program exec'd with such a
 * descriptor as its fd 0-2 adopts it at start.
 *
 * The daemon unreachable (or one without proc_read): the real file is
 * opened, the machine's /proc, after conn.c's one line on stderr.
 */
#undef _FORTIFY_SOURCE /* we define open & co., which fortify makes inline functions */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"

/* glibc's fortified entry points (declared by bits/fcntl2.h only under fortify) */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* glibc's __OPEN_NEEDS_MODE: the third argument exists only then */
#define OPEN_NEEDS_MODE(flags) (((flags) & O_CREAT) || ((flags) & __O_TMPFILE) == __O_TMPFILE)
/* proc_open's answer when the path (or the daemon's absence) is not ours */
#define NOT_OURS (-2)
/* the most rows proc_read pages to (IPCMNI objects), against a looping daemon */
#define MAX_PAGES (32768 + 2)
/* what one write(2) to a sysctl may carry to the daemon */
#define MAX_SYSCTL_WRITE (1 << 20)

enum proc_kind { PROC_SYSVIPC = 1, PROC_SYSCTL = 2 };

struct proc_file {
    const char *path;
    const char *name;       /* the sysctl's name (the memfd is named after it) */
    unsigned char kind;
    unsigned char values;   /* numbers one write sets (kernel.sem: four) */
};

static const struct proc_file proc_files[] = {
    {"/proc/sysvipc/msg", "sysvipc.msg", PROC_SYSVIPC, 0},
    {"/proc/sysvipc/sem", "sysvipc.sem", PROC_SYSVIPC, 0},
    {"/proc/sysvipc/shm", "sysvipc.shm", PROC_SYSVIPC, 0},
    {"/proc/sys/kernel/msgmax", "kernel.msgmax", PROC_SYSCTL, 1},
    {"/proc/sys/kernel/msgmnb", "kernel.msgmnb", PROC_SYSCTL, 1},
    {"/proc/sys/kernel/msgmni", "kernel.msgmni", PROC_SYSCTL, 1},
    {"/proc/sys/kernel/msg_next_id", "kernel.msg_next_id", PROC_SYSCTL, 1},
    {"/proc/sys/kernel/sem", "kernel.sem", PROC_SYSCTL, 4},
    {"/proc/sys/kernel/sem_next_id", "kernel.sem_next_id", PROC_SYSCTL, 1},
    {"/proc/sys/kernel/shmmax", "kernel.shmmax", PROC_SYSCTL, 1},
    {"/proc/sys/kernel/shmall", "kernel.shmall", PROC_SYSCTL, 1},
    {"/proc/sys/kernel/shmmni", "kernel.shmmni", PROC_SYSCTL, 1},
    {"/proc/sys/kernel/shm_rmid_forced", "kernel.shm_rmid_forced", PROC_SYSCTL, 1},
    {"/proc/sys/kernel/shm_next_id", "kernel.shm_next_id", PROC_SYSCTL, 1},
    {"/proc/sys/fs/mqueue/msg_max", "fs.mqueue.msg_max", PROC_SYSCTL, 1},
    {"/proc/sys/fs/mqueue/msgsize_max", "fs.mqueue.msgsize_max", PROC_SYSCTL, 1},
    {"/proc/sys/fs/mqueue/msg_default", "fs.mqueue.msg_default", PROC_SYSCTL, 1},
    {"/proc/sys/fs/mqueue/msgsize_default", "fs.mqueue.msgsize_default", PROC_SYSCTL, 1},
    {"/proc/sys/fs/mqueue/queues_max", "fs.mqueue.queues_max", PROC_SYSCTL, 1},
};
#define NFILES (sizeof proc_files / sizeof proc_files[0])

/* --- the real functions (resolved on first use: a library's constructor
 * may open a file before ours runs) --- */
static void *real_sym(void **slot, const char *name)
{
    void *p = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (!p) {
        p = uipc_next(name);
        __atomic_store_n(slot, p, __ATOMIC_RELAXED);
    }
    return p;
}
#define REAL(fn) ((__typeof__(&fn))real_sym(&real_##fn, #fn))
static void *real_open, *real_open64, *real_openat, *real_openat64, *real___open_2,
    *real___open64_2, *real___openat_2, *real___openat64_2, *real_fopen, *real_fopen64,
    *real_write, *real_close, *real_dup, *real_dup2, *real_dup3, *real_fcntl, *real_fcntl64;

/* --- descriptors opened for writing: 0, or 1 + their proc_files index --- */
#define PROC_FD_MAX 65536
static unsigned char proc_fds[PROC_FD_MAX];

static inline unsigned char fd_entry(int fd)
{
    return (unsigned)fd < PROC_FD_MAX ? __atomic_load_n(&proc_fds[fd], __ATOMIC_RELAXED) : 0;
}

static inline void set_entry(int fd, unsigned char e)
{
    if ((unsigned)fd < PROC_FD_MAX)
        __atomic_store_n(&proc_fds[fd], e, __ATOMIC_RELAXED);
}

/* a descriptor another way of closing left behind (fclose, close_range) and
 * open(2) handed out again is not ours */
static inline void forget_stale(int fd)
{
    if (fd_entry(fd))
        set_entry(fd, 0);
}

/* this thread is inside a /proc write: conn.c's own write(2) to stderr must
 * not come back here */
static __thread int in_proc_write;

static const struct proc_file *proc_lookup(const char *path)
{
    /* open's path is declared nonnull: keep the compiler from dropping the test */
    __asm__("" : "+r"(path));
    if (!path || strncmp(path, "/proc/sys", 9) != 0)
        return NULL;
    for (size_t i = 0; i < NFILES; i++)
        if (!strcmp(path, proc_files[i].path))
            return &proc_files[i];
    return NULL;
}

/* --- text from the daemon --- */
struct text {
    char *p;
    size_t len, cap;
};

static int text_add(struct text *t, const void *data, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            errno = ENOMEM;
            return -1;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, data, n);
    t->len += n;
    t->p[t->len] = 0;
    return 0;
}

static void close_reply_fds(struct uipc_reply *r)
{
    for (int i = 0; i < r->nfds; i++)
        REAL(close)(r->fds[i]);
    r->nfds = 0;
}

/* Where the page after [start, len) of a /proc/sysvipc text starts: the id
 * index after its last row's (key, then id, lead every row).  0 when the
 * page has no row: the end. */
static int64_t next_pos(const struct text *t, size_t start, int header)
{
    const char *page = t->p + start, *end = t->p + t->len;
    if (header) {
        const char *nl = memchr(page, '\n', (size_t)(end - page));
        page = nl ? nl + 1 : end;
    }
    if (end - page < 2)
        return 0;
    const char *row = end - 1; /* the last row's newline */
    while (row > page && row[-1] != '\n')
        row--;
    char *after;
    (void)strtol(row, &after, 10);
    long id = strtol(after, NULL, 10);
    return (id & 0x7FFF) + 1;
}

/* The file's text as proc_read gives it, every page.  Returns 0 (*t
 * filled), -1 with errno (the daemon's answer), or 1: no daemon to ask. */
static int proc_fetch(const struct proc_file *pf, int acc, struct text *t)
{
    int64_t pos = 0;
    for (int page = 0; page < MAX_PAGES; page++) {
        struct uipc_proc_read_args a = {pos, (uint8_t)acc};
        struct uipc_reply r;
        if (uipc_call(UIPC_OP_PROC_READ, &a, sizeof a, pf->path, strlen(pf->path),
                      UIPC_WAIT_RESTART, &r) < 0)
            return page == 0 ? 1 : -1;
        close_reply_fds(&r);
        if (r.status) {
            if (r.status == ENOSYS && page == 0)
                return 1; /* a daemon from before proc_read */
            errno = r.status;
            return -1;
        }
        size_t start = t->len;
        if (text_add(t, r.data, r.len) < 0)
            return -1;
        if (pf->kind == PROC_SYSCTL)
            return 0;
        int64_t next = next_pos(t, start, page == 0);
        if (next == 0)
            return 0;
        if (next <= pos) { /* a page that does not move on: never loop */
            errno = EIO;
            return -1;
        }
        pos = next;
    }
    errno = EIO;
    return -1;
}

static int pwrite_all(int fd, const char *p, size_t n, off_t off)
{
    while (n) {
        ssize_t k = pwrite(fd, p, n, off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
        off += k;
    }
    return 0;
}

/* A descriptor of a new memfd holding t (nothing, for a write-only open)
 * with the caller's access mode, at the lowest free number. */
static int proc_make_fd(const struct proc_file *pf, int flags, const struct text *t)
{
    char name[64];
    snprintf(name, sizeof name, "uipc:%s", pf->name);
    int mfd = memfd_create(name, MFD_CLOEXEC);
    if (mfd < 0)
        return -1;
    int acc = flags & O_ACCMODE;
    if (acc != O_WRONLY && pwrite_all(mfd, t->p, t->len, 0) < 0)
        goto fail;
    char self[48];
    snprintf(self, sizeof self, "/proc/self/fd/%d", mfd);
    int fd = REAL(openat)(AT_FDCWD, self, (flags & (O_ACCMODE | O_APPEND | O_NONBLOCK)) |
                                              O_CLOEXEC);
    if (fd >= 0) {
        /* onto the memfd's number: the one open(2) would have given */
        int r = REAL(dup3)(fd, mfd, flags & O_CLOEXEC);
        int e = errno;
        REAL(close)(fd);
        errno = e;
        if (r < 0)
            goto fail;
    } else if (!(flags & O_CLOEXEC) && REAL(fcntl)(mfd, F_SETFD, 0) < 0) {
        goto fail; /* no /proc/self: the memfd itself, read-write */
    }
    if (acc != O_RDONLY) {
        if (mfd >= PROC_FD_MAX) {
            errno = EMFILE; /* a descriptor proc_fds[] cannot follow */
            goto fail;
        }
        set_entry(mfd, (unsigned char)(pf - proc_files + 1));
    } else {
        forget_stale(mfd);
    }
    return mfd;
fail:;
    int e = errno;
    REAL(close)(mfd);
    errno = e;
    return -1;
}

/* open(2) of path: a descriptor, -1 with errno, or NOT_OURS (the real
 * function is to be called with the same arguments). */
static int proc_open(const char *path, int flags)
{
    const struct proc_file *pf = proc_lookup(path);
    if (!pf)
        return NOT_OURS;
    int acc = flags & O_ACCMODE;
    /* what the real file answers alike: ENOTDIR, EEXIST, an O_PATH handle */
    if (acc == O_ACCMODE || (flags & (O_PATH | O_DIRECTORY)) ||
        (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
        return NOT_OURS;
    struct text t = {0};
    int rc = proc_fetch(pf, acc, &t);
    int fd = rc == 0 ? proc_make_fd(pf, flags, &t) : -1;
    int e = errno;
    free(t.p);
    errno = e;
    return rc > 0 ? NOT_OURS : fd;
}

/* --- writes: proc_dointvec's rules --- */
/* The bytes a successful write consumed: the numbers it set and the blanks
 * around them (__do_proc_dointvec's *lenp -= left); what follows them is
 * left to the next write, which starts past position 0 and is ignored. */
static size_t sysctl_consumed(const char *p, size_t n, int values)
{
    size_t i = 0;
    for (int v = 0; v < values; v++) {
        while (i < n && isspace((unsigned char)p[i]))
            i++;
        if (i == n)
            return n;
        while (i < n && !isspace((unsigned char)p[i]))
            i++;
    }
    while (i < n && isspace((unsigned char)p[i]))
        i++;
    return i;
}

/* Set the sysctl to what buf says (the daemon decides: its permission rules,
 * its ranges).  Returns the bytes consumed with *value the new text, or -1. */
static ssize_t sysctl_write(const struct proc_file *pf, const char *buf, size_t n,
                            struct text *value)
{
    if (n > MAX_SYSCTL_WRITE) {
        errno = EINVAL;
        return -1;
    }
    size_t nl = strlen(pf->name);
    char *req = malloc(nl + 1 + n);
    if (!req) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(req, pf->name, nl);
    req[nl] = '=';
    memcpy(req + nl + 1, buf, n);
    struct uipc_sysctl_args a = {1};
    struct uipc_reply r;
    int rc = uipc_sys(UIPC_OP_SYSCTL, &a, sizeof a, req, nl + 1 + n, UIPC_WAIT_RESTART, &r);
    free(req);
    if (rc < 0)
        return -1;
    close_reply_fds(&r);
    if (value && (text_add(value, r.data, r.len) < 0 || text_add(value, "\n", 1) < 0))
        return -1;
    return (ssize_t)sysctl_consumed(buf, n, pf->values);
}

/* The file whose memfd (proc_make_fd's) fd is: readlink shows its name.
 * NULL if it is another file; *unknown set when there is no /proc/self to
 * ask. */
static const struct proc_file *memfd_file(int fd, int *unknown)
{
    static const char prefix[] = "/memfd:uipc:", suffix[] = " (deleted)";
    char self[48], link[128];
    *unknown = 0;
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(self, link, sizeof link - 1);
    if (n < 0) {
        *unknown = errno != EBADF;
        return NULL;
    }
    link[n] = 0;
    size_t len = (size_t)n, pl = sizeof prefix - 1, sl = sizeof suffix - 1;
    if (len <= pl + sl || memcmp(link, prefix, pl) || strcmp(link + len - sl, suffix))
        return NULL;
    link[len - sl] = 0;
    for (size_t i = 0; i < NFILES; i++)
        if (!strcmp(link + pl, proc_files[i].name))
            return &proc_files[i];
    return NULL;
}

/* Is fd still the memfd proc_make_fd made for pf?  (Without /proc/self to
 * ask, it is taken to be.) */
static int still_ours(int fd, const struct proc_file *pf)
{
    int unknown;
    return memfd_file(fd, &unknown) == pf || unknown;
}

/* Bytes a write-only descriptor got behind write(2)'s back (stdio writes
 * with the internal __write, an exec'd program): the kernel would have
 * applied them when written, so they are applied now; position 0's first,
 * as the kernel applies only a write there.  Failures can only be told on
 * stderr. */
static void commit_stray(int fd, const struct proc_file *pf)
{
    struct stat st;
    if (pf->kind != PROC_SYSCTL || fstat(fd, &st) < 0 || st.st_size <= 0)
        return;
    int fl = REAL(fcntl)(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != O_WRONLY)
        return;
    char self[48], buf[4096];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    int rfd = REAL(openat)(AT_FDCWD, self, O_RDONLY | O_CLOEXEC);
    if (rfd < 0)
        return;
    ssize_t n = pread(rfd, buf, sizeof buf, 0);
    REAL(close)(rfd);
    if (ftruncate(fd, 0) < 0 || n <= 0 || buf[0] == 0) /* a hole: written past 0 */
        return;
    int saved = errno;
    if (sysctl_write(pf, buf, (size_t)n, NULL) < 0) {
        static int said;
        uipc_warn_once(&said, "what a program wrote into %s without write(2) (stdio) was "
                       "applied late and failed: %s", pf->path, strerror(errno));
    }
    errno = saved;
}

static ssize_t proc_write(int fd, unsigned char e, const void *buf, size_t n)
{
    const struct proc_file *pf = &proc_files[e - 1];
    if (in_proc_write || !still_ours(fd, pf)) {
        if (!in_proc_write)
            set_entry(fd, 0);
        return REAL(write)(fd, buf, n);
    }
    if (pf->kind == PROC_SYSVIPC) {
        errno = EIO; /* a seq_file has no ->write */
        return -1;
    }
    in_proc_write = 1;
    ssize_t ret;
    commit_stray(fd, pf);
    off_t pos = lseek(fd, 0, SEEK_CUR);
    if (n == 0) {
        ret = 0;
    } else if (pos != 0) {
        /* sysctl_writes_strict: a write past position 0 changes nothing and
         * moves the position on */
        ret = lseek(fd, (off_t)n, SEEK_CUR) < 0 ? -1 : (ssize_t)n;
    } else {
        struct text value = {0};
        ret = sysctl_write(pf, buf, n, &value);
        if (ret >= 0) {
            int saved = errno;
            lseek(fd, ret, SEEK_CUR);
            /* an O_RDWR descriptor reads what a read(2) would show now */
            int fl = REAL(fcntl)(fd, F_GETFL);
            if (fl >= 0 && (fl & O_ACCMODE) == O_RDWR && ftruncate(fd, 0) == 0)
                (void)pwrite_all(fd, value.p, value.len, 0);
            errno = saved;
        }
        free(value.p);
    }
    in_proc_write = 0;
    return ret;
}

/* fd stops being ours (closed, or replaced by a dup2) */
static void proc_release(int fd, unsigned char e)
{
    const struct proc_file *pf = &proc_files[e - 1];
    if (!in_proc_write && still_ours(fd, pf)) {
        in_proc_write = 1;
        commit_stray(fd, pf);
        in_proc_write = 0;
    }
}

/* --- the interposed functions --- */
#define OPEN_BODY(real_call)                                                     \
    do {                                                                         \
        int fd_ = proc_open(path, flags);                                        \
        if (fd_ != NOT_OURS)                                                     \
            return fd_;                                                          \
        fd_ = real_call;                                                         \
        if (fd_ >= 0)                                                            \
            forget_stale(fd_);                                                   \
        return fd_;                                                              \
    } while (0)

static mode_t open_mode(int flags, va_list ap)
{
    return OPEN_NEEDS_MODE(flags) ? va_arg(ap, mode_t) : 0;
}

UIPC_EXPORT int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    OPEN_BODY(REAL(open)(path, flags, mode));
}

UIPC_EXPORT int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    OPEN_BODY(REAL(open64)(path, flags, mode));
}

UIPC_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    OPEN_BODY(REAL(openat)(dirfd, path, flags, mode));
}

UIPC_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    OPEN_BODY(REAL(openat64)(dirfd, path, flags, mode));
}

/* _FORTIFY_SOURCE's: glibc aborts when the mode is missing; so does the
 * real one these flags go to */
UIPC_EXPORT int __open_2(const char *path, int flags)
{
    if (OPEN_NEEDS_MODE(flags))
        return REAL(__open_2)(path, flags);
    OPEN_BODY(REAL(__open_2)(path, flags));
}

UIPC_EXPORT int __open64_2(const char *path, int flags)
{
    if (OPEN_NEEDS_MODE(flags))
        return REAL(__open64_2)(path, flags);
    OPEN_BODY(REAL(__open64_2)(path, flags));
}

UIPC_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    if (OPEN_NEEDS_MODE(flags))
        return REAL(__openat_2)(dirfd, path, flags);
    OPEN_BODY(REAL(__openat_2)(dirfd, path, flags));
}

UIPC_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    if (OPEN_NEEDS_MODE(flags))
        return REAL(__openat64_2)(dirfd, path, flags);
    OPEN_BODY(REAL(__openat64_2)(dirfd, path, flags));
}

/* fopen's mode as _IO_new_file_fopen reads it; -1 for one it refuses */
static int fopen_flags(const char *mode)
{
    int flags;
    switch (mode[0]) {
    case 'r': flags = O_RDONLY; break;
    case 'w': flags = O_WRONLY | O_CREAT | O_TRUNC; break;
    case 'a': flags = O_WRONLY | O_CREAT | O_APPEND; break;
    default: return -1;
    }
    for (int i = 1; i < 7 && mode[i] && mode[i] != ','; i++) {
        if (mode[i] == '+')
            flags = (flags & ~O_ACCMODE) | O_RDWR;
        else if (mode[i] == 'x')
            flags |= O_EXCL;
        else if (mode[i] == 'e')
            flags |= O_CLOEXEC;
    }
    return flags;
}

/* a FILE whose writes are proc_write's (stdio's own writes bypass write(2)) */
static ssize_t cookie_read(void *c, char *buf, size_t n)
{
    return read(*(int *)c, buf, n);
}

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
    int fd = *(int *)c;
    unsigned char e = fd_entry(fd);
    return e ? proc_write(fd, e, buf, n) : REAL(write)(fd, buf, n);
}

static int cookie_seek(void *c, off64_t *off, int whence)
{
    off64_t r = lseek64(*(int *)c, *off, whence);
    if (r < 0)
        return -1;
    *off = r;
    return 0;
}

static int cookie_close(void *c)
{
    int fd = *(int *)c;
    free(c);
    return close(fd);
}

static FILE *proc_fopen(const char *path, const char *mode, int *ours)
{
    *ours = 0;
    __asm__("" : "+r"(mode));
    if (!mode || !proc_lookup(path))
        return NULL;
    int flags = fopen_flags(mode);
    if (flags < 0)
        return NULL;
    int fd = proc_open(path, flags);
    if (fd == NOT_OURS)
        return NULL;
    *ours = 1;
    if (fd < 0)
        return NULL;
    FILE *f;
    if ((flags & O_ACCMODE) == O_RDONLY) {
        f = fdopen(fd, "r");
    } else {
        int *c = malloc(sizeof *c);
        f = NULL;
        if (c) {
            *c = fd;
            cookie_io_functions_t io = {cookie_read, cookie_write, cookie_seek, cookie_close};
            f = fopencookie(c, (flags & O_ACCMODE) == O_RDWR ? "r+" : "w", io);
            if (!f)
                free(c);
        }
    }
    if (!f) {
        int e = errno ? errno : ENOMEM;
        set_entry(fd, 0);
        REAL(close)(fd);
        errno = e;
    }
    return f;
}

UIPC_EXPORT FILE *fopen(const char *path, const char *mode)
{
    int ours;
    FILE *f = proc_fopen(path, mode, &ours);
    return ours ? f : REAL(fopen)(path, mode);
}

UIPC_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    int ours;
    FILE *f = proc_fopen(path, mode, &ours);
    return ours ? f : REAL(fopen64)(path, mode);
}

UIPC_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    unsigned char e = fd_entry(fd);
    if (__builtin_expect(e != 0, 0))
        return proc_write(fd, e, buf, n);
    return REAL(write)(fd, buf, n);
}

UIPC_EXPORT int close(int fd)
{
    unsigned char e = fd_entry(fd);
    if (__builtin_expect(e != 0, 0)) {
        proc_release(fd, e);
        set_entry(fd, 0);
    }
    return REAL(close)(fd);
}

/* a dup of fd is ours if fd is; newfd replaced by it stops being ours */
static void dup_track(int oldfd, int newfd)
{
    unsigned char e = fd_entry(oldfd);
    if (e || fd_entry(newfd))
        set_entry(newfd, e);
}

UIPC_EXPORT int dup(int fd)
{
    int r = REAL(dup)(fd);
    if (r >= 0)
        dup_track(fd, r);
    return r;
}

UIPC_EXPORT int dup2(int oldfd, int newfd)
{
    unsigned char e = fd_entry(newfd);
    if (__builtin_expect(e != 0, 0) && oldfd != newfd)
        proc_release(newfd, e);
    int r = REAL(dup2)(oldfd, newfd);
    if (r >= 0 && oldfd != newfd)
        dup_track(oldfd, newfd);
    return r;
}

UIPC_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    unsigned char e = fd_entry(newfd);
    if (__builtin_expect(e != 0, 0) && oldfd != newfd)
        proc_release(newfd, e);
    int r = REAL(dup3)(oldfd, newfd, flags);
    if (r >= 0)
        dup_track(oldfd, newfd);
    return r;
}

/* fcntl's third argument, whatever its type, as glibc passes it on */
static int fcntl_track(int fd, int cmd, int r)
{
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        dup_track(fd, r);
    return r;
}

UIPC_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_track(fd, cmd, REAL(fcntl)(fd, cmd, arg));
}

UIPC_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    __typeof__(&fcntl64) next = REAL(fcntl64);
    if (!next) /* a glibc before 2.28 */
        next = REAL(fcntl);
    return fcntl_track(fd, cmd, next(fd, cmd, arg));
}

/* A program exec'd with one of our write-only descriptors as stdin, stdout
 * or stderr (a shell's redirection of an external command) keeps it ours. */
__attribute__((constructor)) static void procfs_init(void)
{
    int saved = errno;
    /* resolved now, not first in a signal handler's write(2) (dlsym is not
     * async-signal-safe) */
    (void)REAL(write);
    (void)REAL(close);
    (void)REAL(dup2);
    (void)REAL(fcntl);
    for (int fd = 0; fd <= 2; fd++) {
        /* one cheap test first: only shmem files (memfds) have seals */
        if (REAL(fcntl)(fd, F_GET_SEALS) < 0)
            continue;
        int fl = REAL(fcntl)(fd, F_GETFL), unknown;
        if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
            continue;
        const struct proc_file *pf = memfd_file(fd, &unknown);
        if (pf && pf->kind == PROC_SYSCTL)
            set_entry(fd, (unsigned char)(pf - proc_files + 1));
    }
    errno = saved;
}
