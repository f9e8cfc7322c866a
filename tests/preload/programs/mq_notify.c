/* mq_notify: SIGEV_SIGNAL (si_code SI_MESGQ, the sender's pid and uid, the
 * value), one registrant (EBUSY), one shot, only on an empty queue, removed
 * by mq_notify(NULL) and by the owner's close; SIGEV_THREAD runs the
 * function in a new thread with its value and attributes; SIGEV_NONE. */
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

static int pipefd[2];
static pthread_t main_thread;

static mqd_t open_q(const char *name)
{
    struct mq_attr a = {0};
    a.mq_maxmsg = 4, a.mq_msgsize = 16;
    return mq_open(name, O_RDWR | O_CREAT | O_NONBLOCK, 0600, &a);
}

static void drain(mqd_t q)
{
    char buf[16];
    while (mq_receive(q, buf, sizeof buf, NULL) >= 0)
        ;
}

/* a pending SIGUSR1, taken without waiting: its siginfo line, or "none" */
static void take_signal(const char *label, pid_t sender)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    siginfo_t si;
    struct timespec zero = {0, 0};
    int s = sigtimedwait(&set, &si, &zero);
    if (s < 0) {
        SAY("%s: no signal (%s)\n", label, errname(errno));
        return;
    }
    SAY("%s: signo %d SI_MESGQ %d value %d pid-is-sender %d uid %d\n", label, s,
        si.si_code == SI_MESGQ, si.si_value.sival_int, si.si_pid == sender,
        (int)si.si_uid == (int)getuid());
}

/* run a check in a forked child (another process), and wait for it */
#define IN_CHILD(body)                                                        \
    do {                                                                      \
        pid_t p_ = fork();                                                    \
        if (p_ == 0) {                                                        \
            body;                                                             \
            _exit(0);                                                         \
        }                                                                     \
        int st_;                                                              \
        waitpid(p_, &st_, 0);                                                 \
    } while (0)

static void signals(void)
{
    mqd_t q = open_q("/sig");
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 42;
    CHECK("register SIGEV_SIGNAL", mq_notify(q, &ev));
    CHECK("register again (same process)", mq_notify(q, &ev));
    IN_CHILD(CHECK("child: register", mq_notify(q, &ev));
             CHECK("child: unregister someone else's", mq_notify(q, NULL)));
    CHECK("send to empty", mq_send(q, "x", 1, 0));
    take_signal("after first send", getpid());
    CHECK("register again after firing", mq_notify(q, &ev));
    CHECK("send to non-empty", mq_send(q, "y", 1, 0));
    take_signal("non-empty queue", getpid());
    drain(q);
    /* a child sends: the signal carries its pid */
    pid_t child = fork();
    if (child == 0) {
        mqd_t c = mq_open("/sig", O_WRONLY);
        _exit(mq_send(c, "c", 1, 0) == 0 ? 0 : 1);
    }
    int st;
    waitpid(child, &st, 0);
    take_signal("child sent", child);
    drain(q);
    take_signal("registration gone", getpid());
    CHECK("send to empty, nobody registered", mq_send(q, "z", 1, 0));
    take_signal("nobody registered", getpid());
    drain(q);

    /* unregistering lets another process register */
    CHECK("register", mq_notify(q, &ev));
    CHECK("unregister", mq_notify(q, NULL));
    CHECK("unregister again", mq_notify(q, NULL));
    IN_CHILD(CHECK("child: register after unregister", mq_notify(q, &ev));
             CHECK("child: unregister", mq_notify(q, NULL)));
    /* the owner's close of a descriptor of the queue removes it */
    mqd_t q2 = mq_open("/sig", O_RDONLY);
    CHECK("register", mq_notify(q, &ev));
    CHECK("close another descriptor", mq_close(q2));
    IN_CHILD(CHECK("child: register after the owner's close", mq_notify(q, &ev)));
    /* signal 0 is valid and sends nothing; bad ones are EINVAL */
    ev.sigev_signo = 0;
    CHECK("register signal 0", mq_notify(q, &ev));
    CHECK("send", mq_send(q, "0", 1, 0));
    take_signal("signal 0", getpid());
    drain(q);
    ev.sigev_signo = 65;
    CHECK("register signal 65", mq_notify(q, &ev));
    ev.sigev_signo = -1;
    CHECK("register signal -1", mq_notify(q, &ev));
    ev.sigev_notify = 12345;
    CHECK("register sigev_notify 12345", mq_notify(q, &ev));
    ev.sigev_notify = SIGEV_THREAD_ID;
    CHECK("register SIGEV_THREAD_ID", mq_notify(q, &ev));
    CHECK("close", mq_close(q));
    CHECK("unlink", mq_unlink("/sig"));
}

static void none(void)
{
    mqd_t q = open_q("/none");
    struct sigevent ev = {.sigev_notify = SIGEV_NONE};
    CHECK("register SIGEV_NONE", mq_notify(q, &ev));
    IN_CHILD(CHECK("child: register while SIGEV_NONE is", mq_notify(q, &ev)));
    CHECK("send", mq_send(q, "n", 1, 0));
    IN_CHILD(CHECK("child: register after it fired", mq_notify(q, &ev));
             CHECK("child: unregister", mq_notify(q, NULL)));
    CHECK("close", mq_close(q));
    CHECK("unlink", mq_unlink("/none"));
}

struct report {
    int value;
    int other_thread;
    int detached;
    int usr1_blocked;
    size_t stacksize;
};

static void notified(union sigval v)
{
    struct report r = {v.sival_int, !pthread_equal(pthread_self(), main_thread), -1, -1, 0};
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getdetachstate(&attr, &r.detached);
        pthread_attr_getstacksize(&attr, &r.stacksize);
        pthread_attr_destroy(&attr);
    }
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    r.usr1_blocked = sigismember(&mask, SIGUSR1);
    ssize_t w = write(pipefd[1], &r, sizeof r);
    (void)w;
}

static void threads(void)
{
    mqd_t q = open_q("/thr");
    if (pipe(pipefd) < 0)
        return;
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = notified;
    ev.sigev_value.sival_int = 7;
    CHECK("register SIGEV_THREAD", mq_notify(q, &ev));
    IN_CHILD(CHECK("child: register", mq_notify(q, &ev)));
    CHECK("send", mq_send(q, "t", 1, 0));
    struct report r;
    ssize_t n = read(pipefd[0], &r, sizeof r);
    SAY("callback %zd: value %d other thread %d detached %d SIGUSR1 blocked %d\n", n, r.value,
        r.other_thread, r.detached == PTHREAD_CREATE_DETACHED, r.usr1_blocked);
    drain(q);

    /* with attributes: their stack size */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    ev.sigev_notify_attributes = &attr;
    ev.sigev_value.sival_int = 8;
    CHECK("register with attributes", mq_notify(q, &ev));
    pthread_attr_destroy(&attr); /* glibc keeps its own copy */
    CHECK("send", mq_send(q, "u", 1, 0));
    n = read(pipefd[0], &r, sizeof r);
    SAY("callback %zd: value %d other thread %d stack 1MiB %d\n", n, r.value, r.other_thread,
        r.stacksize == 1 << 20);
    drain(q);

    /* unregistered: never runs; then a registration that does */
    ev.sigev_notify_attributes = NULL;
    ev.sigev_value.sival_int = 9;
    CHECK("register", mq_notify(q, &ev));
    CHECK("unregister", mq_notify(q, NULL));
    CHECK("send, nobody registered", mq_send(q, "v", 1, 0));
    drain(q);
    ev.sigev_value.sival_int = 10;
    CHECK("register", mq_notify(q, &ev));
    CHECK("send", mq_send(q, "w", 1, 0));
    n = read(pipefd[0], &r, sizeof r);
    SAY("callback %zd: value %d (9 never ran)\n", n, r.value);
    drain(q);
    /* a fork child's own registration runs in the child */
    IN_CHILD(ev.sigev_value.sival_int = 11; CHECK("child: register", mq_notify(q, &ev));
             CHECK("child: send", mq_send(q, "c", 1, 0));
             struct report cr; ssize_t k = read(pipefd[0], &cr, sizeof cr);
             SAY("child callback %zd: value %d\n", k, cr.value));
    CHECK("close", mq_close(q));
    CHECK("unlink", mq_unlink("/thr"));
}

int main(void)
{
    main_thread = pthread_self();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signals();
    none();
    threads();
    return 0;
}
