/* Every shmctl command and every field it fills: IPC_STAT, SHM_STAT,
 * SHM_STAT_ANY (struct shmid_ds), IPC_SET, IPC_RMID, SHM_LOCK/SHM_UNLOCK,
 * IPC_INFO (struct shminfo), SHM_INFO (struct shm_info), with the kernel's
 * return values and errors: EINVAL, EFAULT for NULL where the kernel
 * copies, EACCES/EPERM as another user. */
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

#define PG 4096UL
#define NOBODY 65534
#define MISSING 1000 /* an id no segment has here */

static void say_ds(const char *label, const struct shmid_ds *ds, int id)
{
    SAY("%s: key %#x uid %u gid %u cuid %u cgid %u mode %o seq-matches-id %d segsz %zu\n", label,
        (unsigned)ds->shm_perm.__key, ds->shm_perm.uid, ds->shm_perm.gid, ds->shm_perm.cuid,
        ds->shm_perm.cgid, ds->shm_perm.mode, ds->shm_perm.__seq == (unsigned)id >> 15,
        (size_t)ds->shm_segsz);
    SAY("%s: atime-set %d dtime-set %d ctime-set %d cpid-is-me %d lpid-is-me %d lpid-0 %d "
        "nattch %lu reserved %lu %lu %lu %lu\n", label, ds->shm_atime != 0,
        ds->shm_dtime != 0, ds->shm_ctime != 0, ds->shm_cpid == getpid(),
        ds->shm_lpid == getpid(), ds->shm_lpid == 0, (unsigned long)ds->shm_nattch,
        (unsigned long)ds->shm_perm.__glibc_reserved1,
        (unsigned long)ds->shm_perm.__glibc_reserved2,
        (unsigned long)ds->__glibc_reserved5, (unsigned long)ds->__glibc_reserved6);
}

static void stat_fields(int id)
{
    struct shmid_ds ds;
    memset(&ds, 0xa5, sizeof ds); /* what the kernel does not write stays visible */
    CHECK("IPC_STAT", shmctl(id, IPC_STAT, &ds));
    say_ds("new", &ds, id);
    time_t now = time(NULL);
    SAY("ctime recent %d\n", ds.shm_ctime <= now && ds.shm_ctime >= now - 60);
    char *p = shmat(id, NULL, 0);
    memset(&ds, 0, sizeof ds);
    CHECK("IPC_STAT attached", shmctl(id, IPC_STAT, &ds));
    say_ds("attached", &ds, id);
    SAY("atime >= ctime %d\n", ds.shm_atime >= ds.shm_ctime);
    pid_t kid = fork();
    if (kid == 0) {
        shmdt(p);
        _exit(0);
    }
    int st;
    waitpid(kid, &st, 0);
    CHECK("IPC_STAT after a child detached", shmctl(id, IPC_STAT, &ds));
    SAY("lpid-is-child %d nattch %lu dtime-set %d\n", ds.shm_lpid == kid,
        (unsigned long)ds.shm_nattch, ds.shm_dtime != 0);
    CHECK("shmdt", shmdt(p));
    CHECK("IPC_STAT detached", shmctl(id, IPC_STAT, &ds));
    say_ds("detached", &ds, id);
}

static void set(int id)
{
    struct shmid_ds ds, old;
    shmctl(id, IPC_STAT, &old);
    ds = old;
    ds.shm_perm.uid = 1234;
    ds.shm_perm.gid = 5678;
    ds.shm_perm.mode = 07764 | SHM_DEST | SHM_LOCKED; /* only the 0777 bits are taken */
    ds.shm_perm.cuid = 99;
    ds.shm_perm.__key = 0x4242;
    ds.shm_segsz = 1;
    ds.shm_nattch = 77;
    CHECK("IPC_SET", shmctl(id, IPC_SET, &ds));
    memset(&ds, 0, sizeof ds);
    CHECK("IPC_STAT", shmctl(id, IPC_STAT, &ds));
    say_ds("after IPC_SET", &ds, id);
    SAY("ctime not older %d\n", ds.shm_ctime >= old.shm_ctime);
    ds.shm_perm.uid = 0;
    ds.shm_perm.gid = 0;
    ds.shm_perm.mode = 0640;
    CHECK("IPC_SET back", shmctl(id, IPC_SET, &ds));
}

static void locks(int id)
{
    struct shmid_ds ds;
    CHECK("SHM_LOCK", shmctl(id, SHM_LOCK, NULL));
    shmctl(id, IPC_STAT, &ds);
    SAY("locked mode %o\n", ds.shm_perm.mode);
    CHECK("SHM_LOCK again", shmctl(id, SHM_LOCK, NULL));
    /* IPC_SET keeps the SHM_LOCKED bit */
    ds.shm_perm.mode = 0600;
    CHECK("IPC_SET locked", shmctl(id, IPC_SET, &ds));
    shmctl(id, IPC_STAT, &ds);
    SAY("locked after IPC_SET mode %o\n", ds.shm_perm.mode);
    CHECK("SHM_UNLOCK", shmctl(id, SHM_UNLOCK, NULL));
    shmctl(id, IPC_STAT, &ds);
    SAY("unlocked mode %o\n", ds.shm_perm.mode);
    CHECK("SHM_UNLOCK again", shmctl(id, SHM_UNLOCK, NULL));
    CHECK("SHM_LOCK missing", shmctl(MISSING, SHM_LOCK, NULL));
    ds.shm_perm.mode = 0640;
    shmctl(id, IPC_SET, &ds);
}

static void infos(int used)
{
    struct shminfo si;
    memset(&si, 0xa5, sizeof si);
    CHECK("IPC_INFO", shmctl(0, IPC_INFO, (struct shmid_ds *)&si));
    SAY("shminfo: shmmax %lu shmmin %lu shmmni %lu shmseg %lu shmall %lu "
        "reserved %lx %lx %lx %lx\n",
        si.shmmax, si.shmmin, si.shmmni, si.shmseg, si.shmall, si.__glibc_reserved1,
        si.__glibc_reserved2, si.__glibc_reserved3, si.__glibc_reserved4);
    CHECK("IPC_INFO any id", shmctl(12345, IPC_INFO, (struct shmid_ds *)&si));
    struct shm_info in;
    memset(&in, 0xa5, sizeof in);
    CHECK("SHM_INFO", shmctl(0, SHM_INFO, (struct shmid_ds *)&in));
    SAY("shm_info: used_ids %d (expected %d) shm_tot %lu shm_rss %lu shm_swp %lu "
        "swap_attempts %lu swap_successes %lu\n", in.used_ids, used, in.shm_tot, in.shm_rss,
        in.shm_swp, in.swap_attempts, in.swap_successes);
}

static void by_index(int a, int b)
{
    struct shmid_ds ds;
    CHECK("SHM_STAT 0", shmctl(0, SHM_STAT, &ds));
    SAY("SHM_STAT 0 is a %d\n", shmctl(0, SHM_STAT, &ds) == a);
    SAY("SHM_STAT 1 is b %d\n", shmctl(1, SHM_STAT, &ds) == b);
    say_ds("SHM_STAT 1", &ds, b);
    SAY("SHM_STAT_ANY 1 is b %d\n", shmctl(1, SHM_STAT_ANY, &ds) == b);
    CHECK("SHM_STAT 2", shmctl(2, SHM_STAT, &ds));
    CHECK("SHM_STAT 4095", shmctl(4095, SHM_STAT, &ds));
    CHECK("SHM_STAT 40000", shmctl(40000, SHM_STAT, &ds));
    CHECK("SHM_STAT_ANY 2", shmctl(2, SHM_STAT_ANY, &ds));
}

static void errors(int id)
{
    struct shmid_ds ds;
    CHECK("IPC_STAT NULL", shmctl(id, IPC_STAT, NULL));
    CHECK("IPC_STAT missing NULL", shmctl(MISSING, IPC_STAT, NULL));
    CHECK("IPC_STAT missing", shmctl(MISSING, IPC_STAT, &ds));
    CHECK("IPC_STAT stale seq", shmctl(id + 32768, IPC_STAT, &ds));
    CHECK("IPC_SET NULL", shmctl(id, IPC_SET, NULL));
    CHECK("IPC_SET missing NULL", shmctl(MISSING, IPC_SET, NULL));
    CHECK("IPC_SET -1 NULL", shmctl(-1, IPC_SET, NULL));
    CHECK("IPC_SET missing", shmctl(MISSING, IPC_SET, &ds));
    CHECK("IPC_INFO NULL", shmctl(0, IPC_INFO, NULL));
    CHECK("IPC_INFO -1", shmctl(-1, IPC_INFO, &ds));
    CHECK("SHM_INFO NULL", shmctl(0, SHM_INFO, NULL));
    CHECK("SHM_STAT NULL", shmctl(0, SHM_STAT, NULL));
    CHECK("SHM_STAT missing NULL", shmctl(3, SHM_STAT, NULL));
    CHECK("SHM_STAT_ANY NULL", shmctl(0, SHM_STAT_ANY, NULL));
    CHECK("IPC_RMID missing", shmctl(MISSING, IPC_RMID, NULL));
    CHECK("SHM_UNLOCK missing", shmctl(MISSING, SHM_UNLOCK, NULL));
    CHECK("cmd 99", shmctl(id, 99, &ds));
    CHECK("cmd 16", shmctl(id, 16, &ds));
    CHECK("cmd -1", shmctl(id, -1, &ds));
    CHECK("shmid -1", shmctl(-1, IPC_STAT, &ds));
    CHECK("IPC_STAT | IPC_64", shmctl(id, IPC_STAT | 0x100, &ds));
    CHECK("IPC_RMID | IPC_64", shmctl(id, IPC_RMID | 0x100, NULL));
}

/* what another user may do: SHM_STAT_ANY needs no read permission */
static void as_nobody(int id)
{
    pid_t kid = fork();
    if (kid == 0) {
        if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
            _exit(1);
        struct shmid_ds ds;
        int any;
        CHECK("nobody IPC_STAT 0600", shmctl(id, IPC_STAT, &ds));
        CHECK("nobody SHM_STAT 0600", shmctl(1, SHM_STAT, &ds));
        KEEP(any, "nobody SHM_STAT_ANY 0600", shmctl(1, SHM_STAT_ANY, &ds));
        SAY("nobody SHM_STAT_ANY is the id %d, mode %o\n", any == id, ds.shm_perm.mode);
        CHECK("nobody IPC_SET", shmctl(id, IPC_SET, &ds));
        CHECK("nobody IPC_RMID", shmctl(id, IPC_RMID, NULL));
        CHECK("nobody SHM_LOCK", shmctl(id, SHM_LOCK, NULL));
        CHECK("nobody SHM_UNLOCK", shmctl(id, SHM_UNLOCK, NULL));
        struct shminfo si;
        CHECK("nobody IPC_INFO", shmctl(0, IPC_INFO, (struct shmid_ds *)&si));
        _exit(0);
    }
    int st;
    waitpid(kid, &st, 0);
    SAY("child exited %d\n", WEXITSTATUS(st));
    /* the owner (not the creator) may IPC_SET, SHM_LOCK and IPC_RMID */
    struct shmid_ds ds;
    shmctl(id, IPC_STAT, &ds);
    ds.shm_perm.uid = NOBODY;
    CHECK("give to nobody", shmctl(id, IPC_SET, &ds));
    kid = fork();
    if (kid == 0) {
        if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
            _exit(1);
        CHECK("owner IPC_STAT", shmctl(id, IPC_STAT, &ds));
        CHECK("owner SHM_LOCK", shmctl(id, SHM_LOCK, NULL));
        CHECK("owner SHM_UNLOCK", shmctl(id, SHM_UNLOCK, NULL));
        ds.shm_perm.mode = 0606;
        CHECK("owner IPC_SET", shmctl(id, IPC_SET, &ds));
        _exit(0);
    }
    waitpid(kid, &st, 0);
    shmctl(id, IPC_STAT, &ds);
    SAY("child exited %d, mode now %o, uid %u cuid %u\n", WEXITSTATUS(st), ds.shm_perm.mode,
        ds.shm_perm.uid, ds.shm_perm.cuid);
}

int main(void)
{
    int a, b;
    KEEP(a, "shmget a", shmget(0x7a11, 10000, IPC_CREAT | 0640));
    KEEP(b, "shmget b", shmget(IPC_PRIVATE, 3 * PG, 0600));
    stat_fields(a);
    set(a);
    locks(a);
    infos(2);
    char *p = shmat(b, NULL, 0);
    p[0] = 1;          /* one page resident */
    p[2 * PG] = 1;     /* two */
    infos(2);
    shmdt(p);
    by_index(a, b);
    errors(a);
    as_nobody(b);
    CHECK("IPC_RMID a", shmctl(a, IPC_RMID, NULL));
    CHECK("IPC_RMID a again", shmctl(a, IPC_RMID, NULL));
    infos(1);
    CHECK("IPC_RMID b", shmctl(b, IPC_RMID, NULL));
    CHECK("IPC_INFO empty", shmctl(0, IPC_INFO, (struct shmid_ds *)&(struct shminfo){0}));
    CHECK("SHM_INFO empty", shmctl(0, SHM_INFO, (struct shmid_ds *)&(struct shm_info){0}));
    return 0;
}
