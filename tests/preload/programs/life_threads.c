/* Threads: each has its own connection; one blocked in msgrcv does not hold
 * back another's calls (no global lock across a blocking call). */
#include <pthread.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include "common.h"

struct m { long mtype; char text[16]; };
static int q;

static void *receiver(void *arg)
{
    long type = (long)arg;
    struct m b;
    ssize_t n = msgrcv(q, &b, sizeof b.text, type, 0);
    return (void *)(n == 6 && b.mtype == type ? 1L : 0L);
}

int main(void)
{
    KEEP(q, "msgget", msgget(IPC_PRIVATE, 0600));
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, receiver, (void *)(i + 1));
    /* whether or not the receivers sleep yet, each message has exactly one
     * taker (its type), and this thread's sends are not held back by them */
    for (long i = 4; i >= 1; i--) {
        struct m a = {i, "hello"};
        CHECK("msgsnd", msgsnd(q, &a, 6, 0));
    }
    long ok = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        ok += (long)r;
    }
    SAY("threads that got their message: %ld\n", ok);
    struct msqid_ds ds;
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    SAY("qnum %lu\n", (unsigned long)ds.msg_qnum);
    CHECK("IPC_RMID", msgctl(q, IPC_RMID, NULL));
    return 0;
}
