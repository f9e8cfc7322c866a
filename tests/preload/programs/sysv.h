/* Shared by the SysV differential programs (after common.h). */
#ifndef UIPC_TEST_SYSV_H
#define UIPC_TEST_SYSV_H
#include <signal.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

/* fork(), the child dying with its parent: a failed run leaves no sleeper. */
static inline pid_t kid(void)
{
    pid_t p = fork();
    if (p == 0)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    return p;
}

/* semctl(2)'s fourth argument: the caller defines it (<sys/sem.h> does not). */
union semun { int val; struct semid_ds *buf; unsigned short *array; struct seminfo *__buf; };

static inline unsigned long nattch(int id)
{
    struct shmid_ds ds;
    return shmctl(id, IPC_STAT, &ds) < 0 ? (unsigned long)-1 : (unsigned long)ds.shm_nattch;
}

/* shm_nattch once it is `want`, or what it is after 10 s.  Linux drops a
 * process's attachments before its parent can reap it (exit_mm) and at
 * exec; the uipc daemon learns of an exit or exec from the process's
 * connections and pidfd, so the check polls that state with a deadline. */
static inline unsigned long nattch_settles(int id, unsigned long want)
{
    struct timespec t0, now, tick = {0, 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        unsigned long n = nattch(id);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (n == want || now.tv_sec - t0.tv_sec > 10)
            return n;
        nanosleep(&tick, NULL);
    }
}
#endif
