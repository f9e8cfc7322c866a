/* shmget's flags and errors, shmat/shmdt, data between a parent and its
 * forked child, shm_nattch and shm_lpid through fork, exit and shmdt, and
 * IPC_RMID while attached (SHM_DEST, the key gone, destroyed at the last
 * detach). */
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"
#include "sysv.h"

#define KEY 0x5e90

static struct shmid_ds st(int id)
{
    struct shmid_ds ds;
    memset(&ds, 0, sizeof ds);
    if (shmctl(id, IPC_STAT, &ds) < 0)
        SAY("IPC_STAT %s\n", errname(errno));
    return ds;
}



static void say_ds(const char *when, int id)
{
    struct shmid_ds ds = st(id);
    SAY("%s: nattch %lu lpid-is-me %d cpid-is-me %d dtime-set %d mode %o\n", when,
        (unsigned long)ds.shm_nattch, ds.shm_lpid == getpid(), ds.shm_cpid == getpid(),
        ds.shm_dtime != 0, ds.shm_perm.mode);
}

static void *attach(const char *label, int id, int flg)
{
    errno = 0;
    void *p = shmat(id, NULL, flg);
    if (p == (void *)-1)
        SAY("%s = -1 %s\n", label, errname(errno));
    else
        SAY("%s = ok\n", label);
    return p;
}

static void sizes(void)
{
    CHECK("shmget size 0", shmget(IPC_PRIVATE, 0, 0600));
    CHECK("shmget size SIZE_MAX", shmget(IPC_PRIVATE, SIZE_MAX, 0600));
    CHECK("shmget size shmmax+1", shmget(IPC_PRIVATE, 18446744073692774400UL, 0600));
    CHECK("shmget missing", shmget(KEY, 4096, 0600));
    CHECK("shmget missing size 0", shmget(KEY, 0, 0));
    int a;
    KEEP(a, "shmget create", shmget(KEY, 4096, IPC_CREAT | 0640));
    SAY("first id %d\n", a);
    CHECK("shmget excl", shmget(KEY, 4096, IPC_CREAT | IPC_EXCL | 0640));
    CHECK("shmget existing larger", shmget(KEY, 8192, 0));
    CHECK("shmget existing larger creat", shmget(KEY, 4097, IPC_CREAT | 0640));
    SAY("existing smaller same %d\n", shmget(KEY, 100, 0) == a);
    SAY("existing size 0 same %d\n", shmget(KEY, 0, 0) == a);
    SAY("existing no mode same %d\n", shmget(KEY, 4096, IPC_CREAT) == a);
    struct shmid_ds ds = st(a);
    SAY("segsz %zu mode %o key-is %d\n", (size_t)ds.shm_segsz, ds.shm_perm.mode,
        ds.shm_perm.__key == KEY);
    int odd;
    KEEP(odd, "shmget odd size", shmget(IPC_PRIVATE, 5000, IPC_CREAT | SHM_NORESERVE | 0777));
    ds = st(odd);
    SAY("odd segsz %zu mode %o\n", (size_t)ds.shm_segsz, ds.shm_perm.mode);
    int b;
    KEEP(b, "shmget private again", shmget(IPC_PRIVATE, 4096, 0600));
    SAY("private ids differ %d\n", b != odd);
    CHECK("rmid", shmctl(a, IPC_RMID, NULL));
    CHECK("rmid odd", shmctl(odd, IPC_RMID, NULL));
    CHECK("rmid b", shmctl(b, IPC_RMID, NULL));
    CHECK("shmget after rmid", shmget(KEY, 0, 0));
}

static void fork_and_data(void)
{
    int id;
    KEEP(id, "shmget", shmget(IPC_PRIVATE, 8192, 0600));
    say_ds("created", id);
    char *p = attach("shmat", id, 0);
    say_ds("attached", id);
    strcpy(p, "from parent");
    strcpy(p + 4096, "second page");
    int up[2], go[2];
    if (pipe(up) < 0 || pipe(go) < 0)
        return;
    pid_t kid = fork();
    if (kid == 0) {
        char c;
        SAY("child reads: %s / %s\n", p, p + 4096);
        struct shmid_ds ds = st(id);
        SAY("child sees nattch %lu lpid-is-parent %d\n", (unsigned long)ds.shm_nattch,
            ds.shm_lpid == getppid());
        strcpy(p, "from child");
        if (write(up[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(1);
        _exit(0);
    }
    char c;
    if (read(up[0], &c, 1) != 1)
        return;
    SAY("parent reads: %s\n", p);
    struct shmid_ds ds = st(id);
    SAY("forked: nattch %lu lpid-is-me %d\n", (unsigned long)ds.shm_nattch,
        ds.shm_lpid == getpid());
    if (write(go[1], "x", 1) != 1)
        return;
    int status;
    waitpid(kid, &status, 0);
    nattch_settles(id, 1);
    ds = st(id);
    SAY("child exited %d: nattch %lu lpid-is-child %d dtime-set %d\n", WEXITSTATUS(status),
        (unsigned long)ds.shm_nattch, ds.shm_lpid == kid, ds.shm_dtime != 0);
    /* a child that detaches itself before it exits */
    kid = fork();
    if (kid == 0) {
        int r = shmdt(p);
        struct shmid_ds d2 = st(id);
        SAY("child shmdt %d: nattch %lu lpid-is-me %d\n", r, (unsigned long)d2.shm_nattch,
            d2.shm_lpid == getpid());
        CHECK("child shmdt again", shmdt(p));
        _exit(0);
    }
    waitpid(kid, &status, 0);
    say_ds("child detached and exited", id);
    CHECK("shmdt", shmdt(p));
    say_ds("detached", id);
    CHECK("shmdt again", shmdt(p));
    CHECK("rmid", shmctl(id, IPC_RMID, NULL));
    close(up[0]);
    close(up[1]);
    close(go[0]);
    close(go[1]);
}

/* daemon()-style: a child forks a grandchild and exits; the orphan keeps
 * its inherited attach (and its copy of the data) */
static void double_fork(void)
{
    int id = shmget(IPC_PRIVATE, 4096, 0600);
    char *p = attach("double fork: shmat", id, 0);
    strcpy(p, "for the grandchild");
    int up[2], go[2], done[2];
    if (pipe(up) < 0 || pipe(go) < 0 || pipe(done) < 0)
        return;
    pid_t kid = fork();
    if (kid == 0) {
        if (fork() == 0) {
            char c;
            close(done[0]);
            if (write(up[1], "u", 1) != 1 || read(go[0], &c, 1) != 1) /* parent reaped */
                _exit(1);
            SAY("grandchild: nattch %lu, reads %s\n", nattch_settles(id, 2), p);
            SAY("grandchild shmdt %d\n", shmdt(p));
            _exit(0); /* done[1] closes: the parent's read ends */
        }
        /* we go once the grandchild runs: by then the shim has reported
         * its fork to the daemon (a child whose parent exits before that
         * report is orphaned first, and its inherited attach not counted) */
        char c;
        _exit(read(up[0], &c, 1) != 1);
    }
    close(done[1]);
    int st;
    waitpid(kid, &st, 0);
    if (write(go[1], "g", 1) != 1)
        return;
    char c;
    SAY("grandchild gone %zd\n", read(done[0], &c, 1));
    SAY("after the grandchild: nattch %lu\n", nattch_settles(id, 1));
    CHECK("shmdt", shmdt(p));
    CHECK("rmid", shmctl(id, IPC_RMID, NULL));
    close(up[0]);
    close(up[1]);
    close(go[0]);
    close(go[1]);
    close(done[0]);
}

static void rmid_while_attached(void)
{
    int id;
    KEEP(id, "shmget key", shmget(KEY + 1, 4096, IPC_CREAT | 0600));
    char *p = attach("shmat", id, 0);
    char *q = attach("shmat second", id, 0);
    SAY("second sees first %d\n", (strcpy(p, "same"), !strcmp(q, "same")));
    say_ds("two attaches", id);
    CHECK("rmid attached", shmctl(id, IPC_RMID, NULL));
    struct shmid_ds ds = st(id);
    SAY("removed: dest %d key-private %d nattch %lu\n", !!(ds.shm_perm.mode & SHM_DEST),
        ds.shm_perm.__key == IPC_PRIVATE, (unsigned long)ds.shm_nattch);
    CHECK("shmget removed key", shmget(KEY + 1, 0, 0));
    int fresh;
    KEEP(fresh, "shmget key again", shmget(KEY + 1, 4096, IPC_CREAT | 0600));
    SAY("new segment differs %d\n", fresh != id);
    CHECK("rmid fresh", shmctl(fresh, IPC_RMID, NULL));
    /* Linux lets a removed segment be attached by id until it is destroyed */
    char *r = attach("shmat removed", id, 0);
    SAY("removed still readable %d\n", r != (void *)-1 && !strcmp(r, "same"));
    say_ds("removed, three attaches", id);
    CHECK("shmdt 1", shmdt(p));
    CHECK("shmdt 2", shmdt(q));
    say_ds("removed, one attach", id);
    CHECK("rmid again while attached", shmctl(id, IPC_RMID, NULL));
    CHECK("shmdt 3", shmdt(r));
    CHECK("IPC_STAT destroyed", shmctl(id, IPC_STAT, &ds));
    errno = 0;
    SAY("shmat destroyed %s\n", shmat(id, NULL, 0) == (void *)-1 ? errname(errno) : "ok");
}

int main(void)
{
    sizes();
    fork_and_data();
    double_fork();
    rmid_while_attached();
    return 0;
}
