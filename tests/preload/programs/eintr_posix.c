/* EINTR for the POSIX calls, as signal(7) says: a caught signal interrupts
 * a blocked mq_receive, mq_send, mq_timedreceive, mq_timedsend and sem_wait
 * with EINTR unless the handler has SA_RESTART, which restarts them; a
 * sem_timedwait and sem_clockwait (a futex wait with a timeout) fail with
 * EINTR either way.  Each case blocks in a child; the parent sees it asleep
 * (its state in /proc, once it has made a first call that does not block),
 * signals it, waits for the handler to have run, and only then makes the
 * call able to complete. */
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

static mqd_t q;
static sem_t *sem;
static int ack[2];

static void handler(int sig)
{
    (void)sig;
    char b = 1;
    ssize_t w = write(ack[1], &b, 1);
    (void)w;
}

static struct timespec in_30s(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += 30;
    return t;
}

static long do_receive(void)
{
    char buf[8];
    return mq_receive(q, buf, sizeof buf, NULL);
}

static long do_timedreceive(void)
{
    char buf[8];
    struct timespec t = in_30s(CLOCK_REALTIME);
    return mq_timedreceive(q, buf, sizeof buf, NULL, &t);
}

static long do_send(void) { return mq_send(q, "s", 1, 0); }

static long do_timedsend(void)
{
    struct timespec t = in_30s(CLOCK_REALTIME);
    return mq_timedsend(q, "s", 1, 0, &t);
}

static long do_sem_wait(void) { return sem_wait(sem); }

static long do_sem_timedwait(void)
{
    struct timespec t = in_30s(CLOCK_REALTIME);
    return sem_timedwait(sem, &t);
}

static long do_sem_clockwait(void)
{
    struct timespec t = in_30s(CLOCK_MONOTONIC);
    return sem_clockwait(sem, CLOCK_MONOTONIC, &t);
}

static void wake_receiver(void) { mq_send(q, "w", 1, 0); }

static void wake_sender(void)
{
    char buf[8];
    mq_receive(q, buf, sizeof buf, NULL);
}

static void wake_sem(void) { sem_post(sem); }

/* Is `pid` asleep (state S in /proc/PID/stat), within 10 s? */
static int wait_asleep(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 10000; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return 0;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *end = strrchr(buf, ')');
        if (end && end[1] == ' ' && end[2] == 'S')
            return 1;
        if (end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X'))
            return 0;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return 0;
}

/* Has `pid` exited, within 10 s?  (Its status in *st.) */
static int wait_exit(pid_t pid, int *st)
{
    for (int i = 0; i < 10000; i++) {
        if (waitpid(pid, st, WNOHANG) == pid)
            return 1;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return 0;
}

struct scenario {
    const char *name;
    long (*block)(void);
    void (*wake)(void);
    int full; /* the queue is full before the call */
    int timed_futex; /* a futex wait with a timeout: EINTR even with SA_RESTART */
};

static void run(const struct scenario *s, int restart)
{
    /* the queue: empty for a receiver, full (one message) for a sender */
    char buf[8];
    struct mq_attr nonblocking = {.mq_flags = O_NONBLOCK};
    mq_setattr(q, &nonblocking, NULL);
    while (mq_receive(q, buf, sizeof buf, NULL) >= 0)
        ;
    if (s->full)
        mq_send(q, "f", 1, 0);
    while (sem_trywait(sem) == 0)
        ;
    struct mq_attr blocking = {0};
    mq_setattr(q, &blocking, NULL);
    int ready[2];
    if (pipe(ready) < 0 || pipe(ack) < 0)
        return;
    pid_t p = fork();
    if (p == 0) {
        struct sigaction sa = {.sa_handler = handler, .sa_flags = restart ? SA_RESTART : 0};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, NULL);
        /* a first call that does not block: nothing else sleeps after this */
        struct mq_attr a;
        int v;
        mq_getattr(q, &a);
        sem_getvalue(sem, &v);
        char b = 1;
        if (write(ready[1], &b, 1) != 1)
            _exit(2);
        errno = 0;
        long r = s->block();
        int e = errno;
        SAY("%s, %s: %ld %s\n", s->name, restart ? "SA_RESTART" : "no SA_RESTART", r,
            r < 0 ? errname(e) : "");
        _exit(0);
    }
    char b;
    int asleep = read(ready[0], &b, 1) == 1 && wait_asleep(p);
    kill(p, SIGUSR1);
    int handled = read(ack[0], &b, 1) == 1;
    /* A call signal(7) says is interrupted is left alone: it returns by
     * itself (woken only past a deadline, so that a call restarted wrongly
     * shows as a result instead of a hang).  A restarted one can complete
     * only now that the handler has run: it returns its result. */
    int st, exited = 0;
    int eintr = !restart || s->timed_futex;
    if (eintr)
        exited = wait_exit(p, &st);
    if (!exited) {
        s->wake();
        waitpid(p, &st, 0);
    }
    SAY("  asleep %d handled %d returned by itself %d exit %d\n", asleep, handled, exited,
        WEXITSTATUS(st));
    close(ready[0]);
    close(ready[1]);
    close(ack[0]);
    close(ack[1]);
}

int main(void)
{
    struct mq_attr a = {0};
    a.mq_maxmsg = 1, a.mq_msgsize = 8;
    q = mq_open("/eintr", O_RDWR | O_CREAT | O_NONBLOCK, 0600, &a);
    sem = sem_open("/eintr", O_CREAT, 0600, 0);
    if (q < 0 || sem == SEM_FAILED) {
        SAY("setup failed: %s\n", errname(errno));
        return 1;
    }
    static const struct scenario cases[] = {
        {"mq_receive", do_receive, wake_receiver, 0, 0},
        {"mq_timedreceive", do_timedreceive, wake_receiver, 0, 0},
        {"mq_send", do_send, wake_sender, 1, 0},
        {"mq_timedsend", do_timedsend, wake_sender, 1, 0},
        {"sem_wait", do_sem_wait, wake_sem, 0, 0},
        {"sem_timedwait", do_sem_timedwait, wake_sem, 0, 1},
        {"sem_clockwait", do_sem_clockwait, wake_sem, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run(&cases[i], 1);
        run(&cases[i], 0);
    }
    mq_close(q);
    mq_unlink("/eintr");
    sem_close(sem);
    sem_unlink("/eintr");
    return 0;
}
