/* mq_timedsend/mq_timedreceive: absolute CLOCK_REALTIME deadlines, ETIMEDOUT,
 * EINVAL for a bad timespec (checked first), wake-ups before the deadline. */
#include <fcntl.h>
#include <mqueue.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

static struct timespec in_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static long since_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int main(void)
{
    mqd_t q;
    struct mq_attr a = {0};
    a.mq_maxmsg = 2, a.mq_msgsize = 32;
    KEEP(q, "create", mq_open("/timed", O_RDWR | O_CREAT | O_EXCL, 0600, &a));
    char buf[32];
    unsigned prio;

    /* empty queue */
    struct timespec start, t = in_ms(60);
    clock_gettime(CLOCK_REALTIME, &start);
    CHECK("receive until +60ms", mq_timedreceive(q, buf, sizeof buf, &prio, &t));
    SAY("waited until the deadline %d\n", since_ms(&start) >= 55);
    struct timespec past = {1, 0};
    CHECK("receive past deadline", mq_timedreceive(q, buf, sizeof buf, &prio, &past));
    struct timespec zero = {0, 0};
    CHECK("receive deadline 0", mq_timedreceive(q, buf, sizeof buf, &prio, &zero));
    struct timespec bad[] = {{0, -1}, {0, 1000000000L}, {-1, 0}, {-5, 500}};
    for (int i = 0; i < 4; i++) {
        char label[64];
        snprintf(label, sizeof label, "receive bad timespec %d", i);
        CHECK(label, mq_timedreceive(q, buf, sizeof buf, &prio, &bad[i]));
    }

    /* a message there: a past deadline does not matter, a bad one does */
    CHECK("send", mq_timedsend(q, "one", 3, 4, &past));
    CHECK("receive bad timespec, message there", mq_timedreceive(q, buf, sizeof buf, &prio, &bad[0]));
    CHECK("receive past deadline, message there", mq_timedreceive(q, buf, sizeof buf, &prio, &past));
    SAY("prio %u\n", prio);

    /* full queue */
    CHECK("send 1", mq_send(q, "1", 1, 0));
    CHECK("send 2", mq_send(q, "2", 1, 0));
    t = in_ms(60);
    clock_gettime(CLOCK_REALTIME, &start);
    CHECK("send full until +60ms", mq_timedsend(q, "3", 1, 0, &t));
    SAY("waited until the deadline %d\n", since_ms(&start) >= 55);
    CHECK("send full past deadline", mq_timedsend(q, "3", 1, 0, &past));
    CHECK("send full bad timespec", mq_timedsend(q, "3", 1, 0, &bad[1]));
    CHECK("send bad prio and bad timespec", mq_timedsend(q, "3", 1, 99999, &bad[1]));
    CHECK("send bad prio", mq_timedsend(q, "3", 1, 99999, &past));
    CHECK("receive", mq_receive(q, buf, sizeof buf, &prio));
    CHECK("send not full bad timespec", mq_timedsend(q, "3", 1, 0, &bad[2]));
    CHECK("receive", mq_receive(q, buf, sizeof buf, &prio));

    /* non-blocking: EAGAIN, never ETIMEDOUT; EINVAL still first */
    struct mq_attr nb = {.mq_flags = O_NONBLOCK};
    CHECK("setattr O_NONBLOCK", mq_setattr(q, &nb, NULL));
    CHECK("receive empty nonblock", mq_timedreceive(q, buf, sizeof buf, &prio, &past));
    CHECK("receive empty nonblock bad timespec", mq_timedreceive(q, buf, sizeof buf, &prio, &bad[0]));
    nb.mq_flags = 0;
    CHECK("setattr blocking", mq_setattr(q, &nb, NULL));

    /* woken before the deadline: a child sends (whenever it runs, the
     * receive returns its message, long before the deadline) */
    pid_t p = fork();
    if (p == 0) {
        mqd_t c = mq_open("/timed", O_WRONLY);
        _exit(mq_send(c, "from child", 10, 9) == 0 ? 0 : 1);
    }
    t = in_ms(30000);
    memset(buf, 0, sizeof buf);
    CHECK("receive until +30s", mq_timedreceive(q, buf, sizeof buf, &prio, &t));
    SAY("got '%s' prio %u\n", buf, prio);
    int st;
    waitpid(p, &st, 0);
    SAY("child exit %d\n", WEXITSTATUS(st));

    /* a full queue: a child makes room */
    CHECK("fill 1", mq_send(q, "a", 1, 0));
    CHECK("fill 2", mq_send(q, "b", 1, 0));
    p = fork();
    if (p == 0) {
        mqd_t c = mq_open("/timed", O_RDONLY);
        char b[32];
        _exit(mq_receive(c, b, sizeof b, NULL) == 1 ? 0 : 1);
    }
    t = in_ms(30000);
    CHECK("send until +30s", mq_timedsend(q, "c", 1, 0, &t));
    waitpid(p, &st, 0);
    SAY("child exit %d\n", WEXITSTATUS(st));
    struct mq_attr now;
    mq_getattr(q, &now);
    SAY("curmsgs %ld\n", now.mq_curmsgs);
    CHECK("close", mq_close(q));
    CHECK("unlink", mq_unlink("/timed"));
    return 0;
}
