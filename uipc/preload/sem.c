/* libuipc-preload: semget, semop, semtimedop, semctl (ipc/sem.c's syscalls).
 *
 * As msg.c: each packs its op's fixed arguments and tail (uipc_proto.h)
 * and turns the reply into what glibc's wrapper returns.  User memory is
 * read and written with uipc_copy_from_user/uipc_copy_to_user where the
 * kernel copies it, so a bad pointer is EFAULT in the kernel's order (never
 * a crash, never earlier than Linux says).  Two values the kernel knows and
 * a C caller does not say are asked of the daemon when they matter: the
 * namespace's semopm (when nsops is large, or the sops, semid or timeout
 * bad: which error comes first depends on it) and a set's nsems (how many
 * values SETALL reads).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

#include "shim.h"
#include "sysv.h"

/* glibc leaves union semun to the program (semctl(2)); this is its layout */
union uipc_semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
    unsigned long raw;
};

UIPC_EXPORT int semget(key_t key, int nsems, int semflg)
{
    struct uipc_semget_args a = {key, nsems, semflg};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_SEMGET, &a, sizeof a, NULL, 0, UIPC_WAIT_EINTR, &r) < 0)
        return -1;
    return (int)uipc_int_result(&r);
}

/* One semctl request; its decoded ctl result in *ctl. */
static int semctl_call(int semid, int semnum, int cmd, int64_t arg, const void *tail,
                       size_t tail_len, struct uipc_ctl *ctl)
{
    struct uipc_semctl_args a = {semid, semnum, cmd, arg};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_SEMCTL, &a, sizeof a, tail, tail_len, UIPC_WAIT_EINTR, &r) < 0)
        return -1;
    return uipc_ctl_result(&r, ctl);
}

/* The namespace's semopm (kernel.sem field 3), by IPC_INFO. */
static int namespace_semopm(int64_t *semopm)
{
    struct uipc_ctl ctl;
    if (semctl_call(0, 0, IPC_INFO, 0, NULL, 0, &ctl) < 0)
        return -1;
    struct uipc_sem_info si;
    if (ctl.tag != UIPC_TAG_SEM_INFO || ctl.len < sizeof si) {
        errno = EPROTO;
        return -1;
    }
    memcpy(&si, ctl.fields, sizeof si);
    *semopm = si.semopm;
    return 0;
}

static int timespec_valid(const struct timespec *ts)
{
    return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L;
}

/* A valid relative timespec in the wire's ns, clamped to what an i64 holds. */
static int64_t timespec_ns(const struct timespec *ts)
{
    if (ts->tv_sec > (INT64_MAX - ts->tv_nsec) / 1000000000LL)
        return INT64_MAX;
    return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* 1 when nsops exceeds the namespace's semopm (kernel.sem field 3), 0 when
 * not, -1 (errno set) when it cannot be known. */
static int exceeds_semopm(unsigned nsops)
{
    int64_t semopm;
    if (namespace_semopm(&semopm) < 0)
        return -1;
    return (int64_t)nsops > semopm;
}

/* A bad call fails with E2BIG where the kernel's order puts it first
 * (do_semtimedop checks nsops before it reads anything), else with err. */
static int fail_after_e2big(unsigned nsops, int err)
{
    int over = exceeds_semopm(nsops);
    if (over >= 0)
        errno = over ? E2BIG : err;
    return -1;
}

/* SEMOPM_FAST: operations copied on the stack, as do_semtimedop does */
#define SEMOPS_ON_STACK 64

/* ksys_semtimedop(), do_semtimedop() and __do_semtimedop(), in their
 * order: the timespec is read (EFAULT); E2BIG against semopm, EINVAL for
 * no ops, the sops read (EFAULT); then EINVAL for a negative semid and for
 * a bad timespec; the rest is the daemon's.  Below the default semopm,
 * with good arguments, the daemon checks E2BIG itself. */
int uipc_semtimedop(int semid, struct sembuf *sops, size_t nsops_arg,
                    const struct timespec *timeout)
{
    unsigned nsops = (unsigned)nsops_arg; /* the syscall takes an unsigned int */
    struct timespec ts = {0, 0};
    if (timeout && uipc_copy_from_user(&ts, timeout, sizeof ts) < 0)
        return -1;
    if (nsops < 1) { /* 0 ops exceed no semopm: EINVAL whatever it is */
        errno = EINVAL;
        return -1;
    }
    if (nsops > UIPC_SEMOPM) {
        int over = exceeds_semopm(nsops);
        if (over) {
            if (over > 0)
                errno = E2BIG;
            return -1;
        }
    }
    /* struct sembuf is the wire's sembuf: u16 sem_num, i16 sem_op, i16 sem_flg */
    _Static_assert(sizeof(struct sembuf) == 6, "struct sembuf is 6 bytes");
    struct sembuf fast[SEMOPS_ON_STACK], *copy = fast;
    size_t len = (size_t)nsops * sizeof *sops;
    if (nsops > SEMOPS_ON_STACK && !(copy = malloc(len))) {
        errno = ENOMEM;
        return -1;
    }
    int ret = -1;
    if (uipc_copy_from_user(copy, sops, len) < 0)
        fail_after_e2big(nsops, EFAULT);
    else if (semid < 0 || (timeout && !timespec_valid(&ts)))
        fail_after_e2big(nsops, EINVAL);
    else {
        struct uipc_semtimedop_args a = {semid, timeout ? timespec_ns(&ts) : -1};
        struct uipc_reply r;
        ret = uipc_sys(UIPC_OP_SEMTIMEDOP, &a, sizeof a, copy, len, UIPC_WAIT_EINTR, &r);
    }
    if (copy != fast) {
        int saved = errno;
        free(copy);
        errno = saved;
    }
    return ret;
}

UIPC_EXPORT int semtimedop(int semid, struct sembuf *sops, size_t nsops,
                           const struct timespec *timeout)
{
    return uipc_semtimedop(semid, sops, nsops, timeout);
}

UIPC_EXPORT int semop(int semid, struct sembuf *sops, size_t nsops)
{
    return uipc_semtimedop(semid, sops, nsops, NULL);
}

/* --- semctl --- */
static void fill_semid_ds(struct semid_ds *out, const struct uipc_semid_ds *in)
{
    memset(out, 0, sizeof *out); /* the kernel copies a zeroed semid64_ds */
    out->sem_perm.__key = (key_t)in->sem_perm_key;
    out->sem_perm.uid = (uid_t)in->sem_perm_uid;
    out->sem_perm.gid = (gid_t)in->sem_perm_gid;
    out->sem_perm.cuid = (uid_t)in->sem_perm_cuid;
    out->sem_perm.cgid = (gid_t)in->sem_perm_cgid;
    out->sem_perm.mode = (unsigned short)in->sem_perm_mode;
    out->sem_perm.__seq = (unsigned short)in->sem_perm_seq;
    out->sem_otime = (time_t)in->sem_otime;
    out->sem_ctime = (time_t)in->sem_ctime;
    out->sem_nsems = (unsigned long)in->sem_nsems;
}

static void fill_seminfo(struct seminfo *out, const struct uipc_sem_info *in)
{
    out->semmap = (int)in->semmap;
    out->semmni = (int)in->semmni;
    out->semmns = (int)in->semmns;
    out->semmnu = (int)in->semmnu;
    out->semmsl = (int)in->semmsl;
    out->semopm = (int)in->semopm;
    out->semume = (int)in->semume;
    out->semusz = (int)in->semusz;
    out->semvmx = (int)in->semvmx;
    out->semaem = (int)in->semaem;
}

/* semctl_stat()/semctl_info() and their copy_to_user: the struct after the
 * lookup, EFAULT for a bad destination only then. */
static int semctl_struct(int semid, int cmd, void *dst)
{
    struct uipc_ctl ctl;
    if (semctl_call(semid, 0, cmd, 0, NULL, 0, &ctl) < 0)
        return -1;
    int want = (cmd == IPC_INFO || cmd == SEM_INFO) ? UIPC_TAG_SEM_INFO : UIPC_TAG_SEMID_DS;
    size_t need = want == UIPC_TAG_SEM_INFO ? sizeof(struct uipc_sem_info)
                                           : sizeof(struct uipc_semid_ds);
    if (ctl.tag != want || ctl.len < need) {
        errno = EPROTO;
        return -1;
    }
    int copied;
    if (want == UIPC_TAG_SEM_INFO) {
        struct uipc_sem_info si;
        struct seminfo out;
        memcpy(&si, ctl.fields, sizeof si);
        fill_seminfo(&out, &si);
        copied = uipc_copy_to_user(dst, &out, sizeof out);
    } else {
        struct uipc_semid_ds ds;
        struct semid_ds out;
        memcpy(&ds, ctl.fields, sizeof ds);
        fill_semid_ds(&out, &ds);
        copied = uipc_copy_to_user(dst, &out, sizeof out);
    }
    return copied < 0 ? -1 : (int)ctl.ret;
}

/* GETALL: the values come as an i64 list; copy_to_user is last. */
static int semctl_getall(int semid, unsigned short *array)
{
    struct uipc_ctl ctl;
    if (semctl_call(semid, 0, GETALL, 0, NULL, 0, &ctl) < 0)
        return -1;
    if (ctl.tag != UIPC_TAG_INTLIST || ctl.ret < 0 || ctl.len / 8 < (uint64_t)ctl.ret) {
        errno = EPROTO;
        return -1;
    }
    size_t n = (size_t)ctl.ret;
    unsigned short *vals = malloc(n * sizeof *vals + 1);
    if (!vals) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, ctl.fields + 8 * i, 8);
        vals[i] = (unsigned short)v;
    }
    int copied = uipc_copy_to_user(array, vals, n * sizeof *vals);
    int saved = errno;
    free(vals);
    errno = saved;
    return copied < 0 ? -1 : 0;
}

/* How many values SETALL reads: the set's nsems, by SEM_STAT_ANY at the
 * id's index (no read permission needed, as SETALL needs only alter);
 * 0 when no set has this id, for the daemon to say why. */
static size_t set_nsems(int semid)
{
    struct uipc_ctl ctl;
    int saved = errno;
    size_t n = 0;
    if (semctl_call(semid & (UIPC_IPCMNI - 1), 0, SEM_STAT_ANY, 0, NULL, 0, &ctl) == 0 &&
        ctl.tag == UIPC_TAG_SEMID_DS && ctl.ret == semid &&
        ctl.len >= sizeof(struct uipc_semid_ds)) {
        struct uipc_semid_ds ds;
        memcpy(&ds, ctl.fields, sizeof ds);
        if (ds.sem_nsems > 0 && ds.sem_nsems <= UIPC_MAX_FRAME / 2)
            n = (size_t)ds.sem_nsems;
    }
    errno = saved;
    return n;
}

/* SETALL: nsems values copied from the array, or an empty tail when they
 * cannot be (no such set, a bad array): the daemon then answers as
 * semctl_main does, EINVAL or EACCES from the lookup and the permission
 * check before EFAULT from copy_from_user. */
static int semctl_setall(int semid, const unsigned short *array)
{
    size_t n = array ? set_nsems(semid) : 0;
    unsigned short *vals = n ? malloc(n * sizeof *vals) : NULL;
    if (n && !vals) {
        errno = ENOMEM;
        return -1;
    }
    int saved = errno;
    if (vals && uipc_copy_from_user(vals, array, n * sizeof *vals) < 0)
        n = 0;
    errno = saved;
    struct uipc_ctl ctl;
    int ret = semctl_call(semid, 0, SETALL, 0, n ? vals : NULL, n * sizeof *vals, &ctl);
    saved = errno;
    free(vals);
    errno = saved;
    return ret < 0 ? -1 : (int)ctl.ret;
}

/* IPC_SET: copy_semid_from_user comes before the lookup. */
static int semctl_set(int semid, const struct semid_ds *buf)
{
    struct semid_ds in;
    if (uipc_copy_from_user(&in, buf, sizeof in) < 0)
        return -1;
    struct uipc_semid_ds set;
    memset(&set, 0, sizeof set);
    set.sem_perm_uid = in.sem_perm.uid;
    set.sem_perm_gid = in.sem_perm.gid;
    set.sem_perm_mode = in.sem_perm.mode;
    struct uipc_ctl ctl;
    if (semctl_call(semid, 0, IPC_SET, 0, &set, sizeof set, &ctl) < 0)
        return -1;
    return (int)ctl.ret;
}

/* ksys_semctl(): the raw syscall's semctl, the union passed by value. */
int uipc_semctl(int semid, int semnum, int cmd, unsigned long arg)
{
    union uipc_semun u = {.raw = arg};
    struct uipc_ctl ctl;
    if (semid < 0) {
        errno = EINVAL;
        return -1;
    }
    switch (cmd) {
    case IPC_INFO:
    case SEM_INFO:
        return semctl_struct(semid, cmd, u.__buf);
    case IPC_STAT:
    case SEM_STAT:
    case SEM_STAT_ANY:
        return semctl_struct(semid, cmd, u.buf);
    case GETALL:
        return semctl_getall(semid, u.array);
    case SETALL:
        return semctl_setall(semid, u.array);
    case SETVAL:
        /* the low 32 bits of the argument, as little-endian Linux reads it */
        if (semctl_call(semid, semnum, cmd, (int)arg, NULL, 0, &ctl) < 0)
            return -1;
        return (int)ctl.ret;
    case IPC_SET:
        return semctl_set(semid, u.buf);
    case GETVAL:
    case GETPID:
    case GETNCNT:
    case GETZCNT:
    case IPC_RMID:
        if (semctl_call(semid, semnum, cmd, 0, NULL, 0, &ctl) < 0)
            return -1;
        return (int)ctl.ret;
    default:
        /* an unknown command, IPC_64 included: x86-64 Linux has no
         * ipc_parse_version, so it reaches the switch's default */
        errno = EINVAL;
        return -1;
    }
}

/* glibc's semctl: the fourth argument is read only for the commands that
 * take one (reading it otherwise would be undefined). */
UIPC_EXPORT int semctl(int semid, int semnum, int cmd, ...)
{
    union uipc_semun u = {.raw = 0};
    switch (cmd) {
    case SETVAL:
    case GETALL:
    case SETALL:
    case IPC_STAT:
    case IPC_SET:
    case SEM_STAT:
    case SEM_STAT_ANY:
    case IPC_INFO:
    case SEM_INFO: {
        va_list ap;
        va_start(ap, cmd);
        u = va_arg(ap, union uipc_semun);
        va_end(ap);
        break;
    }
    default:
        break;
    }
    return uipc_semctl(semid, semnum, cmd, u.raw);
}
