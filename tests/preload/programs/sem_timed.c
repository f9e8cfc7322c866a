/* semtimedop: a timeout that passes is EAGAIN (and leaves no sleeper), a
 * zero timeout polls, NULL waits like semop; a bad timespec is EINVAL, in
 * the kernel's order among the other checks; a sleeper with a timeout is
 * woken by the operation it waits for. */
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <signal.h>
#include <sys/prctl.h>
#include "common.h"
#include "sysv.h"

/* fork, the child killed if this program dies first (a failed run leaves
 * no sleeper behind) */


static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int timed(int id, unsigned short num, short val, short flg, long sec, long nsec)
{
    struct sembuf sb = {num, val, flg};
    struct timespec ts = {sec, nsec};
    return semtimedop(id, &sb, 1, &ts);
}

static void wait_ncnt(int id, int num, int want)
{
    for (long i = 0; semctl(id, num, GETNCNT) != want; i++) {
        if (i > 20000000) {
            SAY("timed out waiting for GETNCNT %d\n", want);
            exit(2);
        }
        usleep(100);
    }
}

int main(void)
{
    int id;
    KEEP(id, "semget", semget(IPC_PRIVATE, 2, 0600));
    double t0 = now();
    CHECK("-1 with 50 ms", timed(id, 0, -1, 0, 0, 50000000));
    double waited = now() - t0;
    SAY("waited at least 40 ms: %d\n", waited >= 0.040);
    CHECK("GETNCNT after the timeout", semctl(id, 0, GETNCNT));
    CHECK("-1 with 0 s", timed(id, 0, -1, 0, 0, 0));
    CHECK("zero wait on 0 with 0 s", timed(id, 0, 0, 0, 0, 0));
    CHECK("SETVAL 1 = 1", semctl(id, 1, SETVAL, (union semun){.val = 1}));
    CHECK("zero wait on 1 with 20 ms", timed(id, 1, 0, 0, 0, 20000000));
    CHECK("GETZCNT after the timeout", semctl(id, 1, GETZCNT));
    CHECK("-1 nowait with a timeout", timed(id, 0, -1, IPC_NOWAIT, 5, 0));
    CHECK("+1 with a timeout", timed(id, 0, 1, 0, 5, 0));
    CHECK("-1 with a timeout (available)", timed(id, 0, -1, 0, 5, 0));
    struct sembuf sb = {0, -1, IPC_NOWAIT};
    CHECK("NULL timeout nowait", semtimedop(id, &sb, 1, NULL));

    /* bad timespecs, even for an operation that would not block */
    CHECK("tv_nsec -1", timed(id, 0, 1, 0, 0, -1));
    CHECK("tv_nsec 1e9", timed(id, 0, 1, 0, 0, 1000000000));
    CHECK("tv_sec -1", timed(id, 0, 1, 0, -1, 0));
    CHECK("tv_nsec 999999999 ok", timed(id, 0, 1, 0, 0, 999999999));
    CHECK("GETVAL 0", semctl(id, 0, GETVAL));
    CHECK("huge tv_sec ok", timed(id, 0, -1, 0, 0x7fffffffffffffffL, 999999999));
    /* ...and their order among the other errors */
    struct timespec bad = {0, -1};
    static struct sembuf many[501];
    CHECK("bad ts, nsops 0", semtimedop(id, many, 0, &bad));
    CHECK("ts pointer bad, nsops 0", semtimedop(id, many, 0, (struct timespec *)8));
    CHECK("ts pointer bad, 501 ops", semtimedop(id, many, 501, (struct timespec *)8));
    CHECK("bad ts, sops pointer bad", semtimedop(id, (struct sembuf *)8, 1, &bad));
    CHECK("bad ts, sops pointer bad, 501 ops", semtimedop(id, (struct sembuf *)8, 501, &bad));
    CHECK("bad ts, 501 ops", semtimedop(id, many, 501, &bad));
    CHECK("bad ts, NULL sops", semtimedop(id, NULL, 1, &bad));
    CHECK("bad ts, semid -1", semtimedop(-1, many, 1, &bad));
    CHECK("bad ts, no such set", semtimedop(id + 32768, many, 1, &bad));
    struct sembuf far = {7, 1, 0};
    CHECK("bad ts, sem_num too big", semtimedop(id, &far, 1, &bad));
    CHECK("good ts, sem_num too big", semtimedop(id, &far, 1, &(struct timespec){1, 0}));

    /* a sleeper with a long timeout, woken by the parent */
    pid_t p = kid();
    if (p == 0) {
        int r = timed(id, 0, -2, 0, 60, 0);
        _exit(r == -1 ? errno : 0);
    }
    wait_ncnt(id, 0, 1);
    CHECK("+2 for the sleeper", semop(id, (struct sembuf[]){{0, 2, 0}}, 1));
    int st;
    waitpid(p, &st, 0);
    SAY("sleeper: %s\n", WEXITSTATUS(st) ? errname(WEXITSTATUS(st)) : "0");
    CHECK("GETVAL 0 after", semctl(id, 0, GETVAL));
    /* a sleeper whose timeout passes leaves nothing waiting */
    p = kid();
    if (p == 0) {
        int r = timed(id, 0, -1, 0, 0, 100000000);
        _exit(r == -1 ? errno : 0);
    }
    waitpid(p, &st, 0);
    SAY("timed sleeper: %s\n", WEXITSTATUS(st) ? errname(WEXITSTATUS(st)) : "0");
    CHECK("GETNCNT 0", semctl(id, 0, GETNCNT));
    CHECK("+1 stays (no sleeper left)", semop(id, (struct sembuf[]){{0, 1, 0}}, 1));
    CHECK("GETVAL 0", semctl(id, 0, GETVAL));
    CHECK("IPC_RMID", semctl(id, 0, IPC_RMID));
    return 0;
}
