/* Queue descriptors across fork and exec, and their readiness: poll, select
 * and epoll on an mqd_t, the open description (O_NONBLOCK) shared with a
 * fork child, a child's mq_close leaving the parent's, close-on-exec. */
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include "common.h"

static struct mq_attr small = {.mq_maxmsg = 2, .mq_msgsize = 16};

static int revents(mqd_t q)
{
    struct pollfd p = {.fd = q, .events = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM};
    int n = poll(&p, 1, 0);
    return n < 0 ? -1 : p.revents;
}

static void readiness(void)
{
    mqd_t q = mq_open("/ready", O_RDWR | O_CREAT | O_NONBLOCK, 0600, &small);
    SAY("empty: revents %#x\n", revents(q));
    mq_send(q, "1", 1, 0);
    SAY("one: revents %#x\n", revents(q));
    mq_send(q, "2", 1, 0);
    SAY("full: revents %#x\n", revents(q));
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(q, &r);
    FD_SET(q, &w);
    struct timeval zero = {0, 0};
    int n = select(q + 1, &r, &w, NULL, &zero);
    SAY("full: select %d readable %d writable %d\n", n, FD_ISSET(q, &r) != 0, FD_ISSET(q, &w) != 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = 77}, out[2];
    CHECK("epoll_ctl ADD", epoll_ctl(ep, EPOLL_CTL_ADD, q, &ev));
    n = epoll_wait(ep, out, 2, 0);
    SAY("full: epoll %d events %#x data %u\n", n, n > 0 ? out[0].events : 0, n > 0 ? out[0].data.u32 : 0);
    char buf[16];
    mq_receive(q, buf, sizeof buf, NULL);
    mq_receive(q, buf, sizeof buf, NULL);
    n = epoll_wait(ep, out, 2, 0);
    SAY("empty: epoll %d events %#x\n", n, n > 0 ? out[0].events : 0);
    close(ep);
    mq_close(q);
    mq_unlink("/ready");
}

static void across_fork(void)
{
    mqd_t down = mq_open("/down", O_RDWR | O_CREAT, 0600, &small);
    mqd_t up = mq_open("/up", O_RDWR | O_CREAT, 0600, &small);
    pid_t p = fork();
    if (p == 0) {
        /* the child waits with poll for the parent's message, answers */
        struct pollfd pf = {.fd = down, .events = POLLIN};
        int n = poll(&pf, 1, 30000);
        SAY("child: poll %d revents %#x\n", n, pf.revents);
        char buf[16] = {0};
        unsigned prio;
        ssize_t k = mq_receive(down, buf, sizeof buf, &prio);
        SAY("child: receive %zd '%s' prio %u\n", k, buf, prio);
        CHECK("child: send", mq_send(up, "pong", 4, 3));
        /* the open description is shared: O_NONBLOCK set here shows there */
        CHECK("child: setattr O_NONBLOCK", mq_setattr(down, &(struct mq_attr){.mq_flags = O_NONBLOCK}, NULL));
        CHECK("child: close inherited", mq_close(down));
        CHECK("child: close inherited up", mq_close(up));
        _exit(0);
    }
    /* the parent says what it saw once the child has said all */
    int sent = mq_send(down, "ping", 4, 5);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(up, &r);
    struct timeval tv = {30, 0};
    int n = select(up + 1, &r, NULL, NULL, &tv);
    int readable = FD_ISSET(up, &r) != 0;
    char buf[16] = {0};
    unsigned prio;
    ssize_t k = mq_receive(up, buf, sizeof buf, &prio);
    int st;
    waitpid(p, &st, 0);
    SAY("child exit %d\n", WEXITSTATUS(st));
    SAY("parent: send %d\n", sent);
    SAY("parent: select %d readable %d\n", n, readable);
    SAY("parent: receive %zd '%s' prio %u\n", k, buf, prio);
    struct mq_attr a;
    CHECK("parent: getattr after the child's close", mq_getattr(down, &a));
    SAY("parent: flags %ld (the child's O_NONBLOCK)\n", a.mq_flags);
    CHECK("parent: receive empty", mq_receive(down, buf, sizeof buf, NULL));
    /* another open of the same queue has its own flags */
    mqd_t own = mq_open("/down", O_RDWR);
    mq_getattr(own, &a);
    SAY("new description: flags %ld\n", a.mq_flags);
    mq_close(own);

    /* a child that sends from its own descriptor wakes the parent's poll */
    p = fork();
    if (p == 0) {
        mqd_t c = mq_open("/up", O_WRONLY);
        _exit(mq_send(c, "late", 4, 1) == 0 ? 0 : 1);
    }
    struct pollfd pf = {.fd = up, .events = POLLIN};
    n = poll(&pf, 1, 30000);
    SAY("parent: poll %d revents %#x\n", n, pf.revents);
    waitpid(p, &st, 0);
    k = mq_receive(up, buf, sizeof buf, &prio);
    SAY("parent: receive %zd prio %u\n", k, prio);

    /* close-on-exec: the exec'd image has no such descriptor */
    p = fork();
    if (p == 0) {
        char fd[16];
        snprintf(fd, sizeof fd, "%d", up);
        execl("/proc/self/exe", "mq_fork", "exec-check", fd, (char *)NULL);
        _exit(127);
    }
    waitpid(p, &st, 0);
    SAY("exec child exit %d\n", WEXITSTATUS(st));
    CHECK("parent: send after the exec", mq_send(up, "x", 1, 0));
    CHECK("parent: close", mq_close(down));
    CHECK("parent: close", mq_close(up));
    mq_unlink("/down");
    mq_unlink("/up");
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "exec-check")) {
        CHECK("exec'd: F_GETFD", fcntl(atoi(argv[2]), F_GETFD));
        mqd_t q;
        KEEP(q, "exec'd: open by name", mq_open("/up", O_RDONLY | O_NONBLOCK));
        char buf[16];
        CHECK("exec'd: receive", mq_receive(q, buf, sizeof buf, NULL));
        return 0;
    }
    readiness();
    across_fork();
    return 0;
}
