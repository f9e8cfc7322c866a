/* libuipc-preload: shmget, shmat, shmdt, shmctl (ipc/shm.c's syscalls).
 *
 * The C twin of uipc/client/shm.py.  The daemon decides everything Linux's
 * do_shmat decides (checks, the rounded address, the count) and hands over
 * the segment's memfd (SCM_RIGHTS; O_RDONLY for SHM_RDONLY); this file maps
 * it MAP_SHARED where the reply says and keeps a table address -> attach id
 * for shmdt, which works by address as ksys_shmdt does.
 *
 * Linux's shmdt(addr) detaches every vma of the segment that starts at
 * addr: the first shm vma at or above addr whose offset matches its
 * distance from addr, and the fragments of the same file after it within
 * the segment's size (what munmap or mprotect left of the attach).  The
 * shim runs those two loops over /proc/self/maps, which names each vma's
 * file (the memfd's device and inode) and offset, so fragments are found
 * and unmapped exactly as the kernel would; without /proc it unmaps the
 * attach's whole range.  The common case, an attach nothing has split,
 * is one lookup in /proc/self/map_files instead of reading every vma
 * (intact()).  An attach counts (shm_nattch) while any of its
 * vmas is mapped: when shmdt, an SHM_REMAP attach over it or munmap takes
 * its last one, the daemon is told (its shmdt), as shm_close's last call.
 * Linux counts each vma (a split adds one); the daemon counts attaches
 * (docs/deviations.md).
 *
 * Locking: shm_lock guards the table and makes a mapping and its entry
 * change together (a fork copies both or neither).  No daemon call is made
 * under it.  munmap is interposed only to see an attach's last vma go; a
 * thread already inside this file (in_shm) goes straight to the syscall, so
 * an allocator that calls munmap from our malloc cannot deadlock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "raw.h"
#include "shim.h"
#include "sysv.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* One attach in this process: what shmat mapped (the kernel's first vma). */
struct attach {
    uintptr_t addr;    /* where it was mapped: shmdt's key */
    size_t map_size;   /* page-rounded */
    size_t segsz;      /* i_size of the shm file: ksys_shmdt's bound */
    int64_t attach_id; /* the daemon's name for it */
    dev_t dev;         /* the memfd's identity: its vmas in /proc/self/maps */
    ino_t ino;
};

static pthread_mutex_t shm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct attach *table;
static size_t n_attached, table_cap;
/* this thread holds shm_lock: a munmap from inside (malloc) is not ours */
static __thread int in_shm;

/* A vma of a shm file, from /proc/self/maps. */
struct vma {
    uintptr_t start, end;
    uint64_t off; /* vm_pgoff in bytes */
    dev_t dev;
    ino_t ino;
    int gone;     /* unmapped by this shmdt */
};

struct vmas {
    struct vma *v;
    size_t n, cap;
};

static size_t page_size(void)
{
    static size_t p;
    if (!p)
        p = (size_t)sysconf(_SC_PAGESIZE);
    return p;
}

/* The syscalls this file makes for itself go straight to the kernel
 * (raw.h): munmap is interposed here, syscall/open/close by other files of
 * the shim, and a munmap from an allocator must not loop through them. */
#define raw_syscall(n, a, b, c, d) uipc_raw((n), (a), (b), (c), (d))

static int real_munmap(uintptr_t addr, size_t len)
{
    return (int)raw_syscall(SYS_munmap, (long)addr, (long)len, 0, 0);
}

static void lock(void)
{
    pthread_mutex_lock(&shm_lock);
    in_shm = 1;
}

static void unlock(void)
{
    in_shm = 0;
    pthread_mutex_unlock(&shm_lock);
}

/* --- the table --- */
static int table_add(const struct attach *a)
{
    if (n_attached == table_cap) {
        size_t cap = table_cap ? 2 * table_cap : 16;
        struct attach *t = realloc(table, cap * sizeof *t);
        if (!t)
            return -1;
        table = t;
        table_cap = cap;
    }
    table[n_attached] = *a;
    __atomic_store_n(&n_attached, n_attached + 1, __ATOMIC_RELEASE);
    return 0;
}

static void table_remove(size_t i)
{
    table[i] = table[n_attached - 1];
    __atomic_store_n(&n_attached, n_attached - 1, __ATOMIC_RELEASE);
}

static int is_shm_file(dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < n_attached; i++)
        if (table[i].ino == ino && table[i].dev == dev)
            return 1;
    return 0;
}

static int overlaps(const struct attach *a, uintptr_t lo, uintptr_t hi)
{
    return a->addr < hi && lo < a->addr + a->map_size;
}

/* --- /proc/self/maps: the vmas of the files in the table, in address order --- */
static void vmas_free(struct vmas *vs)
{
    free(vs->v);
    vs->v = NULL;
    vs->n = vs->cap = 0;
}

static int vmas_push(struct vmas *vs, const struct vma *v)
{
    if (vs->n == vs->cap) {
        size_t cap = vs->cap ? 2 * vs->cap : 16;
        struct vma *nv = realloc(vs->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        vs->v = nv;
        vs->cap = cap;
    }
    vs->v[vs->n++] = *v;
    return 0;
}

/* "start-end perms offset major:minor inode [path]" */
static void parse_line(struct vmas *vs, const char *line, int *failed)
{
    unsigned long start, end, inode;
    unsigned long long off;
    unsigned major, minor;
    if (sscanf(line, "%lx-%lx %*s %llx %x:%x %lu", &start, &end, &off, &major, &minor,
               &inode) != 6)
        return;
    struct vma v = {start, end, off, makedev(major, minor), (ino_t)inode, 0};
    if (is_shm_file(v.dev, v.ino) && vmas_push(vs, &v) < 0)
        *failed = 1;
}

/* Read the vmas of every file in the table; -1 when /proc cannot tell.
 * Called with shm_lock held (the buffer is static). */
static int read_vmas(struct vmas *vs)
{
    static char buf[8192];
    vs->v = NULL;
    vs->n = vs->cap = 0;
    int fd = (int)raw_syscall(SYS_openat, AT_FDCWD, (long)"/proc/self/maps",
                              O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t have = 0;
    int failed = 0;
    for (;;) {
        ssize_t k = raw_syscall(SYS_read, fd, (long)(buf + have), (long)(sizeof buf - 1 - have), 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            failed = 1;
            break;
        }
        have += (size_t)k;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = 0;
            parse_line(vs, line, &failed);
            line = nl + 1;
        }
        size_t rest = have - (size_t)(line - buf);
        if (k == 0) {
            if (rest)
                parse_line(vs, line, &failed);
            break;
        }
        if (rest == sizeof buf - 1) /* a line longer than the buffer: only its path */
            rest = 0;
        memmove(buf, line, rest);
        have = rest;
    }
    raw_syscall(SYS_close, fd, 0, 0, 0);
    if (failed) {
        vmas_free(vs);
        return -1;
    }
    return 0;
}

/* Does attach a still have a vma: one of its file, inside its range, at the
 * offset its distance from a->addr says, and not inside [new_lo, new_hi)
 * (a mapping made there since, which is not a's)? */
static int still_mapped(const struct attach *a, const struct vmas *vs, uintptr_t new_lo,
                        uintptr_t new_hi)
{
    for (size_t i = 0; i < vs->n; i++) {
        const struct vma *v = &vs->v[i];
        if (v->gone || v->ino != a->ino || v->dev != a->dev)
            continue;
        if (v->start < a->addr || v->end > a->addr + a->map_size || v->start - a->addr != v->off)
            continue;
        if (v->start >= new_lo && v->end <= new_hi)
            continue;
        return 1;
    }
    return 0;
}

/* The attaches overlapping [lo, hi) that have no vma left are gone, as
 * shm_close of their last vma: their ids go to *gone (the caller tells
 * the daemon).  Vmas inside [new_lo, new_hi) are a new mapping's, not
 * theirs.  vs NULL (no /proc): gone when [lo, hi) covers them. */
static size_t sweep(uintptr_t lo, uintptr_t hi, const struct vmas *vs, uintptr_t new_lo,
                    uintptr_t new_hi, int64_t *gone, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < n_attached && n < max;) {
        struct attach *a = &table[i];
        int dead = overlaps(a, lo, hi) &&
                   (vs ? !still_mapped(a, vs, new_lo, new_hi)
                       : a->addr >= lo && a->addr + a->map_size <= hi);
        if (dead) {
            gone[n++] = a->attach_id;
            table_remove(i);
        } else {
            i++;
        }
    }
    return n;
}

/* --- the daemon's side of a detach --- */
static void tell_detached(const int64_t *ids, size_t n)
{
    int saved = errno;
    for (size_t i = 0; i < n; i++) {
        struct uipc_shmdt_args a = {ids[i], 0};
        struct uipc_reply r;
        uipc_sys(UIPC_OP_SHMDT, &a, sizeof a, NULL, 0, UIPC_WAIT_EINTR, &r);
    }
    errno = saved;
}

/* do_shmat's error path: the attach never became a mapping. */
static void abort_attach(int64_t attach_id)
{
    int saved = errno;
    struct uipc_shmdt_args a = {attach_id, 1};
    struct uipc_reply r;
    uipc_sys(UIPC_OP_SHMDT, &a, sizeof a, NULL, 0, UIPC_WAIT_EINTR, &r);
    errno = saved;
}

/* --- the calls --- */
UIPC_EXPORT int shmget(key_t key, size_t size, int shmflg)
{
    struct uipc_shmget_args a = {key, (uint64_t)size, shmflg};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_SHMGET, &a, sizeof a, NULL, 0, UIPC_WAIT_EINTR, &r) < 0)
        return -1;
    return (int)uipc_int_result(&r);
}

/* Map what the reply hands over and enter it in the table (under the
 * lock, so that a fork copies both or neither).  Returns the address, or
 * MAP_FAILED with errno; *gone gets the attaches an SHM_REMAP replaced. */
static void *map_attach(const struct uipc_shmat_result *res, int fd, int shmflg, int64_t **gone,
                        size_t *ngone)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return MAP_FAILED;
    int prot = PROT_READ | (res->readonly ? 0 : PROT_WRITE) | (shmflg & SHM_EXEC ? PROT_EXEC : 0);
    int flags = MAP_SHARED;
    if (res->addr)
        flags |= res->remap ? MAP_FIXED : MAP_FIXED_NOREPLACE;
    *gone = NULL;
    *ngone = 0;
    lock();
    void *got = mmap((void *)(uintptr_t)res->addr, res->map_size, prot, flags, fd, 0);
    if (got != MAP_FAILED && res->addr && (uintptr_t)got != res->addr) {
        real_munmap((uintptr_t)got, res->map_size); /* a kernel without MAP_FIXED_NOREPLACE */
        got = MAP_FAILED;
        errno = EEXIST;
    }
    if (got == MAP_FAILED) {
        unlock();
        return MAP_FAILED;
    }
    uintptr_t lo = (uintptr_t)got, hi = lo + res->map_size;
    /* attaches the new mapping covers lost their vmas there (do_mmap with
     * MAP_FIXED); with others only partly covered, /proc says what is left */
    int partial = 0, any = 0;
    for (size_t i = 0; i < n_attached; i++) {
        if (overlaps(&table[i], lo, hi)) {
            any = 1;
            partial |= table[i].addr < lo || table[i].addr + table[i].map_size > hi;
        }
    }
    if (any) {
        *gone = malloc(n_attached * sizeof **gone);
        if (*gone) {
            struct vmas vs;
            int have = partial && read_vmas(&vs) == 0;
            *ngone = sweep(lo, hi, have ? &vs : NULL, lo, hi, *gone, n_attached);
            if (have)
                vmas_free(&vs);
        }
    }
    struct attach a = {lo, res->map_size, res->segsz, res->attach_id, st.st_dev, st.st_ino};
    if (table_add(&a) < 0) {
        real_munmap(lo, res->map_size);
        unlock();
        errno = ENOMEM;
        return MAP_FAILED;
    }
    unlock();
    return got;
}

/* The address and mode a reply may name: those the caller asked for (with
 * do_shmat's SHM_RND rounding), so that no reply can make us map
 * MAP_FIXED over memory the caller did not offer. */
static int reply_fits(const struct uipc_shmat_result *res, const void *shmaddr, int shmflg)
{
    uintptr_t want = (uintptr_t)shmaddr;
    if (shmflg & SHM_RND)
        want &= ~(uintptr_t)(UIPC_SHMLBA - 1);
    return res->addr == want && !res->remap == !(shmflg & SHM_REMAP) &&
           !res->readonly == !(shmflg & SHM_RDONLY) && res->map_size >= res->segsz;
}

static void close_all(const struct uipc_reply *r)
{
    for (int i = 0; i < r->nfds; i++)
        close(r->fds[i]);
}

UIPC_EXPORT void *shmat(int shmid, const void *shmaddr, int shmflg)
{
    int saved = errno;
    struct uipc_shmat_args a = {shmid, (uint64_t)(uintptr_t)shmaddr, shmflg};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_SHMAT, &a, sizeof a, NULL, 0, UIPC_WAIT_EINTR, &r) < 0)
        return (void *)-1;
    struct uipc_shmat_result res;
    if (r.len < sizeof res) {
        close_all(&r);
        errno = EPROTO;
        return (void *)-1;
    }
    memcpy(&res, r.data, sizeof res); /* r.data is gone at this thread's next call */
    if (r.nfds != 1 || !reply_fits(&res, shmaddr, shmflg)) {
        int err = r.nfds != 1 ? EIO : EPROTO;
        close_all(&r);
        abort_attach(res.attach_id);
        errno = err;
        return (void *)-1;
    }
    /* the anchor before the mapping: a fork after it reports what it copied */
    uipc_hold();
    int64_t *gone;
    size_t ngone;
    void *got = map_attach(&res, r.fds[0], shmflg, &gone, &ngone);
    int err = errno;
    close(r.fds[0]);
    tell_detached(gone, ngone); /* their mappings are gone: so are their attaches */
    free(gone);
    if (got == MAP_FAILED) {
        abort_attach(res.attach_id);
        /* do_shmat: an occupied fixed address is EINVAL without SHM_REMAP */
        errno = err == EEXIST ? EINVAL : err;
        return (void *)-1;
    }
    errno = saved; /* a successful call leaves errno alone */
    return got;
}

/* ksys_shmdt's two loops over the vmas: the first shm vma at or above addr
 * that starts where its offset says, then the fragments of the same file
 * after it, up to the segment's size.  Returns 0, or -1 (nothing there). */
static int unmap_vmas(uintptr_t addr, struct vmas *vs)
{
    size_t i = 0, page = page_size();
    while (i < vs->n && vs->v[i].end <= addr) /* find_vma */
        i++;
    struct vma *first = NULL;
    for (; i < vs->n; i++) {
        struct vma *v = &vs->v[i];
        if ((v->start - addr) / page == v->off / page) {
            first = v;
            break;
        }
    }
    if (!first)
        return -1;
    size_t size = 0;
    for (size_t k = 0; k < n_attached; k++)
        if (table[k].ino == first->ino && table[k].dev == first->dev)
            size = table[k].segsz;
    size = (size + page - 1) & ~(page - 1);
    real_munmap(first->start, first->end - first->start);
    first->gone = 1;
    for (i++; i < vs->n && vs->v[i].end - addr <= size; i++) {
        struct vma *v = &vs->v[i];
        if ((v->start - addr) / page == v->off / page && v->ino == first->ino &&
            v->dev == first->dev) {
            real_munmap(v->start, v->end - v->start);
            v->gone = 1;
        }
    }
    return 0;
}

/* The common case without reading all of /proc/self/maps: the attach is
 * still the one vma it was made (nothing split, moved or replaced it), so
 * ksys_shmdt's loops find that vma alone.  /proc/self/map_files has an
 * entry for exactly that range then; following it (root, or
 * CAP_CHECKPOINT_RESTORE) also says it is still our file. */
static int intact(const struct attach *a)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)a->addr,
             (unsigned long)(a->addr + a->map_size));
    struct stat st;
    if (raw_syscall(SYS_newfstatat, AT_FDCWD, (long)path, (long)&st, 0) == 0)
        return st.st_ino == a->ino && st.st_dev == a->dev;
    if (errno != EPERM && errno != EACCES)
        return 0;
    return raw_syscall(SYS_newfstatat, AT_FDCWD, (long)path, (long)&st, AT_SYMLINK_NOFOLLOW) == 0;
}

UIPC_EXPORT int shmdt(const void *shmaddr)
{
    int saved = errno;
    uintptr_t addr = (uintptr_t)shmaddr;
    if (addr & (page_size() - 1)) {
        errno = EINVAL;
        return -1;
    }
    lock();
    int64_t *gone = n_attached ? malloc(n_attached * sizeof *gone) : NULL;
    if (!gone) { /* with no attach there is no shm vma to find */
        unlock();
        errno = n_attached ? ENOMEM : EINVAL;
        return -1;
    }
    size_t ngone = 0;
    struct vmas vs;
    int found;
    size_t i = n_attached;
    while (i > 0 && !(table[i - 1].addr == addr && intact(&table[i - 1])))
        i--;
    if (i > 0) {
        found = 1;
        real_munmap(addr, table[i - 1].map_size);
        gone[ngone++] = table[i - 1].attach_id;
        table_remove(i - 1);
    } else if (read_vmas(&vs) == 0) {
        found = unmap_vmas(addr, &vs) == 0;
        if (found) /* every attach that has no vma left now (fragments included) */
            ngone = sweep(0, UINTPTR_MAX, &vs, 0, 0, gone, n_attached);
        vmas_free(&vs);
    } else {
        /* no /proc: an attach made at addr, all of its range */
        i = n_attached;
        while (i > 0 && table[i - 1].addr != addr)
            i--;
        found = i > 0;
        if (found) {
            real_munmap(addr, table[i - 1].map_size);
            gone[ngone++] = table[i - 1].attach_id;
            table_remove(i - 1);
        }
    }
    unlock();
    if (!found) {
        free(gone);
        errno = EINVAL;
        return -1;
    }
    tell_detached(gone, ngone);
    free(gone);
    errno = saved;
    return 0;
}

/* munmap: when it takes an attach's last vma, the attach is gone (shm_close). */
UIPC_EXPORT int munmap(void *addr, size_t len)
{
    if (in_shm || !__atomic_load_n(&n_attached, __ATOMIC_ACQUIRE))
        return real_munmap((uintptr_t)addr, len);
    lock();
    int ret = real_munmap((uintptr_t)addr, len);
    int err = errno;
    size_t page = page_size();
    uintptr_t lo = (uintptr_t)addr, hi = (lo + len + page - 1) & ~(page - 1);
    int64_t *gone = NULL;
    size_t ngone = 0;
    int any = 0;
    for (size_t i = 0; i < n_attached && !any; i++)
        any = overlaps(&table[i], lo, hi);
    if (ret == 0 && any && (gone = malloc(n_attached * sizeof *gone))) {
        struct vmas vs;
        int have = read_vmas(&vs) == 0;
        ngone = sweep(lo, hi, have ? &vs : NULL, 0, 0, gone, n_attached);
        if (have)
            vmas_free(&vs);
    }
    unlock();
    tell_detached(gone, ngone);
    free(gone);
    errno = err;
    return ret;
}

/* --- shmctl --- */
static void fill_shmid_ds(struct shmid_ds *out, const struct uipc_shmid_ds *in)
{
    memset(out, 0, sizeof *out); /* shmctl_stat: memset(tbuf, 0, ...) */
    out->shm_perm.__key = (key_t)in->shm_perm_key;
    out->shm_perm.uid = (uid_t)in->shm_perm_uid;
    out->shm_perm.gid = (gid_t)in->shm_perm_gid;
    out->shm_perm.cuid = (uid_t)in->shm_perm_cuid;
    out->shm_perm.cgid = (gid_t)in->shm_perm_cgid;
    out->shm_perm.mode = (mode_t)in->shm_perm_mode;
    out->shm_perm.__seq = (unsigned short)in->shm_perm_seq;
    out->shm_segsz = (size_t)in->shm_segsz;
    out->shm_atime = (time_t)in->shm_atime;
    out->shm_dtime = (time_t)in->shm_dtime;
    out->shm_ctime = (time_t)in->shm_ctime;
    out->shm_cpid = (pid_t)in->shm_cpid;
    out->shm_lpid = (pid_t)in->shm_lpid;
    out->shm_nattch = (shmatt_t)in->shm_nattch;
}

static void fill_shminfo(struct shminfo *out, const struct uipc_shm_info *in)
{
    memset(out, 0, sizeof *out); /* the kernel copies the __unused words as zeros */
    out->shmmax = in->shmmax;
    out->shmmin = in->shmmin;
    out->shmmni = in->shmmni;
    out->shmseg = in->shmseg;
    out->shmall = in->shmall;
}

static void fill_shm_info(struct shm_info *out, const struct uipc_shm_info_stats *in)
{
    memset(out, 0, sizeof *out); /* shmctl_shm_info: memset(shm_info, 0, ...) */
    out->used_ids = (int)in->used_ids;
    out->shm_tot = in->shm_tot;
    out->shm_rss = in->shm_rss;
    out->shm_swp = in->shm_swp;
    out->swap_attempts = in->swap_attempts;
    out->swap_successes = in->swap_successes;
}

/* What the reply's struct says, into buf in glibc's layout. */
static int copy_out(const struct uipc_ctl *ctl, void *buf)
{
    if (ctl->tag == UIPC_TAG_SHMID_DS && ctl->len >= sizeof(struct uipc_shmid_ds)) {
        struct uipc_shmid_ds ds;
        memcpy(&ds, ctl->fields, sizeof ds);
        fill_shmid_ds(buf, &ds);
    } else if (ctl->tag == UIPC_TAG_SHM_INFO && ctl->len >= sizeof(struct uipc_shm_info)) {
        struct uipc_shm_info si;
        memcpy(&si, ctl->fields, sizeof si);
        fill_shminfo(buf, &si);
    } else if (ctl->tag == UIPC_TAG_SHM_INFO_STATS &&
               ctl->len >= sizeof(struct uipc_shm_info_stats)) {
        struct uipc_shm_info_stats st;
        memcpy(&st, ctl->fields, sizeof st);
        fill_shm_info(buf, &st);
    } else {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

UIPC_EXPORT int shmctl(int shmid, int cmd, struct shmid_ds *buf)
{
    /* ksys_shmctl: the x86_64 and arm64 syscalls have no ipc_parse_version,
     * so a command with IPC_64 in it is unknown (EINVAL), as are negatives */
    if (cmd < 0 || shmid < 0 || (cmd & UIPC_IPC_64)) {
        errno = EINVAL;
        return -1;
    }
    struct uipc_shmctl_args a = {shmid, cmd};
    struct uipc_shmid_ds set;
    size_t set_len = 0;
    if (cmd == IPC_SET) {
        if (!buf) { /* copy_shmid_from_user comes before the lookup */
            errno = EFAULT;
            return -1;
        }
        memset(&set, 0, sizeof set);
        set.shm_perm_uid = buf->shm_perm.uid;
        set.shm_perm_gid = buf->shm_perm.gid;
        set.shm_perm_mode = buf->shm_perm.mode;
        set_len = sizeof set;
    }
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_SHMCTL, &a, sizeof a, set_len ? &set : NULL, set_len, UIPC_WAIT_EINTR,
                 &r) < 0)
        return -1;
    struct uipc_ctl ctl;
    if (uipc_ctl_result(&r, &ctl) < 0)
        return -1;
    if (ctl.tag != UIPC_TAG_INT) {
        if (!buf) { /* copy_to_user after the lookup and the checks */
            errno = EFAULT;
            return -1;
        }
        if (copy_out(&ctl, buf) < 0)
            return -1;
    }
    return (int)ctl.ret;
}

/* --- fork (conn.c) --- */
size_t uipc_shm_inherited(int64_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < n_attached && n < max; i++)
        ids[n++] = table[i].attach_id;
    return n;
}

void uipc_shm_atfork_prepare(void) { lock(); }
void uipc_shm_atfork_parent(void) { unlock(); }

void uipc_shm_atfork_child(void)
{
    /* one thread now: the lock the fork was made under is free */
    in_shm = 0;
    pthread_mutex_init(&shm_lock, NULL);
}
