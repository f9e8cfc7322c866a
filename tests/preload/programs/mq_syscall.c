/* The raw POSIX mq syscalls, syscall(SYS_mq_*, ...): the kernel's semantics
 * without glibc's wrappers (names without the leading '/', EPERM from
 * mq_unlink), on the same queues the wrappers see. */
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

int main(void)
{
    struct mq_attr a = {0};
    a.mq_maxmsg = 3, a.mq_msgsize = 16;
    long q;
    KEEP(q, "SYS_mq_open raw", syscall(SYS_mq_open, "raw", O_RDWR | O_CREAT | O_EXCL, 0600, &a));
    CHECK("SYS_mq_open raw again O_EXCL", syscall(SYS_mq_open, "raw", O_RDWR | O_CREAT | O_EXCL, 0600, &a));
    CHECK("SYS_mq_open /raw", syscall(SYS_mq_open, "/raw", O_RDWR, 0, NULL));
    CHECK("SYS_mq_open empty", syscall(SYS_mq_open, "", O_RDWR, 0, NULL));
    CHECK("SYS_mq_open missing", syscall(SYS_mq_open, "missing", O_RDWR, 0, NULL));
    mqd_t g;
    KEEP(g, "mq_open /raw (the same queue)", mq_open("/raw", O_RDWR));

    CHECK("SYS_mq_timedsend", syscall(SYS_mq_timedsend, q, "hello", 5, 3, NULL));
    char buf[16] = {0};
    unsigned prio = 0;
    CHECK("mq_receive", mq_receive(g, buf, sizeof buf, &prio));
    SAY("'%s' prio %u\n", buf, prio);
    CHECK("mq_send", mq_send(g, "back", 4, 6));
    memset(buf, 0, sizeof buf);
    CHECK("SYS_mq_timedreceive", syscall(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, NULL));
    SAY("'%s' prio %u\n", buf, prio);
    struct timespec past = {1, 0}, bad = {0, -1};
    CHECK("SYS_mq_timedreceive past", syscall(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, &past));
    CHECK("SYS_mq_timedreceive bad", syscall(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, &bad));
    CHECK("SYS_mq_timedsend bad prio", syscall(SYS_mq_timedsend, q, "x", 1, 32768, NULL));
    CHECK("SYS_mq_timedsend -1", syscall(SYS_mq_timedsend, -1, "x", 1, 0, NULL));

    struct mq_attr old;
    memset(&old, 0x55, sizeof old);
    CHECK("SYS_mq_getsetattr get", syscall(SYS_mq_getsetattr, q, NULL, &old));
    SAY("flags %ld maxmsg %ld msgsize %ld curmsgs %ld\n", old.mq_flags, old.mq_maxmsg,
        old.mq_msgsize, old.mq_curmsgs);
    struct mq_attr nb = {.mq_flags = O_NONBLOCK};
    CHECK("SYS_mq_getsetattr set", syscall(SYS_mq_getsetattr, q, &nb, &old));
    SAY("old flags %ld\n", old.mq_flags);
    CHECK("SYS_mq_getsetattr bad flags", syscall(SYS_mq_getsetattr, q, &(struct mq_attr){.mq_flags = 1}, NULL));
    CHECK("SYS_mq_timedreceive nonblock", syscall(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, NULL));

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
    ev.sigev_value.sival_int = 5;
    CHECK("SYS_mq_notify", syscall(SYS_mq_notify, q, &ev));
    CHECK("SYS_mq_notify again", syscall(SYS_mq_notify, q, &ev));
    CHECK("mq_send", mq_send(g, "n", 1, 0));
    siginfo_t si;
    struct timespec wait = {10, 0};
    int s = sigtimedwait(&set, &si, &wait);
    SAY("signal %d SI_MESGQ %d value %d\n", s, si.si_code == SI_MESGQ, si.si_value.sival_int);
    CHECK("SYS_mq_notify register", syscall(SYS_mq_notify, q, &ev));
    CHECK("SYS_mq_notify NULL", syscall(SYS_mq_notify, q, NULL));
    CHECK("SYS_mq_notify bad", syscall(SYS_mq_notify, q, &(struct sigevent){.sigev_notify = 77}));

    /* unlink: the kernel's EPERM, which glibc's mq_unlink reports as EACCES */
    long other;
    KEEP(other, "SYS_mq_open other", syscall(SYS_mq_open, "other", O_RDWR | O_CREAT, 0644, NULL));
    pid_t p = fork();
    if (p == 0) {
        if (setgid(65534) || setuid(65534))
            _exit(3);
        CHECK("nobody: SYS_mq_unlink", syscall(SYS_mq_unlink, "other"));
        CHECK("nobody: mq_unlink", mq_unlink("/other"));
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    SAY("nobody exit %d\n", WEXITSTATUS(st));
    CHECK("SYS_mq_unlink /other", syscall(SYS_mq_unlink, "/other"));
    CHECK("SYS_mq_unlink other", syscall(SYS_mq_unlink, "other"));
    CHECK("SYS_mq_unlink raw", syscall(SYS_mq_unlink, "raw"));
    CHECK("SYS_mq_unlink raw again", syscall(SYS_mq_unlink, "raw"));
    CHECK("mq_close raw", mq_close((mqd_t)q));
    CHECK("mq_close other", mq_close((mqd_t)other));
    CHECK("mq_close g", mq_close(g));
    return 0;
}
