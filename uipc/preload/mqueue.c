/* libuipc-preload: POSIX message queues, mq_open(3) and friends (ipc/mqueue.c
 * behind glibc's wrappers).
 *
 * The C twin of uipc/client/mqueue.py.  A queue's mqd_t is the real
 * descriptor the daemon sends with mq_open's reply (a doorbell pipe whose
 * readiness the daemon keeps equal to mqueue_poll_file's mask, so select,
 * poll and epoll work on it natively); every call names the queue by that
 * descriptor's st_ino (fstat), which the daemon looks up in this process's
 * own table, so a descriptor that is not a uipc queue gets EBADF from it --
 * after the argument checks the kernel makes first, as it orders them.
 *
 * glibc's part is done here as glibc does it: the leading '/' of a name
 * (EINVAL without it), mq_unlink's EPERM reported as EACCES, mq_send as
 * mq_timedsend without a timeout, mode and attr read only with O_CREAT, and
 * SIGEV_THREAD: a helper thread (glibc's netlink reader), started on the
 * first registration, waits in the daemon's mq_notify_wait and runs each
 * fired registration's function in a new detached thread made with a copy
 * of its sigev_notify_attributes.  The kernel's parts that glibc leaves to
 * it and that a process sees (the umask on a new queue's mode, getname's
 * ENAMETOOLONG) are done here too, since the daemon cannot see them.
 *
 * uipc_mq_syscall is syscall(2)'s entry for the raw numbers: the kernel's
 * semantics, without glibc's wrapper (the name as given, EPERM kept).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"
#include "sysv.h"

/* include/uapi/linux/mqueue.h and ipc/mqueue.c */
#define MQ_PRIO_MAX_ 32768
#define HARD_MSGSIZEMAX (16 * 1024 * 1024)
#define NSEC_PER_SEC 1000000000L

/* --- shared with posix_sem.c and posix_shm.c --- */
UIPC_HIDDEN mode_t uipc_umask(void);

/* current_umask(), without changing it: /proc/self/status says it, which
 * no other thread can disturb (umask() twice could race a thread's creat). */
mode_t uipc_umask(void)
{
    typedef int (*open_fn)(const char *, int, ...);
    static open_fn real_open;
    open_fn op = __atomic_load_n(&real_open, __ATOMIC_ACQUIRE);
    if (!op) {
        op = UIPC_REAL(open_fn, open); /* libc's: not through another interposer */
        __atomic_store_n(&real_open, op, __ATOMIC_RELEASE);
    }
    int saved = errno;
    int fd = op ? op("/proc/self/status", O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = 0;
            const char *line = strstr(buf, "\nUmask:");
            if (line) {
                errno = saved;
                return (mode_t)strtoul(line + 7, NULL, 8) & 0777;
            }
        }
    }
    mode_t old = umask(022); /* kernels before 4.7 have no Umask line */
    umask(old);
    errno = saved;
    return old;
}

/* --- descriptors ------------------------------------------------------------- */

/* The inode naming the queue of `fd` (the daemon's `mqdes`); 0 names none:
 * a closed descriptor, or one that is not a doorbell pipe at all (an inode
 * of another file system could equal a doorbell's). */
static uint64_t queue_inode(mqd_t fd)
{
    struct stat st;
    int saved = errno;
    uint64_t ino = 0;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
        ino = st.st_ino;
    errno = saved;
    return ino;
}

static int same_file(int fd, const struct stat *st)
{
    struct stat other;
    return fstat(fd, &other) == 0 && other.st_ino == st->st_ino && other.st_dev == st->st_dev;
}

/* Does a descriptor of this process other than `fd` name the same open
 * file (a dup, dup2, F_DUPFD)?  Then the file stays open after this close
 * (files.py's held_elsewhere, by fstat rather than readlink). */
static int held_elsewhere(int fd, const struct stat *st)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        /* no /proc: every possible descriptor */
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536)
            max = 65536;
        for (int i = 0; i < max; i++)
            if (i != fd && same_file(i, st))
                return 1;
        return 0;
    }
    int self = dirfd(d), found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        char *end;
        long n = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || n == fd || n == self)
            continue;
        found = same_file((int)n, st);
    }
    closedir(d);
    return found;
}

/* --- read(2) and lseek(2) of a queue descriptor --------------------------------- */

/* Linux's queue descriptor reads as mqueue_read_file's QSIZE/NOTIFY line
 * at the file's position (lseek moves it: default_llseek, i_size
 * FILENT_SIZE); the doorbell pipe behind an mqd_t must not be read (it
 * would spoil its readiness).  The descriptors mq_open returned are kept
 * here, with their access mode and position; read and lseek test one bit
 * for any other descriptor, the only cost a program that never uses a
 * queue pays.  A dup of a queue descriptor is not in the table: it reads
 * its doorbell (docs/deviations.md), and the position is this process's,
 * not shared with a fork child as an open file's is. */
#define TRACKED_FDS 65536
#define FILENT_SIZE 80

struct queue_fd {
    int fd;
    int accmode;
    uint64_t ino;
    int64_t pos;
};

static unsigned char queue_fd_bits[TRACKED_FDS / 8];
static struct queue_fd *queue_fds;
static size_t n_queue_fds, cap_queue_fds;
static pthread_mutex_t queue_fds_lock = PTHREAD_MUTEX_INITIALIZER;

static int maybe_queue_fd(int fd)
{
    return fd >= 0 && fd < TRACKED_FDS &&
           (__atomic_load_n(&queue_fd_bits[fd / 8], __ATOMIC_RELAXED) & (1u << (fd % 8)));
}

static struct queue_fd *find_queue_fd(int fd) /* queue_fds_lock held */
{
    for (size_t i = 0; i < n_queue_fds; i++)
        if (queue_fds[i].fd == fd)
            return &queue_fds[i];
    return NULL;
}

static void forget_queue_fd(int fd)
{
    if (!maybe_queue_fd(fd))
        return;
    pthread_mutex_lock(&queue_fds_lock);
    struct queue_fd *q = find_queue_fd(fd);
    if (q)
        *q = queue_fds[--n_queue_fds];
    __atomic_and_fetch(&queue_fd_bits[fd / 8], (unsigned char)~(1u << (fd % 8)), __ATOMIC_RELAXED);
    pthread_mutex_unlock(&queue_fds_lock);
}

static void remember_queue_fd(int fd, int oflag)
{
    struct stat st;
    if (fd >= TRACKED_FDS || fstat(fd, &st) < 0)
        return;
    pthread_mutex_lock(&queue_fds_lock);
    struct queue_fd *q = find_queue_fd(fd);
    if (!q && n_queue_fds == cap_queue_fds) {
        size_t cap = cap_queue_fds ? 2 * cap_queue_fds : 16;
        struct queue_fd *grown = realloc(queue_fds, cap * sizeof *grown);
        if (grown) {
            queue_fds = grown;
            cap_queue_fds = cap;
        }
    }
    if (!q && n_queue_fds < cap_queue_fds)
        q = &queue_fds[n_queue_fds++];
    if (q) {
        *q = (struct queue_fd){fd, oflag & O_ACCMODE, st.st_ino, 0};
        __atomic_or_fetch(&queue_fd_bits[fd / 8], (unsigned char)(1u << (fd % 8)), __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&queue_fds_lock);
}

/* The entry of `fd` if it still is the queue descriptor mq_open gave (a
 * copy in *out); else it is forgotten (closed behind our back, the number
 * reused) and 0 is returned. */
static int queue_fd_entry(int fd, struct queue_fd *out)
{
    struct stat st;
    int saved = errno;
    int same = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
    errno = saved;
    pthread_mutex_lock(&queue_fds_lock);
    struct queue_fd *q = find_queue_fd(fd);
    int ok = q && same && q->ino == st.st_ino;
    if (ok)
        *out = *q;
    pthread_mutex_unlock(&queue_fds_lock);
    if (!ok)
        forget_queue_fd(fd);
    return ok;
}

static void set_queue_pos(int fd, uint64_t ino, int64_t pos)
{
    pthread_mutex_lock(&queue_fds_lock);
    struct queue_fd *q = find_queue_fd(fd);
    if (q && q->ino == ino)
        q->pos = pos;
    pthread_mutex_unlock(&queue_fds_lock);
}

/* vfs_read (EBADF without FMODE_READ) + mqueue_read_file's
 * simple_read_from_buffer at the position. */
static ssize_t queue_read(const struct queue_fd *q, void *buf, size_t count)
{
    if (q->accmode == O_WRONLY) {
        errno = EBADF;
        return -1;
    }
    struct uipc_mq_fileinfo_args a = {q->ino};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_MQ_FILEINFO, &a, sizeof a, NULL, 0, UIPC_WAIT_RESTART, &r) < 0)
        return -1;
    if (q->pos < 0) {
        errno = EINVAL;
        return -1;
    }
    if ((uint64_t)q->pos >= r.len || !count)
        return 0;
    size_t n = r.len - (size_t)q->pos;
    if (n > count)
        n = count;
    memcpy(buf, r.data + q->pos, n);
    set_queue_pos(q->fd, q->ino, q->pos + (int64_t)n);
    return (ssize_t)n;
}

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef off_t (*lseek_fn)(int, off_t, int);

static read_fn real_read(void)
{
    static read_fn real;
    read_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!fn) {
        fn = UIPC_REAL(read_fn, read);
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

static lseek_fn real_lseek(void)
{
    static lseek_fn real;
    lseek_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!fn) {
        fn = UIPC_REAL(lseek_fn, lseek);
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

UIPC_EXPORT ssize_t read(int fd, void *buf, size_t count)
{
    struct queue_fd q;
    if (maybe_queue_fd(fd) && queue_fd_entry(fd, &q))
        return queue_read(&q, buf, count);
    return real_read()(fd, buf, count);
}

/* _FORTIFY_SOURCE's read, where the buffer's size is known */
UIPC_EXPORT ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen)
{
    if (nbytes > buflen) {
        extern void __chk_fail(void) __attribute__((noreturn));
        __chk_fail();
    }
    return read(fd, buf, nbytes);
}

/* default_llseek on the queue's file: i_size is FILENT_SIZE */
static off_t queue_lseek(const struct queue_fd *q, off_t offset, int whence)
{
    int64_t pos;
    switch (whence) {
    case SEEK_SET:
        pos = offset;
        break;
    case SEEK_CUR:
        if (offset == 0)
            return (off_t)q->pos; /* the position, unchanged */
        pos = q->pos + offset;
        break;
    case SEEK_END:
        pos = FILENT_SIZE + (int64_t)offset;
        break;
    case SEEK_DATA:
        if (offset >= FILENT_SIZE) {
            errno = ENXIO;
            return -1;
        }
        pos = offset;
        break;
    case SEEK_HOLE:
        if (offset >= FILENT_SIZE) {
            errno = ENXIO;
            return -1;
        }
        pos = FILENT_SIZE;
        break;
    default:
        errno = EINVAL;
        return -1;
    }
    if (pos < 0) {
        errno = EINVAL;
        return -1;
    }
    set_queue_pos(q->fd, q->ino, pos);
    return (off_t)pos;
}

UIPC_EXPORT off_t lseek(int fd, off_t offset, int whence)
{
    struct queue_fd q;
    if (maybe_queue_fd(fd) && queue_fd_entry(fd, &q))
        return queue_lseek(&q, offset, whence);
    return real_lseek()(fd, offset, whence);
}

UIPC_EXPORT off_t lseek64(int fd, off_t offset, int whence)
{
    return lseek(fd, offset, whence);
}

/* --- open, close, unlink ----------------------------------------------------- */

/* getname(): a name of PATH_MAX bytes or more is ENAMETOOLONG (the kernel
 * copies at most PATH_MAX - 1 and a NUL). */
static int name_length(const char *name, size_t *len)
{
    if (!name) { /* the raw syscall's strncpy_from_user */
        errno = EFAULT;
        return -1;
    }
    *len = strnlen(name, PATH_MAX);
    if (*len >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* sys_mq_open: `name` as the kernel gets it (glibc has stripped its '/'). */
static mqd_t open_raw(const char *name, int oflag, mode_t mode, const struct mq_attr *attr)
{
    size_t len;
    if (name_length(name, &len) < 0)
        return -1;
    /* the descriptor lives as long as the process, not as one thread's
     * connection: a process whose connections all close is taken as exec'd */
    if (uipc_hold() < 0)
        return -1;
    struct rlimit rl;
    uint64_t rlimit = UINT64_MAX;
    if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0)
        rlimit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    int has_attr = (oflag & O_CREAT) && attr != NULL;
    struct uipc_mq_open_args a = {
        .oflag = oflag,
        /* prepare_open: mode &= ~current_umask() */
        .mode = (uint32_t)(mode & ~uipc_umask()),
        .attr = (uint8_t)has_attr,
        .maxmsg = has_attr ? attr->mq_maxmsg : 0,
        .msgsize = has_attr ? attr->mq_msgsize : 0,
        .rlimit = rlimit,
    };
    /* close-on-exec already (MSG_CMSG_CLOEXEC), as do_mq_open's
     * get_unused_fd_flags(O_CLOEXEC) makes every queue descriptor */
    int fd = uipc_sys_fd(UIPC_OP_MQ_OPEN, &a, sizeof a, name, len, UIPC_WAIT_RESTART);
    if (fd < 0)
        return -1;
    remember_queue_fd(fd, oflag);
    return fd;
}

UIPC_EXPORT mqd_t mq_open(const char *name, int oflag, ...)
{
    mode_t mode = 0;
    struct mq_attr *attr = NULL;
    if (oflag & O_CREAT) { /* glibc reads mode and attr only then */
        va_list ap;
        va_start(ap, oflag);
        mode = va_arg(ap, mode_t);
        attr = va_arg(ap, struct mq_attr *);
        va_end(ap);
    }
    if (name[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    return open_raw(name + 1, oflag, mode, attr);
}

/* _FORTIFY_SOURCE's mq_open of two arguments */
UIPC_EXPORT mqd_t __mq_open_2(const char *name, int oflag)
{
    if (oflag & O_CREAT) {
        static const char msg[] = "*** invalid mq_open call: O_CREAT without mode and attr "
                                  "***: terminated\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        abort(); /* __fortify_fail */
    }
    return mq_open(name, oflag);
}

/* close(2) of a queue descriptor: the daemon hears first (mqueue_flush_file
 * drops this process's notification; the open file goes unless a dup keeps
 * it), then the descriptor closes.  glibc's mq_close is close(2) itself, so
 * a descriptor that is no queue is just closed, as Linux closes it. */
UIPC_EXPORT int mq_close(mqd_t mqd)
{
    struct stat st;
    if (fstat(mqd, &st) < 0) {
        forget_queue_fd(mqd);
        return -1; /* EBADF, as close(2) */
    }
    if (S_ISFIFO(st.st_mode)) {
        struct uipc_close_args a = {st.st_ino, (uint8_t)held_elsewhere(mqd, &st)};
        struct uipc_reply r;
        int saved = errno;
        /* EBADF: a pipe that is no uipc queue; any failure leaves close(2)
         * to do what it does */
        uipc_sys(UIPC_OP_CLOSE, &a, sizeof a, NULL, 0, UIPC_WAIT_RESTART, &r);
        errno = saved;
    }
    forget_queue_fd(mqd);
    return close(mqd);
}

static int unlink_raw(const char *name)
{
    size_t len;
    if (name_length(name, &len) < 0)
        return -1;
    struct uipc_reply r;
    return uipc_sys(UIPC_OP_MQ_UNLINK, NULL, 0, name, len, UIPC_WAIT_RESTART, &r);
}

UIPC_EXPORT int mq_unlink(const char *name)
{
    if (name[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    int ret = unlink_raw(name + 1);
    if (ret < 0 && errno == EPERM)
        errno = EACCES; /* glibc: unlink may say either, mq_unlink says EACCES */
    return ret;
}

/* --- send and receive ---------------------------------------------------------- */

/* timespec64_valid(), as prepare_timeout checks it */
static int bad_timespec(const struct timespec *t)
{
    return t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= NSEC_PER_SEC);
}

static int getsetattr(mqd_t mqd, const struct mq_attr *set, struct mq_attr *old);

/* A message no queue can take (mq_msgsize is at most HARD_MSGSIZEMAX) is
 * too large for a frame too: do_mq_timedsend's checks before EMSGSIZE are
 * made here and with a getattr (EBADF for a non-queue).  The one check the
 * daemon alone knows, the descriptor's write access, is not made: a
 * read-only descriptor gets EMSGSIZE here where Linux says EBADF. */
static int oversized_send(mqd_t mqd, unsigned prio, const struct timespec *t)
{
    if (bad_timespec(t) || prio >= MQ_PRIO_MAX_) {
        errno = EINVAL;
        return -1;
    }
    struct mq_attr attr;
    if (getsetattr(mqd, NULL, &attr) < 0)
        return -1;
    errno = EMSGSIZE;
    return -1;
}

static int timedsend(mqd_t mqd, const char *msg_ptr, size_t msg_len, unsigned msg_prio,
                     const struct timespec *t)
{
    if (msg_len > HARD_MSGSIZEMAX)
        return oversized_send(mqd, msg_prio, t);
    struct uipc_mq_timedsend_args a = {
        .mqdes = queue_inode(mqd),
        .prio = msg_prio,
        .timed = t != NULL,
        .tv_sec = t ? (int64_t)t->tv_sec : 0,
        .tv_nsec = t ? (int64_t)t->tv_nsec : 0,
    };
    struct uipc_reply r;
    /* signal(7): mq_send is restarted under SA_RESTART, else EINTR */
    return uipc_sys(UIPC_OP_MQ_TIMEDSEND, &a, sizeof a, msg_ptr, msg_len, UIPC_WAIT_RESTART, &r);
}

UIPC_EXPORT int mq_timedsend(mqd_t mqd, const char *msg_ptr, size_t msg_len, unsigned msg_prio,
                             const struct timespec *abs_timeout)
{
    return timedsend(mqd, msg_ptr, msg_len, msg_prio, abs_timeout);
}

UIPC_EXPORT int mq_send(mqd_t mqd, const char *msg_ptr, size_t msg_len, unsigned msg_prio)
{
    return timedsend(mqd, msg_ptr, msg_len, msg_prio, NULL);
}

static ssize_t timedreceive(mqd_t mqd, char *msg_ptr, size_t msg_len, unsigned *msg_prio,
                            const struct timespec *t)
{
    struct uipc_mq_timedreceive_args a = {
        .mqdes = queue_inode(mqd),
        .msgsize = msg_len,
        .timed = t != NULL,
        .tv_sec = t ? (int64_t)t->tv_sec : 0,
        .tv_nsec = t ? (int64_t)t->tv_nsec : 0,
    };
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_MQ_TIMEDRECEIVE, &a, sizeof a, NULL, 0, UIPC_WAIT_RESTART, &r) < 0)
        return -1;
    if (r.len < 8 || r.len - 8 > msg_len) {
        errno = EPROTO;
        return -1;
    }
    size_t n = r.len - 8;
    int64_t prio;
    memcpy(&prio, r.data, 8);
    if (!msg_ptr && n) {
        /* store_msg's copy_to_user fails: the message is gone, as in Linux */
        errno = EFAULT;
        return -1;
    }
    if (n)
        memcpy(msg_ptr, r.data + 8, n);
    if (msg_prio)
        *msg_prio = (unsigned)prio;
    return (ssize_t)n;
}

UIPC_EXPORT ssize_t mq_timedreceive(mqd_t mqd, char *msg_ptr, size_t msg_len, unsigned *msg_prio,
                                    const struct timespec *abs_timeout)
{
    return timedreceive(mqd, msg_ptr, msg_len, msg_prio, abs_timeout);
}

UIPC_EXPORT ssize_t mq_receive(mqd_t mqd, char *msg_ptr, size_t msg_len, unsigned *msg_prio)
{
    return timedreceive(mqd, msg_ptr, msg_len, msg_prio, NULL);
}

/* --- attributes ---------------------------------------------------------------- */

/* sys_mq_getsetattr: only O_NONBLOCK may change (EINVAL first, before the
 * descriptor is looked up); `old` gets the attributes from before. */
static int getsetattr(mqd_t mqd, const struct mq_attr *set, struct mq_attr *old)
{
    struct uipc_mq_getsetattr_args a = {queue_inode(mqd), set != NULL,
                                        set ? (int64_t)set->mq_flags : 0};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_MQ_GETSETATTR, &a, sizeof a, NULL, 0, UIPC_WAIT_RESTART, &r) < 0)
        return -1;
    struct uipc_ctl ctl;
    if (uipc_ctl_result(&r, &ctl) < 0)
        return -1;
    if (ctl.tag != UIPC_TAG_INTLIST || ctl.ret != 4 || ctl.len < 4 * sizeof(int64_t)) {
        errno = EPROTO;
        return -1;
    }
    if (old) {
        int64_t v[4];
        memcpy(v, ctl.fields, sizeof v);
        memset(old, 0, sizeof *old); /* the kernel zeroes __pad too */
        old->mq_flags = v[0];
        old->mq_maxmsg = v[1];
        old->mq_msgsize = v[2];
        old->mq_curmsgs = v[3];
    }
    return 0;
}

UIPC_EXPORT int mq_setattr(mqd_t mqd, const struct mq_attr *mqstat, struct mq_attr *omqstat)
{
    return getsetattr(mqd, mqstat, omqstat);
}

UIPC_EXPORT int mq_getattr(mqd_t mqd, struct mq_attr *mqstat)
{
    return getsetattr(mqd, NULL, mqstat);
}

/* --- mq_notify ------------------------------------------------------------------ */

/* A SIGEV_THREAD registration of this process (glibc's union notify_data,
 * kept here where glibc sends it through the kernel as the cookie). */
struct notify_reg {
    int64_t cookie;
    void (*fn)(union sigval);
    union sigval value;
    pthread_attr_t *attr; /* a copy of sigev_notify_attributes, or NULL */
    struct notify_reg *next;
};

static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static struct notify_reg *notify_regs;
static int64_t notify_cookies;
static pid_t helper_pid; /* the process whose helper thread runs (0: none) */

static void free_reg(struct notify_reg *reg)
{
    if (reg->attr) {
        pthread_attr_destroy(reg->attr);
        free(reg->attr);
    }
    free(reg);
}

static struct notify_reg *take_reg(int64_t cookie)
{
    pthread_mutex_lock(&notify_lock);
    struct notify_reg *found = NULL;
    for (struct notify_reg **p = &notify_regs; *p; p = &(*p)->next) {
        if ((*p)->cookie == cookie) {
            found = *p;
            *p = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&notify_lock);
    return found;
}

/* pthread_attr_t cannot be copied byte for byte (its cpuset is a pointer
 * the caller may free): glibc 2.32's __pthread_attr_copy, by accessors. */
static pthread_attr_t *copy_attr(const pthread_attr_t *src)
{
    pthread_attr_t *dst = malloc(sizeof *dst);
    if (!dst || pthread_attr_init(dst) != 0) {
        free(dst);
        errno = ENOMEM;
        return NULL;
    }
    int v;
    size_t size;
    struct sched_param sp;
    void *addr = NULL;
    if (pthread_attr_getdetachstate(src, &v) == 0)
        pthread_attr_setdetachstate(dst, v);
    if (pthread_attr_getinheritsched(src, &v) == 0)
        pthread_attr_setinheritsched(dst, v);
    if (pthread_attr_getschedpolicy(src, &v) == 0)
        pthread_attr_setschedpolicy(dst, v);
    if (pthread_attr_getschedparam(src, &sp) == 0)
        pthread_attr_setschedparam(dst, &sp);
    if (pthread_attr_getscope(src, &v) == 0)
        pthread_attr_setscope(dst, v);
    if (pthread_attr_getguardsize(src, &size) == 0)
        pthread_attr_setguardsize(dst, size);
    /* glibc's getstack gives the stack's low end, stackaddr - stacksize:
     * 0 - stacksize when no stack was set (only its size then) */
    if (pthread_attr_getstack(src, &addr, &size) == 0 && (uintptr_t)addr + size != 0)
        pthread_attr_setstack(dst, addr, size);
    else if (pthread_attr_getstacksize(src, &size) == 0)
        pthread_attr_setstacksize(dst, size);
    cpu_set_t cpus;
    if (pthread_attr_getaffinity_np(src, sizeof cpus, &cpus) == 0)
        pthread_attr_setaffinity_np(dst, sizeof cpus, &cpus);
    sigset_t mask;
    if (pthread_attr_getsigmask_np(src, &mask) == 0)
        pthread_attr_setsigmask_np(dst, &mask);
    return dst;
}

struct notify_call {
    void (*fn)(union sigval);
    union sigval value;
};

/* glibc's notification_function: detached, every signal unblocked (the
 * helper that made it blocks them all), then the user's function. */
static void *notify_thread(void *arg)
{
    struct notify_call call = *(struct notify_call *)arg;
    free(arg);
    pthread_detach(pthread_self());
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    call.fn(call.value);
    return NULL;
}

/* glibc's helper_thread: each fired registration (a positive cookie) runs
 * its function in a new thread; a removed one (negative: mq_notify(NULL),
 * the queue's descriptor closed) is forgotten, as NOTIFY_REMOVED frees it. */
static void *helper_thread(void *arg)
{
    (void)arg;
    pid_t me = getpid();
    for (;;) {
        struct uipc_reply r;
        if (uipc_sys(UIPC_OP_MQ_NOTIFY_WAIT, NULL, 0, NULL, 0, UIPC_WAIT_RESTART, &r) < 0) {
            if (errno == EINTR)
                continue;
            break; /* the daemon went away: no more notifications */
        }
        int64_t cookie = uipc_int_result(&r);
        struct notify_reg *reg = take_reg(cookie < 0 ? -cookie : cookie);
        if (!reg)
            continue;
        if (cookie > 0) {
            struct notify_call *call = malloc(sizeof *call);
            pthread_t th;
            if (call) {
                call->fn = reg->fn;
                call->value = reg->value;
                /* no way to report a failure to make it, as in glibc */
                if (pthread_create(&th, reg->attr, notify_thread, call) != 0)
                    free(call);
            }
        }
        free_reg(reg);
    }
    pthread_mutex_lock(&notify_lock);
    if (helper_pid == me)
        helper_pid = 0; /* the next registration starts another */
    pthread_mutex_unlock(&notify_lock);
    return NULL;
}

/* init_mq_netlink: one helper per process, all signals blocked, detached.
 * Called with notify_lock held; 0, or -1 (ENOSYS, as glibc without its
 * netlink socket). */
static int ensure_helper(void)
{
    pid_t me = getpid();
    if (helper_pid == me)
        return 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    int masked = pthread_sigmask(SIG_BLOCK, &all, &old) == 0;
    pthread_t th;
    int err = pthread_create(&th, &attr, helper_thread, NULL);
    if (masked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err) {
        errno = ENOSYS;
        return -1;
    }
    helper_pid = me;
    return 0;
}

static int64_t add_thread_reg(const struct sigevent *sev)
{
    struct notify_reg *reg = calloc(1, sizeof *reg);
    if (!reg) {
        errno = ENOMEM;
        return -1;
    }
    reg->fn = sev->sigev_notify_function;
    reg->value = sev->sigev_value;
    if (sev->sigev_notify_attributes) {
        reg->attr = copy_attr(sev->sigev_notify_attributes);
        if (!reg->attr) {
            free(reg);
            return -1;
        }
    }
    pthread_mutex_lock(&notify_lock);
    if (ensure_helper() < 0) {
        pthread_mutex_unlock(&notify_lock);
        free_reg(reg);
        return -1;
    }
    reg->cookie = ++notify_cookies;
    /* registered before the daemon hears of it: it may fire before the reply */
    reg->next = notify_regs;
    notify_regs = reg;
    pthread_mutex_unlock(&notify_lock);
    return reg->cookie;
}

UIPC_EXPORT int mq_notify(mqd_t mqd, const struct sigevent *sev)
{
    struct uipc_mq_notify_args a = {.mqdes = queue_inode(mqd), .has = sev != NULL};
    int64_t cookie = 0;
    if (sev) {
        a.notify = sev->sigev_notify;
        a.signo = sev->sigev_signo;
        a.value = (int64_t)(intptr_t)sev->sigev_value.sival_ptr;
        if (sev->sigev_notify == SIGEV_THREAD) {
            cookie = add_thread_reg(sev);
            if (cookie < 0)
                return -1;
            a.signo = 0;
            a.value = 0;
            a.cookie = cookie;
        }
    }
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_MQ_NOTIFY, &a, sizeof a, NULL, 0, UIPC_WAIT_RESTART, &r) < 0) {
        if (cookie) {
            int saved = errno;
            struct notify_reg *reg = take_reg(cookie);
            if (reg)
                free_reg(reg);
            errno = saved;
        }
        return -1;
    }
    return 0;
}

static void notify_atfork_prepare(void)
{
    pthread_mutex_lock(&notify_lock);
    pthread_mutex_lock(&queue_fds_lock);
}

static void notify_atfork_parent(void)
{
    pthread_mutex_unlock(&queue_fds_lock);
    pthread_mutex_unlock(&notify_lock);
}

/* The child has no helper thread and no registration: notifications belong
 * to the process that asked (glibc's reset_once; the kernel's notify_owner). */
static void notify_atfork_child(void)
{
    pthread_mutex_init(&queue_fds_lock, NULL); /* the table is the child's too */
    pthread_mutex_init(&notify_lock, NULL);
    struct notify_reg *reg = notify_regs;
    notify_regs = NULL;
    while (reg) {
        struct notify_reg *next = reg->next;
        free_reg(reg);
        reg = next;
    }
    helper_pid = 0;
}

__attribute__((constructor)) static void mqueue_init(void)
{
    pthread_atfork(notify_atfork_prepare, notify_atfork_parent, notify_atfork_child);
}

/* --- syscall(2) ------------------------------------------------------------------ */

/* The kernel's mq_notify: SIGEV_THREAD there means a netlink socket in
 * sigev_signo and a cookie in sival_ptr, which only glibc's own helper
 * speaks; uipc's notifications cannot reach a netlink socket. */
static int notify_raw(mqd_t mqd, const struct sigevent *sev)
{
    if (sev && sev->sigev_notify == SIGEV_THREAD) {
        static int said;
        uipc_warn_once(&said, "syscall(SYS_mq_notify) with SIGEV_THREAD needs a netlink socket, "
                       "which uipc cannot serve: EINVAL (call mq_notify(3) instead)");
        errno = EINVAL;
        return -1;
    }
    return mq_notify(mqd, sev);
}

UIPC_HIDDEN int uipc_mq_syscall(long number, const long a[6], long *ret);

/* One POSIX mq syscall by number, with the raw syscall's argument types; 1
 * when `number` is one (its result, or -1 with errno, in *ret). */
int uipc_mq_syscall(long number, const long a[6], long *ret)
{
    switch (number) {
    case SYS_mq_open:
        *ret = open_raw((const char *)a[0], (int)a[1], (mode_t)a[2],
                        (const struct mq_attr *)a[3]);
        return 1;
    case SYS_mq_unlink:
        *ret = unlink_raw((const char *)a[0]);
        return 1;
    case SYS_mq_timedsend:
        *ret = timedsend((mqd_t)a[0], (const char *)a[1], (size_t)a[2], (unsigned)a[3],
                         (const struct timespec *)a[4]);
        return 1;
    case SYS_mq_timedreceive:
        *ret = timedreceive((mqd_t)a[0], (char *)a[1], (size_t)a[2], (unsigned *)a[3],
                            (const struct timespec *)a[4]);
        return 1;
    case SYS_mq_notify:
        *ret = notify_raw((mqd_t)a[0], (const struct sigevent *)a[1]);
        return 1;
    case SYS_mq_getsetattr:
        *ret = getsetattr((mqd_t)a[0], (const struct mq_attr *)a[1], (struct mq_attr *)a[2]);
        return 1;
    default:
        return 0;
    }
}
