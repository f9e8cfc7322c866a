/* kill -9 of a process with attachments releases them; also the C side of
 * tests/preload/test_shm_shim.py.
 *
 * Without arguments (the differential run): a child attaches twice and is
 * killed with SIGKILL; shm_nattch goes back to 0.
 * `shm_holder hold KEY TEXT`: attach the segment of KEY, print what it
 * holds, write TEXT at its start, say "ready PID" and wait for a line on
 * stdin (or for a kill) before detaching. */
#include <signal.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"
#include "sysv.h"



static int hold(key_t key, const char *text)
{
    int id = shmget(key, 0, 0);
    char *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
    if (p == (void *)-1) {
        SAY("attach failed: %s\n", errname(errno));
        return 1;
    }
    SAY("found: %s\n", p);
    strcpy(p, text);
    SAY("ready %d\n", (int)getpid());
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return 1;
    SAY("shmdt %d\n", shmdt(p));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "hold"))
        return hold((key_t)strtol(argv[2], NULL, 0), argv[3]);
    int id;
    KEEP(id, "shmget", shmget(IPC_PRIVATE, 8192, 0600));
    int ready[2];
    if (pipe(ready) < 0)
        return 1;
    pid_t kid = fork();
    if (kid == 0) {
        char *a = shmat(id, NULL, 0), *b = shmat(id, NULL, SHM_RDONLY);
        if (a == (void *)-1 || b == (void *)-1)
            _exit(1);
        strcpy(a, "left by the killed child");
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char c;
    if (read(ready[0], &c, 1) != 1)
        return 1;
    SAY("child attached twice: nattch %lu\n", nattch(id));
    kill(kid, SIGKILL);
    int st;
    waitpid(kid, &st, 0);
    SAY("child killed by %s: nattch %lu\n", WIFSIGNALED(st) ? sigabbrev_np(WTERMSIG(st)) : "-",
        nattch_settles(id, 0));
    struct shmid_ds ds;
    shmctl(id, IPC_STAT, &ds);
    SAY("lpid-is-child %d dtime-set %d\n", ds.shm_lpid == kid, ds.shm_dtime != 0);
    char *p = shmat(id, NULL, SHM_RDONLY);
    SAY("the data stays: %s\n", p);
    CHECK("shmdt", shmdt(p));
    CHECK("rmid", shmctl(id, IPC_RMID, NULL));
    return 0;
}
