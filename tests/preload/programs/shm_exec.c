/* exec drops a process's attachments as Linux drops its mappings: a forked
 * child counts (shm_nattch) until it execs /bin/true or this program again;
 * the new image attaches afresh; vfork/posix_spawn children never count. */
#include <spawn.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"
#include "sysv.h"

extern char **environ;



/* The new image: it holds nothing of the old one's. */
static int after_exec(int id, int ready, int go)
{
    SAY("exec'd image: nattch %lu\n", nattch_settles(id, 1));
    char *p = shmat(id, NULL, 0);
    SAY("exec'd image attaches: %s, reads %s\n", p == (void *)-1 ? errname(errno) : "ok", p);
    SAY("exec'd image: nattch %lu\n", nattch(id));
    /* the parent looks while we live on, then lets us go */
    char c;
    if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1)
        return 1;
    int r = shmdt(p);
    SAY("exec'd image shmdt %d, nattch %lu\n", r, nattch(id));
    return 0;
}

/* exec'd but silent: alive, holding nothing, until told to go */
static int idle(int ready, int go)
{
    char c;
    if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1)
        return 1;
    return 0;
}

static void run_execer(const char *self, int id, const char *mode)
{
    int ready[2], go[2];
    if (pipe(ready) < 0 || pipe(go) < 0)
        return;
    pid_t kid = fork();
    if (kid == 0) {
        SAY("child before exec: nattch %lu\n", nattch(id));
        char a[16], r[16], g[16];
        snprintf(a, sizeof a, "%d", id);
        snprintf(r, sizeof r, "%d", ready[1]);
        snprintf(g, sizeof g, "%d", go[0]);
        execl(self, self, mode, a, r, g, (char *)NULL);
        _exit(127);
    }
    char c;
    if (read(ready[0], &c, 1) != 1)
        SAY("no ready\n");
    SAY("parent, %s image alive: nattch %lu\n", mode,
        nattch_settles(id, strcmp(mode, "idle") ? 2 : 1));
    if (write(go[1], "g", 1) != 1)
        return;
    int st;
    waitpid(kid, &st, 0);
    SAY("child exited %d: nattch %lu\n", WEXITSTATUS(st), nattch_settles(id, 1));
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

static void run_true(int id)
{
    pid_t kid = fork();
    if (kid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(kid, &st, 0);
    SAY("/bin/true exited %d: nattch %lu\n", WEXITSTATUS(st), nattch_settles(id, 1));
}

static void run_spawn(int id)
{
    pid_t kid;
    char *argv[] = {"true", NULL};
    int r = posix_spawn(&kid, "/bin/true", NULL, NULL, argv, environ);
    int st;
    waitpid(kid, &st, 0);
    SAY("posix_spawn %d, exited %d: nattch %lu\n", r, WEXITSTATUS(st), nattch(id));
    kid = vfork();
    if (kid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    waitpid(kid, &st, 0);
    SAY("vfork exited %d: nattch %lu\n", WEXITSTATUS(st), nattch(id));
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "attach"))
        return after_exec(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    if (argc == 5 && !strcmp(argv[1], "idle"))
        return idle(atoi(argv[3]), atoi(argv[4]));
    int id;
    KEEP(id, "shmget", shmget(IPC_PRIVATE, 4096, 0600));
    char *p = shmat(id, NULL, 0);
    strcpy(p, "before exec");
    SAY("attached: nattch %lu\n", nattch(id));
    run_true(id);
    run_execer(argv[0], id, "idle");
    run_execer(argv[0], id, "attach");
    run_spawn(id);
    CHECK("shmdt", shmdt(p));
    SAY("nattch %lu\n", nattch(id));
    CHECK("rmid", shmctl(id, IPC_RMID, NULL));
    return 0;
}
