/* A SysV message queue ping-pong between a parent and its child: an
 * ordinary C program that knows nothing of uipc.
 *
 *   gcc -O2 -o msg_pingpong msg_pingpong.c
 *   ./msg_pingpong 10000                              # the kernel's queues
 *   uipc run --preload --new-namespace -- ./msg_pingpong 10000   # uipc's
 *
 * Prints the median and 99th-percentile round trip in nanoseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct message { long mtype; char text[64]; };

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 10000;
    int warm = iters / 10;
    int q = msgget(IPC_PRIVATE, 0600);
    if (q < 0) {
        perror("msgget");
        return 1;
    }
    struct message m = {1, "ping"};
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < iters + warm; i++) {
            if (msgrcv(q, &m, sizeof m.text, 1, 0) < 0 || (m.mtype = 2, msgsnd(q, &m, sizeof m.text, 0)) < 0) {
                perror("child");
                _exit(1);
            }
        }
        _exit(0);
    }
    long long *samples = malloc(sizeof *samples * (size_t)iters);
    for (int i = 0; i < iters + warm; i++) {
        long long t0 = now_ns();
        m.mtype = 1;
        if (msgsnd(q, &m, sizeof m.text, 0) < 0 || msgrcv(q, &m, sizeof m.text, 2, 0) < 0) {
            perror("parent");
            return 1;
        }
        if (i >= warm)
            samples[i - warm] = now_ns() - t0;
    }
    int status;
    waitpid(child, &status, 0);
    msgctl(q, IPC_RMID, NULL);
    qsort(samples, (size_t)iters, sizeof *samples, cmp);
    printf("%lld %lld\n", samples[iters / 2], samples[iters * 99 / 100]);
    return status != 0;
}
