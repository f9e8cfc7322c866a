/* SEM_UNDO: a child's adjustments are reverted when it exits (clamped to
 * [0, SEMVMX], sempid set to the exiting child), not inherited by fork, kept
 * across exec until the new image exits, cleared by SETVAL/SETALL; semadj
 * stays within [-(SEMAEM+1), SEMAEM] (ERANGE beyond).
 *
 * Linux runs exit_sem before a child can be reaped, so every value is
 * checked right after waitpid. */
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/prctl.h>
#include "common.h"
#include "sysv.h"

/* fork, the child killed if this program dies first (a failed run leaves
 * no sleeper behind) */


static int op(int id, unsigned short num, short val, short flg)
{
    struct sembuf sb = {num, val, flg};
    return semop(id, &sb, 1);
}

static int getval(int id, int num) { return semctl(id, num, GETVAL); }

static int setval(int id, int num, int v)
{
    return semctl(id, num, SETVAL, (union semun){.val = v});
}

/* A child that runs `ops` (one semop each), says so on `ready`, waits for a
 * byte on `go`, and exits: its undo applies at that exit. */
struct holder {
    pid_t pid;
    int go;
};

static struct holder start_kid(int id, const struct sembuf *ops, int n)
{
    int ready[2], go[2];
    if (pipe(ready) || pipe(go))
        exit(2);
    pid_t p = kid();
    if (p == 0) {
        close(ready[0]);
        close(go[1]);
        char r = 0;
        for (int i = 0; i < n; i++) {
            struct sembuf sb = ops[i];
            if (semop(id, &sb, 1) < 0 && !r)
                r = (char)errno;
        }
        if (write(ready[1], &r, 1) != 1 || read(go[0], &r, 1) < 0)
            _exit(3);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    char r;
    if (read(ready[0], &r, 1) != 1)
        exit(2);
    close(ready[0]);
    if (r)
        SAY("kid's semop failed: %s\n", errname(r));
    return (struct holder){p, go[1]};
}

static void end_kid(struct holder k)
{
    close(k.go); /* read() returns 0: the kid exits */
    int st;
    waitpid(k.pid, &st, 0);
}

static void exit_cases(int id)
{
    struct holder k = start_kid(id, (struct sembuf[]){{0, 3, SEM_UNDO}}, 1);
    CHECK("kid +3 undo: value while it lives", getval(id, 0));
    end_kid(k);
    CHECK("after its exit", getval(id, 0));
    CHECK("GETPID is the kid", semctl(id, 0, GETPID) == k.pid);

    CHECK("SETVAL 0 = 5", setval(id, 0, 5));
    k = start_kid(id, (struct sembuf[]){{0, -2, SEM_UNDO}, {0, -1, SEM_UNDO}, {1, 4, 0}}, 3);
    CHECK("kid -2 -1 undo, +4 no undo: 0", getval(id, 0));
    CHECK("1", getval(id, 1));
    end_kid(k);
    CHECK("after exit: 0", getval(id, 0));
    CHECK("after exit: 1 (no undo)", getval(id, 1));

    /* an undo that would go below 0 is clamped there */
    CHECK("SETVAL 0 = 0", setval(id, 0, 0));
    k = start_kid(id, (struct sembuf[]){{0, 5, SEM_UNDO}}, 1);
    CHECK("parent -3 without undo", op(id, 0, -3, 0));
    end_kid(k);
    CHECK("clamped at 0", getval(id, 0));

    /* and above SEMVMX at SEMVMX */
    CHECK("SETVAL 0 = 10", setval(id, 0, 10));
    k = start_kid(id, (struct sembuf[]){{0, -5, SEM_UNDO}}, 1);
    CHECK("parent +32762 without undo", op(id, 0, 32762, 0));
    CHECK("value 32767", getval(id, 0));
    end_kid(k);
    CHECK("clamped at SEMVMX", getval(id, 0));

    /* SETVAL and SETALL clear every process's adjustment */
    CHECK("SETVAL 0 = 0", setval(id, 0, 0));
    k = start_kid(id, (struct sembuf[]){{0, 2, SEM_UNDO}, {1, 2, SEM_UNDO}}, 2);
    CHECK("SETVAL 0 = 7 (clears its semadj on 0)", setval(id, 0, 7));
    end_kid(k);
    CHECK("0 kept 7", getval(id, 0));
    CHECK("1 undone", getval(id, 1));
    k = start_kid(id, (struct sembuf[]){{0, 1, SEM_UNDO}, {1, 1, SEM_UNDO}}, 2);
    CHECK("SETALL 4 4", semctl(id, 0, SETALL, (union semun){.array = (unsigned short[]){4, 4}}));
    end_kid(k);
    CHECK("0 kept 4", getval(id, 0));
    CHECK("1 kept 4", getval(id, 1));

    CHECK("SETALL 0 0", semctl(id, 0, SETALL, (union semun){.array = (unsigned short[]){0, 0}}));
}

static void semadj_limits(int id)
{
    CHECK("SETVAL 0 = 0", setval(id, 0, 0));
    CHECK("+32767 undo (semadj -32767)", op(id, 0, 32767, SEM_UNDO));
    CHECK("-32767 no undo", op(id, 0, -32767, 0));
    CHECK("+1 undo (semadj -32768)", op(id, 0, 1, SEM_UNDO));
    CHECK("-1 no undo", op(id, 0, -1, 0));
    CHECK("+1 undo (semadj -32769)", op(id, 0, 1, SEM_UNDO));
    CHECK("+1 undo nowait", op(id, 0, 1, SEM_UNDO | IPC_NOWAIT));
    CHECK("value 0", getval(id, 0));
    CHECK("SETVAL 1 = 32767 (clears semadj)", setval(id, 1, 32767));
    CHECK("-32767 undo (semadj 32767)", op(id, 1, -32767, SEM_UNDO));
    CHECK("+32767 no undo", op(id, 1, 32767, 0));
    CHECK("-1 undo (semadj 32768)", op(id, 1, -1, SEM_UNDO));
    CHECK("value 32767", getval(id, 1));
    /* two ops on one semaphore in one call: the range is checked per op */
    struct sembuf pair[2] = {{1, -1, 0}, {1, -1, SEM_UNDO}};
    CHECK("pair: -1, -1 undo (semadj 32768)", semop(id, pair, 2));
    CHECK("value still 32767", getval(id, 1));
    CHECK("SETALL 0 0", semctl(id, 0, SETALL, (union semun){.array = (unsigned short[]){0, 0}}));
}

/* fork does not share or copy the undo list (no CLONE_SYSVSEM) */
static void fork_case(int id)
{
    CHECK("parent +1 undo", op(id, 0, 1, SEM_UNDO));
    pid_t p = kid();
    if (p == 0)
        _exit(0);
    int st;
    waitpid(p, &st, 0);
    CHECK("after a child's exit: still 1", getval(id, 0));
    CHECK("parent -1 undo (its semadj back to 0)", op(id, 0, -1, SEM_UNDO));
}

/* exec keeps the undo list: it applies when the new image exits */
static void exec_case(const char *self, int id)
{
    int ready[2], go[2];
    if (pipe(ready) || pipe(go))
        exit(2);
    pid_t p = kid();
    if (p == 0) {
        close(ready[0]);
        close(go[1]);
        if (op(id, 0, 2, SEM_UNDO) < 0)
            _exit(3);
        char rfd[16], gfd[16];
        snprintf(rfd, sizeof rfd, "%d", ready[1]);
        snprintf(gfd, sizeof gfd, "%d", go[0]);
        execl(self, self, "exec-image", rfd, gfd, (char *)NULL);
        _exit(4);
    }
    close(ready[1]);
    close(go[0]);
    char r;
    CHECK("the new image is up", read(ready[0], &r, 1));
    CHECK("value while the new image lives", getval(id, 0));
    close(go[1]);
    int st;
    waitpid(p, &st, 0);
    CHECK("exec'd image exit status", WIFEXITED(st) ? WEXITSTATUS(st) : -2);
    CHECK("after the new image's exit", getval(id, 0));
    close(ready[0]);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "exec-image")) {
        /* the exec'd child: no IPC call of its own */
        int ready = atoi(argv[2]), go = atoi(argv[3]);
        char c = 1;
        if (write(ready, &c, 1) != 1)
            return 5;
        while (read(go, &c, 1) > 0)
            ;
        return 0;
    }
    int id;
    KEEP(id, "semget", semget(IPC_PRIVATE, 2, 0600));
    exit_cases(id);
    semadj_limits(id);
    fork_case(id);
    exec_case(argv[0], id);
    /* a removed set: the undo of a kid on it is dropped with the set */
    int id2;
    KEEP(id2, "semget another", semget(IPC_PRIVATE, 1, 0600));
    struct holder k = start_kid(id2, (struct sembuf[]){{0, 1, SEM_UNDO}}, 1);
    CHECK("IPC_RMID with a kid's undo", semctl(id2, 0, IPC_RMID));
    KEEP(id2, "semget again", semget(IPC_PRIVATE, 1, 0600));
    end_kid(k);
    CHECK("the new set untouched", getval(id2, 0));
    CHECK("IPC_RMID", semctl(id2, 0, IPC_RMID));
    CHECK("IPC_RMID", semctl(id, 0, IPC_RMID));
    return 0;
}
