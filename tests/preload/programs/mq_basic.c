/* POSIX message queues: mq_open's names, flags and attributes, priorities,
 * EMSGSIZE, EAGAIN, getattr/setattr, permissions, descriptors, unlink. */
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "common.h"

static void attr_line(const char *label, mqd_t q)
{
    struct mq_attr a;
    memset(&a, 0x55, sizeof a);
    if (mq_getattr(q, &a) < 0) {
        SAY("%s: getattr -1 %s\n", label, errname(errno));
        return;
    }
    SAY("%s: flags %ld maxmsg %ld msgsize %ld curmsgs %ld pad %ld\n", label, a.mq_flags,
        a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs, a.__pad[0] | a.__pad[1] | a.__pad[2] | a.__pad[3]);
}

static void names(void)
{
    char longname[300];
    longname[0] = '/';
    memset(longname + 1, 'n', 256);
    longname[257] = 0;
    CHECK("open no slash", mq_open("q", O_RDWR | O_CREAT, 0600, NULL));
    CHECK("open /", mq_open("/", O_RDWR | O_CREAT, 0600, NULL));
    CHECK("open /a/b", mq_open("/a/b", O_RDWR | O_CREAT, 0600, NULL));
    CHECK("open //a", mq_open("//a", O_RDWR | O_CREAT, 0600, NULL));
    CHECK("open /..", mq_open("/..", O_RDWR | O_CREAT, 0600, NULL));
    CHECK("open 256 bytes", mq_open(longname, O_RDWR | O_CREAT, 0600, NULL));
    longname[256] = 0; /* 255 bytes after the slash: NAME_MAX */
    mqd_t q;
    KEEP(q, "open 255 bytes", mq_open(longname, O_RDWR | O_CREAT, 0600, NULL));
    CHECK("close 255", mq_close(q));
    CHECK("unlink 255", mq_unlink(longname));
    CHECK("open missing", mq_open("/missing", O_RDWR));
    CHECK("unlink missing", mq_unlink("/missing"));
    CHECK("unlink no slash", mq_unlink("missing"));
    CHECK("unlink /", mq_unlink("/"));
}

static void limits(void)
{
    struct rlimit rl = {819200, 819200};
    CHECK("setrlimit", setrlimit(RLIMIT_MSGQUEUE, &rl));
    struct mq_attr a = {0};
    a.mq_maxmsg = 0, a.mq_msgsize = 8;
    CHECK("maxmsg 0", mq_open("/lim", O_RDWR | O_CREAT, 0600, &a));
    a.mq_maxmsg = 4, a.mq_msgsize = 0;
    CHECK("msgsize 0", mq_open("/lim", O_RDWR | O_CREAT, 0600, &a));
    a.mq_maxmsg = -1, a.mq_msgsize = 8;
    CHECK("maxmsg -1", mq_open("/lim", O_RDWR | O_CREAT, 0600, &a));
    a.mq_maxmsg = 65537, a.mq_msgsize = 1;
    CHECK("maxmsg above HARD_MSGMAX", mq_open("/lim", O_RDWR | O_CREAT, 0600, &a));
    a.mq_maxmsg = 1, a.mq_msgsize = 16 * 1024 * 1024 + 1;
    CHECK("msgsize above HARD_MSGSIZEMAX", mq_open("/lim", O_RDWR | O_CREAT, 0600, &a));
    a.mq_maxmsg = 20000, a.mq_msgsize = 100;
    CHECK("maxmsg 20000", mq_open("/lim", O_RDWR | O_CREAT, 0600, &a));
    a.mq_maxmsg = 2, a.mq_msgsize = 8;
    rl.rlim_cur = 1;
    CHECK("setrlimit 1", setrlimit(RLIMIT_MSGQUEUE, &rl));
    CHECK("beyond RLIMIT_MSGQUEUE", mq_open("/lim", O_RDWR | O_CREAT, 0600, &a));
    rl.rlim_cur = 819200;
    CHECK("setrlimit back", setrlimit(RLIMIT_MSGQUEUE, &rl));
    /* attr is not read without O_CREAT */
    CHECK("attr ignored without O_CREAT", mq_open("/lim", O_RDWR, 0600, &a));
    mqd_t q;
    KEEP(q, "defaults", mq_open("/lim", O_RDWR | O_CREAT, 0600, NULL));
    attr_line("defaults", q);
    CHECK("close", mq_close(q));
    CHECK("unlink", mq_unlink("/lim"));
}

static void messages(void)
{
    struct mq_attr a = {0};
    a.mq_maxmsg = 4, a.mq_msgsize = 16;
    a.mq_flags = O_NONBLOCK; /* ignored by mq_open: O_NONBLOCK comes from oflag */
    mqd_t q;
    KEEP(q, "create", mq_open("/q1", O_RDWR | O_CREAT | O_EXCL, 0640, &a));
    CHECK("create again O_EXCL", mq_open("/q1", O_RDWR | O_CREAT | O_EXCL, 0640, &a));
    CHECK("O_WRONLY|O_RDWR", mq_open("/q1", O_WRONLY | O_RDWR));
    SAY("cloexec %d\n", (fcntl(q, F_GETFD) & FD_CLOEXEC) != 0);
    attr_line("new", q);
    CHECK("send a/1", mq_send(q, "a", 1, 1));
    CHECK("send bb/5", mq_send(q, "bb", 2, 5));
    CHECK("send c/1", mq_send(q, "c", 1, 1));
    CHECK("send empty/3", mq_send(q, "", 0, 3));
    attr_line("full", q);
    struct mq_attr set = {0}, old;
    set.mq_flags = O_NONBLOCK;
    memset(&old, 0x55, sizeof old);
    CHECK("setattr O_NONBLOCK", mq_setattr(q, &set, &old));
    SAY("old: flags %ld maxmsg %ld msgsize %ld curmsgs %ld\n", old.mq_flags, old.mq_maxmsg,
        old.mq_msgsize, old.mq_curmsgs);
    attr_line("nonblock", q);
    CHECK("send full nonblock", mq_send(q, "e", 1, 0));
    set.mq_flags = O_NONBLOCK | O_APPEND;
    CHECK("setattr bad flags", mq_setattr(q, &set, NULL));
    CHECK("setattr NULL old", mq_setattr(q, &(struct mq_attr){0}, NULL));
    attr_line("blocking again", q);
    CHECK("setattr O_NONBLOCK again", mq_setattr(q, &(struct mq_attr){.mq_flags = O_NONBLOCK}, NULL));
    CHECK("send too long", mq_send(q, "0123456789abcdefX", 17, 0));
    CHECK("send prio MQ_PRIO_MAX", mq_send(q, "x", 1, 32768));
    char buf[64];
    CHECK("receive small buffer", mq_receive(q, buf, 15, NULL));
    for (int i = 0; i < 4; i++) {
        unsigned prio = 99;
        memset(buf, 0, sizeof buf);
        ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
        SAY("receive %zd '%s' prio %u\n", n, buf, prio);
    }
    CHECK("receive empty nonblock", mq_receive(q, buf, sizeof buf, NULL));
    CHECK("send NULL prio ptr", mq_send(q, "z", 1, 0));
    CHECK("receive NULL prio ptr", mq_receive(q, buf, sizeof buf, NULL));

    /* access modes */
    mqd_t ro, wo;
    KEEP(ro, "open O_RDONLY", mq_open("/q1", O_RDONLY));
    KEEP(wo, "open O_WRONLY", mq_open("/q1", O_WRONLY | O_NONBLOCK));
    CHECK("send on O_RDONLY", mq_send(ro, "x", 1, 0));
    CHECK("receive on O_WRONLY", mq_receive(wo, buf, sizeof buf, NULL));
    CHECK("send on O_WRONLY", mq_send(wo, "w", 1, 2));
    attr_line("O_WRONLY|O_NONBLOCK", wo);
    attr_line("O_RDONLY", ro);
    CHECK("receive on O_RDONLY", mq_receive(ro, buf, sizeof buf, NULL));
    CHECK("close ro", mq_close(ro));
    CHECK("close wo", mq_close(wo));

    /* another user: mode 0640 grants it nothing, nor 0666 under umask 077 */
    umask(077);
    mqd_t masked;
    KEEP(masked, "create 0666 under umask 077", mq_open("/masked", O_RDWR | O_CREAT, 0666, &a));
    umask(022);
    pid_t p = fork();
    if (p == 0) {
        if (setgid(65534) || setuid(65534))
            _exit(3);
        CHECK("nobody: open masked", mq_open("/masked", O_RDONLY));
        CHECK("nobody: open O_RDONLY", mq_open("/q1", O_RDONLY));
        CHECK("nobody: open O_RDWR", mq_open("/q1", O_RDWR));
        CHECK("nobody: unlink", mq_unlink("/q1"));
        mqd_t mine;
        KEEP(mine, "nobody: create own", mq_open("/nobody", O_RDWR | O_CREAT | O_EXCL, 0644,
                                                   &(struct mq_attr){.mq_maxmsg = 2, .mq_msgsize = 8}));
        CHECK("nobody: close own", mq_close(mine));
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    SAY("nobody exit %d\n", WEXITSTATUS(st));
    CHECK("close masked", mq_close(masked));
    CHECK("unlink masked", mq_unlink("/masked"));
    mqd_t theirs;
    KEEP(theirs, "root opens nobody's", mq_open("/nobody", O_RDWR));
    CHECK("close theirs", mq_close(theirs));
    CHECK("root unlinks nobody's", mq_unlink("/nobody"));

    /* unlink: the name goes, the queue lives while open */
    CHECK("send before unlink", mq_send(q, "kept", 4, 7));
    CHECK("unlink", mq_unlink("/q1"));
    CHECK("open after unlink", mq_open("/q1", O_RDWR));
    CHECK("unlink again", mq_unlink("/q1"));
    memset(buf, 0, sizeof buf);
    unsigned prio = 0;
    CHECK("receive after unlink", mq_receive(q, buf, sizeof buf, &prio));
    SAY("got '%s' prio %u\n", buf, prio);
    mqd_t q2;
    KEEP(q2, "recreate", mq_open("/q1", O_RDWR | O_CREAT | O_EXCL, 0600, &a));
    attr_line("recreated", q2);
    CHECK("close old", mq_close(q));
    CHECK("close new", mq_close(q2));
    CHECK("unlink new", mq_unlink("/q1"));
}

static void descriptors(void)
{
    mqd_t q;
    KEEP(q, "create", mq_open("/d", O_RDWR | O_CREAT | O_NONBLOCK, 0600,
                               &(struct mq_attr){.mq_maxmsg = 2, .mq_msgsize = 8}));
    int d = dup(q);
    CHECK("send via dup", mq_send(d, "dup", 3, 0));
    CHECK("close original", mq_close(q));
    attr_line("dup after close", d);
    char buf[8];
    CHECK("receive via dup", mq_receive(d, buf, sizeof buf, NULL));
    CHECK("close dup", mq_close(d));
    CHECK("getattr closed", mq_getattr(d, &(struct mq_attr){0}));
    CHECK("close closed", mq_close(d));
    CHECK("send -1", mq_send(-1, "x", 1, 0));
    CHECK("receive -1", mq_receive(-1, buf, sizeof buf, NULL));
    CHECK("notify -1", mq_notify(-1, NULL));
    CHECK("close -1", mq_close(-1));
    int pfd[2];
    CHECK("pipe", pipe(pfd));
    CHECK("getattr pipe", mq_getattr(pfd[0], &(struct mq_attr){0}));
    CHECK("send pipe", mq_send(pfd[1], "x", 1, 0));
    CHECK("close pipe via mq_close", mq_close(pfd[0]));
    CHECK("pipe closed", fcntl(pfd[0], F_GETFD));
    close(pfd[1]);
    int nul = open("/dev/null", O_RDWR);
    CHECK("getattr /dev/null", mq_getattr(nul, &(struct mq_attr){0}));
    CHECK("receive /dev/null", mq_receive(nul, buf, sizeof buf, NULL));
    CHECK("close /dev/null via mq_close", mq_close(nul));
    /* the kernel checks the priority and the timeout before the descriptor */
    CHECK("send -1 prio MQ_PRIO_MAX", mq_send(-1, "x", 1, 32768));
    struct timespec bad = {0, 1000000000};
    CHECK("timedreceive -1 bad timeout", mq_timedreceive(-1, buf, sizeof buf, NULL, &bad));
    CHECK("setattr -1 bad flags", mq_setattr(-1, &(struct mq_attr){.mq_flags = 1}, NULL));
    CHECK("notify -1 bad sigev", mq_notify(-1, &(struct sigevent){.sigev_notify = 99}));
    CHECK("unlink", mq_unlink("/d"));
}

/* read(2) of a queue descriptor: the QSIZE/NOTIFY line at the file's
 * position, which lseek moves (i_size 80); the readiness stays */
static void fileinfo(void)
{
    mqd_t q;
    KEEP(q, "create", mq_open("/info", O_RDWR | O_CREAT | O_EXCL, 0600,
                               &(struct mq_attr){.mq_maxmsg = 4, .mq_msgsize = 32}));
    char line[200];
    ssize_t n;
    memset(line, 0, sizeof line);
    n = read(q, line, sizeof line);
    SAY("read %zd: %s", n, line);
    CHECK("read at the end", read(q, line, sizeof line));
    CHECK("mq_send 5 bytes", mq_send(q, "12345", 5, 0));
    CHECK("mq_send 11 bytes", mq_send(q, "hello world", 11, 0));
    CHECK("lseek SEEK_SET 0", lseek(q, 0, SEEK_SET));
    memset(line, 0, sizeof line);
    n = read(q, line, sizeof line);
    SAY("read %zd: %s", n, line);
    CHECK("lseek SEEK_CUR 0", lseek(q, 0, SEEK_CUR));
    CHECK("lseek SEEK_END 0", lseek(q, 0, SEEK_END));
    CHECK("lseek SEEK_END -70", lseek(q, -70, SEEK_END));
    memset(line, 0, sizeof line);
    n = read(q, line, 7);
    SAY("read 7 at 10: %zd '%s'\n", n, line);
    CHECK("lseek SEEK_CUR +3", lseek(q, 3, SEEK_CUR));
    CHECK("lseek -1", lseek(q, -1, SEEK_SET));
    CHECK("lseek SEEK_DATA 100", lseek(q, 100, SEEK_DATA));
    CHECK("lseek SEEK_HOLE 5", lseek(q, 5, SEEK_HOLE));
    CHECK("lseek whence 9", lseek(q, 0, 9));
    CHECK("lseek64 SEEK_SET 0", lseek64(q, 0, SEEK_SET));
    struct sigevent ev = {.sigev_notify = SIGEV_NONE};
    CHECK("receive", mq_receive(q, line, sizeof line, NULL));
    CHECK("receive", mq_receive(q, line, sizeof line, NULL));
    CHECK("notify SIGEV_NONE", mq_notify(q, &ev));
    memset(line, 0, sizeof line);
    n = read(q, line, sizeof line);
    char expect[200];
    snprintf(expect, sizeof expect, "QSIZE:%-10lu NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n", 0UL,
             SIGEV_NONE, 0, (int)getpid());
    SAY("read %zd, registered: the line with our pid %d\n", n, !strcmp(line, expect));
    CHECK("mq_send", mq_send(q, "x", 1, 0));
    struct pollfd p = {.fd = q, .events = POLLIN};
    CHECK("lseek 0", lseek(q, 0, SEEK_SET));
    CHECK("read", read(q, line, sizeof line));
    CHECK("poll after the reads", poll(&p, 1, 0));
    SAY("revents %#x\n", p.revents);
    mqd_t wo;
    KEEP(wo, "open O_WRONLY", mq_open("/info", O_WRONLY));
    CHECK("read O_WRONLY", read(wo, line, sizeof line));
    CHECK("close O_WRONLY", mq_close(wo));
    CHECK("close", mq_close(q));
    CHECK("read closed", read(q, line, sizeof line));
    CHECK("lseek closed", lseek(q, 0, SEEK_SET));
    CHECK("unlink", mq_unlink("/info"));
}

int main(void)
{
    umask(022);
    names();
    limits();
    messages();
    descriptors();
    fileinfo();
    return 0;
}
