/* libuipc-preload: named POSIX semaphores, sem_open(3) and the sem_* calls on
 * what it returns (glibc's nptl/sem_open.c, sem_close.c, sem_unlink.c and
 * sem_wait.c over uipc/kernel/posix_sem.py).
 *
 * The C twin of the named half of uipc/client/posix_shm.py.  The daemon
 * keeps the semaphore and answers sem_open with a handle; the sem_t * given
 * to the program is a sem_t-sized block of this library holding a magic and
 * that handle, registered in a table as glibc registers its mappings: the
 * same semaphore opened under the same name again in this process gives the
 * same pointer back, counted, and sem_close drops one count (the daemon
 * counts the opens the same way, and its fork op gives a child the
 * parent's).  Any other sem_t * -- a sem_init'd semaphore in the program's
 * own memory, maybe shared with other processes -- is glibc's business: the
 * calls go to glibc's own functions.
 *
 * Waits (signal(7)): sem_wait is restarted under SA_RESTART, else EINTR, as
 * FUTEX_WAIT without a timeout; sem_timedwait and sem_clockwait fail with
 * EINTR whatever SA_RESTART says, as a futex wait with a timeout does (its
 * restart block is not run after a handler: -ERESTART_RESTARTBLOCK).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim.h"
#include "sysv.h"

#define NSEC_PER_SEC 1000000000L
/* "UIPCSEM!": never the first word of glibc's struct new_sem, whose value
 * is at most SEM_VALUE_MAX and whose waiter count sits above it */
#define NAMED_MAGIC 0x214d455343504955ULL

UIPC_HIDDEN mode_t uipc_umask(void); /* mqueue.c */

/* One open name of a named semaphore (glibc's struct inuse_sem). */
struct named_sem {
    union {
        sem_t sem; /* what the program holds: &named_sem.u.sem */
        struct {
            uint64_t magic;
            int64_t handle;
        } id;
    } u;
    int refcnt;
    struct named_sem *next;
    char name[]; /* as the program gave it, leading slashes and all */
};

static pthread_mutex_t sems_lock = PTHREAD_MUTEX_INITIALIZER;
static struct named_sem *sems;

/* The daemon's handle of `sem` if sem_open returned it, else -1.  The magic
 * is read first (a sem_init'd semaphore is valid memory of sem_t's size),
 * then the table says whether the block is ours. */
static int64_t handle_of(sem_t *sem)
{
    uint64_t magic;
    memcpy(&magic, sem, sizeof magic);
    if (magic != NAMED_MAGIC)
        return -1;
    int64_t h = -1;
    pthread_mutex_lock(&sems_lock);
    for (struct named_sem *s = sems; s; s = s->next) {
        if (&s->u.sem == sem) {
            h = s->u.id.handle;
            break;
        }
    }
    pthread_mutex_unlock(&sems_lock);
    return h;
}

/* glibc's own function `name` (its default version: GLIBC_2.34's) */
#define REAL(type, name)                                                     \
    ({                                                                       \
        static type real_;                                                   \
        type fn_ = __atomic_load_n(&real_, __ATOMIC_ACQUIRE);                \
        if (!fn_) {                                                          \
            fn_ = UIPC_REAL(type, name);                                     \
            __atomic_store_n(&real_, fn_, __ATOMIC_RELEASE);                 \
        }                                                                    \
        fn_;                                                                 \
    })

typedef int (*sem_fn)(sem_t *);
typedef int (*sem_timed_fn)(sem_t *, const struct timespec *);
typedef int (*sem_clock_fn)(sem_t *, clockid_t, const struct timespec *);
typedef int (*sem_value_fn)(sem_t *, int *);

/* __sem_check_add_mapping: the entry of (handle, name), counted once more,
 * or a new one.  NULL with ENOMEM. */
static sem_t *add_mapping(int64_t handle, const char *name, size_t len)
{
    pthread_mutex_lock(&sems_lock);
    for (struct named_sem *s = sems; s; s = s->next) {
        if (s->u.id.handle == handle && !strcmp(s->name, name)) {
            s->refcnt++;
            pthread_mutex_unlock(&sems_lock);
            return &s->u.sem;
        }
    }
    struct named_sem *s = calloc(1, sizeof *s + len + 1);
    if (s) {
        s->u.id.magic = NAMED_MAGIC;
        s->u.id.handle = handle;
        s->refcnt = 1;
        memcpy(s->name, name, len + 1);
        s->next = sems;
        sems = s;
    }
    pthread_mutex_unlock(&sems_lock);
    if (!s)
        errno = ENOMEM;
    return s ? &s->u.sem : NULL;
}

static void close_handle(int64_t handle)
{
    struct uipc_sem_close_args a = {handle};
    struct uipc_reply r;
    int saved = errno;
    uipc_sys(UIPC_OP_SEM_CLOSE, &a, sizeof a, NULL, 0, UIPC_WAIT_RESTART, &r);
    errno = saved;
}

UIPC_EXPORT sem_t *sem_open(const char *name, int oflag, ...)
{
    mode_t mode = 0;
    unsigned value = 0;
    if (oflag & O_CREAT) { /* glibc reads them only when it may create */
        va_list ap;
        va_start(ap, oflag);
        mode = va_arg(ap, mode_t);
        value = va_arg(ap, unsigned);
        va_end(ap);
    }
    size_t len = strnlen(name, PATH_MAX);
    if (len >= PATH_MAX) { /* __shm_get_name: too long for its buffer */
        errno = EINVAL;
        return SEM_FAILED;
    }
    /* its mapping lives as long as the process, and a fork child has it */
    if (uipc_hold() < 0)
        return SEM_FAILED;
    struct uipc_sem_open_args a = {oflag, (uint32_t)(mode & ~uipc_umask()), value};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_SEM_OPEN, &a, sizeof a, name, len, UIPC_WAIT_RESTART, &r) < 0)
        return SEM_FAILED;
    int64_t handle = uipc_int_result(&r);
    if (len > NAME_MAX) {
        /* glibc's table of mappings keeps the name as given and refuses one
         * past NAME_MAX -- after the semaphore was opened or made; errno is
         * what its open attempts left: EINVAL after O_EXCL's, else the
         * first open's ENOENT (uipc/client/posix_shm.py) */
        close_handle(handle);
        errno = oflag & O_EXCL ? EINVAL : ENOENT;
        return SEM_FAILED;
    }
    sem_t *sem = add_mapping(handle, name, len);
    if (!sem)
        close_handle(handle);
    return sem ? sem : SEM_FAILED;
}

/* __sem_close: one count of the mapping goes (the daemon's open with it);
 * a pointer sem_open did not return is EINVAL, glibc's own answer. */
UIPC_EXPORT int sem_close(sem_t *sem)
{
    if (handle_of(sem) < 0)
        return REAL(sem_fn, sem_close)(sem);
    pthread_mutex_lock(&sems_lock);
    struct named_sem *found = NULL;
    for (struct named_sem **p = &sems; *p; p = &(*p)->next) {
        if (&(*p)->u.sem == sem) {
            found = *p;
            if (--found->refcnt == 0)
                *p = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&sems_lock);
    if (!found) { /* closed by another thread meanwhile */
        errno = EINVAL;
        return -1;
    }
    int64_t handle = found->u.id.handle;
    if (found->refcnt == 0) {
        found->u.id.magic = 0; /* as munmap: the pointer names nothing now */
        free(found);
    }
    struct uipc_sem_close_args a = {handle};
    struct uipc_reply r;
    return uipc_sys(UIPC_OP_SEM_CLOSE, &a, sizeof a, NULL, 0, UIPC_WAIT_RESTART, &r);
}

UIPC_EXPORT int sem_unlink(const char *name)
{
    return uipc_unlink_name(UIPC_OP_SEM_UNLINK, name);
}

UIPC_EXPORT int sem_post(sem_t *sem)
{
    int64_t h = handle_of(sem);
    if (h < 0)
        return REAL(sem_fn, sem_post)(sem);
    struct uipc_sem_post_args a = {h};
    struct uipc_reply r;
    return uipc_sys(UIPC_OP_SEM_POST, &a, sizeof a, NULL, 0, UIPC_WAIT_RESTART, &r);
}

/* sem_timedwait's op: flags 0 wait, 1 trywait, 2 until the absolute
 * CLOCK_REALTIME time (sec, nsec). */
static int sem_op(int64_t h, uint8_t flags, int64_t sec, int64_t nsec, enum uipc_wait wait)
{
    struct uipc_sem_timedwait_args a = {h, flags, sec, nsec};
    struct uipc_reply r;
    return uipc_sys(UIPC_OP_SEM_TIMEDWAIT, &a, sizeof a, NULL, 0, wait, &r);
}

UIPC_EXPORT int sem_wait(sem_t *sem)
{
    int64_t h = handle_of(sem);
    if (h < 0)
        return REAL(sem_fn, sem_wait)(sem);
    return sem_op(h, 0, 0, 0, UIPC_WAIT_RESTART);
}

UIPC_EXPORT int sem_trywait(sem_t *sem)
{
    int64_t h = handle_of(sem);
    if (h < 0)
        return REAL(sem_fn, sem_trywait)(sem);
    return sem_op(h, 1, 0, 0, UIPC_WAIT_RESTART);
}

UIPC_EXPORT int sem_timedwait(sem_t *sem, const struct timespec *abstime)
{
    int64_t h = handle_of(sem);
    if (h < 0)
        return REAL(sem_timed_fn, sem_timedwait)(sem, abstime);
    /* the daemon checks tv_nsec first, then takes a free count, then the
     * deadline, as glibc's valid_nanoseconds, fast path and futex wait */
    return sem_op(h, 2, abstime->tv_sec, abstime->tv_nsec, UIPC_WAIT_EINTR);
}

/* A CLOCK_MONOTONIC deadline as the CLOCK_REALTIME one the wire carries:
 * the same distance from now.  The daemon turns it back into a monotonic
 * deadline when the call sleeps, so a later change of the wall clock moves
 * neither, as it moves no monotonic deadline in Linux. */
static void monotonic_to_realtime(const struct timespec *mono, int64_t *sec, int64_t *nsec)
{
    if (mono->tv_sec < 0) { /* glibc's futex wait: ETIMEDOUT at once */
        *sec = -1;
        *nsec = 0;
        return;
    }
    struct timespec now_m, now_r;
    clock_gettime(CLOCK_MONOTONIC, &now_m);
    clock_gettime(CLOCK_REALTIME, &now_r);
    __int128 ns = ((__int128)mono->tv_sec - now_m.tv_sec + now_r.tv_sec) * NSEC_PER_SEC +
                  mono->tv_nsec - now_m.tv_nsec + now_r.tv_nsec;
    if (ns < 0) { /* long past: still a valid time, already gone */
        *sec = 0;
        *nsec = 0;
        return;
    }
    __int128 s = ns / NSEC_PER_SEC;
    *sec = s > INT64_MAX ? INT64_MAX : (int64_t)s;
    *nsec = (int64_t)(ns % NSEC_PER_SEC);
}

UIPC_EXPORT int sem_clockwait(sem_t *sem, clockid_t clockid, const struct timespec *abstime)
{
    int64_t h = handle_of(sem);
    if (h < 0)
        return REAL(sem_clock_fn, sem_clockwait)(sem, clockid, abstime);
    /* glibc: the clock is checked first, even when no wait is needed */
    if (clockid != CLOCK_REALTIME && clockid != CLOCK_MONOTONIC) {
        errno = EINVAL;
        return -1;
    }
    int64_t sec = abstime->tv_sec, nsec = abstime->tv_nsec;
    if (clockid == CLOCK_MONOTONIC && nsec >= 0 && nsec < NSEC_PER_SEC)
        monotonic_to_realtime(abstime, &sec, &nsec);
    return sem_op(h, 2, sec, nsec, UIPC_WAIT_EINTR);
}

UIPC_EXPORT int sem_getvalue(sem_t *sem, int *sval)
{
    int64_t h = handle_of(sem);
    if (h < 0)
        return REAL(sem_value_fn, sem_getvalue)(sem, sval);
    struct uipc_sem_getvalue_args a = {h};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_SEM_GETVALUE, &a, sizeof a, NULL, 0, UIPC_WAIT_RESTART, &r) < 0)
        return -1;
    *sval = (int)uipc_int_result(&r);
    return 0;
}

static void sems_atfork_prepare(void) { pthread_mutex_lock(&sems_lock); }
static void sems_atfork_parent(void) { pthread_mutex_unlock(&sems_lock); }
/* the child keeps the table: it has the parent's mappings, and the daemon's
 * fork op (conn.c, as uipc_hold was called) gives it the parent's opens */
static void sems_atfork_child(void) { pthread_mutex_init(&sems_lock, NULL); }

__attribute__((constructor)) static void posix_sem_init(void)
{
    pthread_atfork(sems_atfork_prepare, sems_atfork_parent, sems_atfork_child);
}
