/* SHM_RDONLY and SHM_EXEC: the mapping's protection (as /proc/self/maps
 * shows it), a write to a read-only attach kills a child with SIGSEGV,
 * mprotect cannot make it writable; shmat's permission checks (EACCES) as
 * another user, and root's CAP_IPC_OWNER. */
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"
#include "sysv.h"

#define PG 4096UL
#define NOBODY 65534

/* the permissions column of the mapping at p: "rw-s", "r--s"... */
static const char *perms(const void *p)
{
    static char out[8];
    snprintf(out, sizeof out, "none");
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return out;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char pr[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pr) == 3 && lo == (uintptr_t)p) {
            snprintf(out, sizeof out, "%s", pr);
            break;
        }
    }
    fclose(f);
    return out;
}

static char *attach(const char *label, int id, int flg)
{
    errno = 0;
    char *p = shmat(id, NULL, flg);
    if (p == (void *)-1)
        SAY("%s = -1 %s\n", label, errname(errno));
    else
        SAY("%s = ok, %s\n", label, perms(p));
    return p;
}



static void write_in_child(const char *label, char *p)
{
    pid_t kid = fork();
    if (kid == 0) {
        signal(SIGSEGV, SIG_DFL);
        p[0] = 'w';
        _exit(0);
    }
    int st;
    waitpid(kid, &st, 0);
    if (WIFSIGNALED(st))
        SAY("%s: child killed by %s\n", label, sigabbrev_np(WTERMSIG(st)));
    else
        SAY("%s: child exited %d\n", label, WEXITSTATUS(st));
}

static void modes(int id)
{
    char *rw = attach("read-write", id, 0);
    strcpy(rw, "written");
    char *ro = attach("SHM_RDONLY", id, SHM_RDONLY);
    SAY("read-only reads: %s\n", ro);
    SAY("nattch %lu\n", nattch(id));
    write_in_child("write read-only", ro);
    write_in_child("write read-write", rw);
    SAY("after the children: %s\n", ro);
    CHECK("mprotect read-only writable", mprotect(ro, PG, PROT_READ | PROT_WRITE));
    CHECK("mprotect read-only exec", mprotect(ro, PG, PROT_READ | PROT_EXEC));
    SAY("now %s\n", perms(ro));
    CHECK("mprotect read-write none", mprotect(rw, PG, PROT_NONE));
    SAY("now %s\n", perms(rw));
    CHECK("shmdt read-only", shmdt(ro));
    CHECK("shmdt read-write", shmdt(rw));
    char *x = attach("SHM_EXEC", id, SHM_EXEC);
    char *rx = attach("SHM_RDONLY|SHM_EXEC", id, SHM_RDONLY | SHM_EXEC);
    SAY("exec reads: %s\n", rx);
    write_in_child("write read-only exec", rx);
    CHECK("shmdt exec", shmdt(x));
    CHECK("shmdt read-only exec", shmdt(rx));
    SAY("nattch %lu\n", nattch_settles(id, 0));
}

/* shmat and shmctl as another user, in a child (ipcperms) */
static void as_nobody(const char *what, int id)
{
    pid_t kid = fork();
    if (kid == 0) {
        if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0) {
            SAY("setuid failed\n");
            _exit(1);
        }
        SAY("-- %s as uid %d\n", what, NOBODY);
        char *p = attach("  read-write", id, 0);
        if (p != (void *)-1)
            shmdt(p);
        p = attach("  SHM_RDONLY", id, SHM_RDONLY);
        if (p != (void *)-1) {
            SAY("  reads: %s\n", p);
            shmdt(p);
        }
        p = attach("  SHM_RDONLY|SHM_EXEC", id, SHM_RDONLY | SHM_EXEC);
        if (p != (void *)-1)
            shmdt(p);
        struct shmid_ds ds;
        CHECK("  IPC_STAT", shmctl(id, IPC_STAT, &ds));
        CHECK("  IPC_RMID", shmctl(id, IPC_RMID, NULL));
        _exit(0);
    }
    int st;
    waitpid(kid, &st, 0);
    SAY("child exited %d, nattch %lu\n", WEXITSTATUS(st), nattch(id));
}

int main(void)
{
    int id;
    KEEP(id, "shmget 0600", shmget(IPC_PRIVATE, PG, 0600));
    modes(id);
    as_nobody("0600", id);
    struct shmid_ds ds;
    memset(&ds, 0, sizeof ds);
    ds.shm_perm.uid = 0;
    ds.shm_perm.gid = 0;
    ds.shm_perm.mode = 0644;
    CHECK("IPC_SET 0644", shmctl(id, IPC_SET, &ds));
    as_nobody("0644", id);
    ds.shm_perm.mode = 0755;
    CHECK("IPC_SET 0755", shmctl(id, IPC_SET, &ds));
    as_nobody("0755", id);
    ds.shm_perm.mode = 0606;
    CHECK("IPC_SET 0606", shmctl(id, IPC_SET, &ds));
    as_nobody("0606 (other bits)", id);
    /* root needs no permission bits (CAP_IPC_OWNER) */
    ds.shm_perm.mode = 0;
    CHECK("IPC_SET 0000", shmctl(id, IPC_SET, &ds));
    char *p = attach("root read-write on 0000", id, 0);
    CHECK("shmdt", shmdt(p));
    p = attach("root SHM_EXEC on 0000", id, SHM_EXEC);
    CHECK("shmdt", shmdt(p));
    CHECK("rmid", shmctl(id, IPC_RMID, NULL));
    return 0;
}
