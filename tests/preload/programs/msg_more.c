/* Message queues beyond the basics: MSG_NOERROR and E2BIG (also for a
 * blocked receiver), MSG_EXCEPT, negative msgtyp, MSG_COPY, size limits and
 * EFAULT, msgctl IPC_SET (msg_qbytes, the count rule, EPERM for another
 * user), IPC_INFO/MSG_INFO fields, MSG_STAT/MSG_STAT_ANY, and EIDRM for a
 * blocked receiver and a blocked sender when the queue is removed.
 *
 * A child is known to sleep in msgrcv/msgsnd when /proc/PID/syscall shows
 * it inside that call, or inside ppoll (where the shim waits for the
 * daemon's answer, after the request has gone out). */
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/prctl.h>
#include "common.h"
#include "sysv.h"

/* fork, the child killed if this program dies first (a failed run leaves
 * no sleeper behind) */

struct m { long mtype; char text[8200]; };

static struct m buf;

static int snd(int q, long type, const char *text, size_t len, int flg)
{
    struct m s;
    s.mtype = type;
    memcpy(s.text, text, len);
    return msgsnd(q, &s, len, flg);
}

/* msgrcv into buf, printing what came */
static void rcv(const char *what, int q, size_t sz, long type, int flg)
{
    memset(&buf, 0, sizeof buf);
    errno = 0;
    ssize_t n = msgrcv(q, &buf, sz, type, flg);
    if (n < 0)
        SAY("%s = -1 %s\n", what, errname(errno));
    else
        SAY("%s = %zd type %ld text %.*s\n", what, n, buf.mtype, (int)n, buf.text);
}

static long qnum(int q)
{
    struct msqid_ds ds;
    return msgctl(q, IPC_STAT, &ds) < 0 ? -1 : (long)ds.msg_qnum;
}

/* until `pid` sleeps in syscall `nr` (or in the shim's wait for the daemon) */
static void wait_blocked(pid_t pid, long nr)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    for (long i = 0;; i++) {
        FILE *f = fopen(path, "r");
        long got = -1;
        if (f) {
            if (fscanf(f, "%ld", &got) != 1)
                got = -1;
            fclose(f);
        }
        if (got == nr || got == SYS_ppoll)
            return;
        if (i > 2000000) {
            SAY("timed out waiting for a child to block\n");
            exit(2);
        }
        usleep(100);
    }
}

static int reap(pid_t p)
{
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void say_child(const char *what, int st)
{
    SAY("%s: %s\n", what, st ? errname(st) : "0");
}

static void flags_cases(void)
{
    int q;
    KEEP(q, "msgget", msgget(IPC_PRIVATE, 0600));
    CHECK("msgsnd 10 bytes", snd(q, 1, "abcdefghij", 10, 0));
    rcv("msgrcv 4 without MSG_NOERROR", q, 4, 0, IPC_NOWAIT);
    CHECK("still queued", qnum(q));
    rcv("msgrcv 4 MSG_NOERROR", q, 4, 0, MSG_NOERROR);
    CHECK("gone", qnum(q));
    CHECK("send type 3", snd(q, 3, "three", 5, 0));
    CHECK("send type 1", snd(q, 1, "one", 3, 0));
    CHECK("send type 2", snd(q, 2, "two", 3, 0));
    CHECK("send type 5", snd(q, 5, "five", 4, 0));
    CHECK("send type 1 again", snd(q, 1, "uno", 3, 0));
    rcv("msgtyp -2 (lowest <= 2)", q, 100, -2, 0);
    rcv("msgtyp 3 MSG_EXCEPT (first not 3)", q, 100, 3, MSG_EXCEPT);
    rcv("msgtyp 0 (first)", q, 100, 0, 0);
    rcv("msgtyp 7 nowait", q, 100, 7, IPC_NOWAIT);
    rcv("msgtyp -1 nowait", q, 100, -1, IPC_NOWAIT);
    rcv("msgtyp 5", q, 100, 5, 0);
    rcv("msgtyp 1 MSG_EXCEPT nowait", q, 100, 1, MSG_EXCEPT | IPC_NOWAIT);
    CHECK("send type 9", snd(q, 9, "nine", 4, 0));
    rcv("msgtyp -9223372036854775807", q, 100, -9223372036854775807L, IPC_NOWAIT);
    rcv("empty nowait", q, 100, 0, IPC_NOWAIT);
    /* MSG_COPY: by position, the queue untouched */
    CHECK("send a", snd(q, 10, "a", 1, 0));
    CHECK("send bb", snd(q, 20, "bb", 2, 0));
    CHECK("send ccc", snd(q, 30, "ccc", 3, 0));
    rcv("MSG_COPY #0", q, 100, 0, MSG_COPY | IPC_NOWAIT);
    rcv("MSG_COPY #2", q, 100, 2, MSG_COPY | IPC_NOWAIT);
    rcv("MSG_COPY #3", q, 100, 3, MSG_COPY | IPC_NOWAIT);
    rcv("MSG_COPY #-1", q, 100, -1, MSG_COPY | IPC_NOWAIT);
    rcv("MSG_COPY without IPC_NOWAIT", q, 100, 0, MSG_COPY);
    rcv("MSG_COPY with MSG_EXCEPT", q, 100, 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT);
    rcv("MSG_COPY #2 into 2 bytes", q, 2, 2, MSG_COPY | IPC_NOWAIT);
    rcv("MSG_COPY #2 into 2 bytes MSG_NOERROR", q, 2, 2, MSG_COPY | IPC_NOWAIT | MSG_NOERROR);
    CHECK("all three still there", qnum(q));
    /* sizes and pointers */
    CHECK("msgsnd msgmax 8192", snd(q, 1, buf.text, 8192, 0));
    CHECK("msgsnd 8193", snd(q, 1, buf.text, 8193, 0));
    CHECK("msgsnd type 0", snd(q, 0, "x", 1, 0));
    CHECK("msgsnd type -1", snd(q, -1, "x", 1, 0));
    CHECK("msgsnd size -1", msgsnd(q, &buf, (size_t)-1, 0));
    CHECK("msgsnd NULL", msgsnd(q, NULL, 1, 0));
    CHECK("msgsnd NULL size -1", msgsnd(q, NULL, (size_t)-1, 0));
    CHECK("msgsnd msqid -1", snd(-1, 1, "x", 1, 0));
    CHECK("msgsnd no such queue", snd(q + 32768, 1, "x", 1, 0));
    CHECK("msgrcv size -1", msgrcv(q, &buf, (size_t)-1, 0, 0));
    CHECK("msgrcv msqid -1", msgrcv(-1, &buf, 10, 0, 0));
    CHECK("msgrcv no such queue", msgrcv(q + 32768, &buf, 10, 0, IPC_NOWAIT));
    CHECK("msgrcv NULL (the message is lost)", msgrcv(q, NULL, 10, 10, 0));
    CHECK("qnum after", qnum(q));
    rcv("msgrcv 0 bytes MSG_NOERROR", q, 0, 20, MSG_NOERROR);
    CHECK("IPC_RMID", msgctl(q, IPC_RMID, NULL));
}

static void print_info(const char *what, const struct msginfo *mi)
{
    SAY("%s: msgpool %d msgmap %d msgmax %d msgmnb %d msgmni %d msgssz %d msgtql %d msgseg %u\n",
        what, mi->msgpool, mi->msgmap, mi->msgmax, mi->msgmnb, mi->msgmni, mi->msgssz,
        mi->msgtql, mi->msgseg);
}

static void ctl_cases(void)
{
    int q, q2;
    KEEP(q, "msgget key", msgget(0x3a5, IPC_CREAT | 0644));
    KEEP(q2, "msgget private", msgget(IPC_PRIVATE, 0600));
    CHECK("send 5", snd(q, 1, "hello", 5, 0));
    CHECK("send 3", snd(q2, 1, "abc", 3, 0));
    CHECK("send 2", snd(q2, 2, "de", 2, 0));
    struct msginfo mi;
    memset(&mi, 0x55, sizeof mi);
    int maxidx = (q % 32768 > q2 % 32768 ? q : q2) % 32768;
    CHECK("IPC_INFO == max index", msgctl(0, IPC_INFO, (struct msqid_ds *)&mi) == maxidx);
    print_info("IPC_INFO", &mi);
    memset(&mi, 0x55, sizeof mi);
    CHECK("MSG_INFO == max index", msgctl(0, MSG_INFO, (struct msqid_ds *)&mi) == maxidx);
    print_info("MSG_INFO", &mi);
    CHECK("IPC_INFO NULL", msgctl(0, IPC_INFO, NULL));
    CHECK("MSG_INFO msqid -1", msgctl(-1, MSG_INFO, (struct msqid_ds *)&mi));
    struct msqid_ds ds;
    memset(&ds, 0x55, sizeof ds);
    CHECK("MSG_STAT == id", msgctl(q % 32768, MSG_STAT, &ds) == q);
    SAY("MSG_STAT: key %d mode %o qnum %lu cbytes %lu qbytes %lu lspid-is-me %d lrpid %d "
        "stime-set %d rtime %ld ctime-set %d seq %u\n", ds.msg_perm.__key, ds.msg_perm.mode,
        ds.msg_qnum, ds.__msg_cbytes, ds.msg_qbytes, ds.msg_lspid == getpid(), ds.msg_lrpid,
        ds.msg_stime != 0, (long)ds.msg_rtime, ds.msg_ctime != 0, ds.msg_perm.__seq);
    CHECK("MSG_STAT_ANY == id", msgctl(q2 % 32768, MSG_STAT_ANY, &ds) == q2);
    CHECK("MSG_STAT empty index", msgctl(q2 % 32768 + 50, MSG_STAT, &ds));
    CHECK("MSG_STAT NULL", msgctl(q % 32768, MSG_STAT, NULL));
    CHECK("IPC_STAT NULL", msgctl(q, IPC_STAT, NULL));
    CHECK("unknown cmd", msgctl(q, 99, &ds));
    CHECK("cmd -1", msgctl(q, -1, &ds));
    /* x86-64 Linux takes no IPC_64 flag (no ipc_parse_version there) */
    int tmp;
    KEEP(tmp, "msgget for IPC_64", msgget(IPC_PRIVATE, 0600));
    CHECK("IPC_STAT|IPC_64", msgctl(tmp, IPC_STAT | 0x100, &ds));
    CHECK("IPC_RMID|IPC_64", msgctl(tmp, IPC_RMID | 0x100, NULL));
    CHECK("IPC_RMID", msgctl(tmp, IPC_RMID, NULL));
    CHECK("IPC_SET NULL", msgctl(q, IPC_SET, NULL));
    CHECK("IPC_SET NULL msqid -1", msgctl(-1, IPC_SET, NULL));
    CHECK("IPC_SET NULL no such queue", msgctl(q + 32768, IPC_SET, NULL));
    /* msg_qbytes: above msgmnb only with CAP_SYS_RESOURCE; a queue holds at
     * most qbytes bytes and qbytes messages */
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    ds.msg_qbytes = 20000;
    CHECK("IPC_SET qbytes 20000 (needs CAP_SYS_RESOURCE)", msgctl(q, IPC_SET, &ds));
    ds.msg_qbytes = 2;
    CHECK("IPC_SET qbytes 2", msgctl(q, IPC_SET, &ds));
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    SAY("qbytes %lu qnum %lu\n", ds.msg_qbytes, ds.msg_qnum);
    CHECK("send 1 byte (queue over qbytes)", snd(q, 1, "x", 1, IPC_NOWAIT));
    rcv("drain", q, 100, 0, 0);
    CHECK("send 1 byte", snd(q, 1, "x", 1, IPC_NOWAIT));
    CHECK("send 1 byte (2 bytes, 2 messages: fits)", snd(q, 1, "x", 1, IPC_NOWAIT));
    rcv("drain", q, 100, 0, 0);
    CHECK("send 0 bytes (2 messages)", snd(q, 1, "", 0, IPC_NOWAIT));
    CHECK("send 0 bytes (3 messages > qbytes)", snd(q, 1, "", 0, IPC_NOWAIT));
    CHECK("send 0 bytes again", snd(q, 1, "", 0, IPC_NOWAIT));
    rcv("drain", q, 100, 0, 0);
    rcv("drain", q, 100, 0, 0);
    ds.msg_qbytes = 0;
    CHECK("IPC_SET qbytes 0", msgctl(q, IPC_SET, &ds));
    CHECK("send to qbytes 0", snd(q, 1, "", 0, IPC_NOWAIT));
    ds.msg_qbytes = 16384;
    ds.msg_perm.uid = 65534;
    ds.msg_perm.mode = 0660;
    CHECK("IPC_SET uid 65534 mode 660", msgctl(q, IPC_SET, &ds));
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    SAY("uid %u cuid-is-me %d mode %o qbytes %lu\n", ds.msg_perm.uid,
        ds.msg_perm.cuid == geteuid(), ds.msg_perm.mode, ds.msg_qbytes);
    ds.msg_perm.uid = (uid_t)-1;
    CHECK("IPC_SET uid -1", msgctl(q, IPC_SET, &ds));
    ds.msg_perm.uid = 65534;
    if (geteuid() == 0) {
        pid_t p = kid();
        if (p == 0) {
            if (setgid(65534) || setuid(65534))
                _exit(3);
            struct msqid_ds d;
            CHECK("nobody: MSG_STAT 0600", msgctl(q2 % 32768, MSG_STAT, &d));
            CHECK("nobody: MSG_STAT_ANY 0600 == id", msgctl(q2 % 32768, MSG_STAT_ANY, &d) == q2);
            CHECK("nobody: IPC_STAT 0600", msgctl(q2, IPC_STAT, &d));
            CHECK("nobody: IPC_SET 0600 (not owner)", msgctl(q2, IPC_SET, &d));
            CHECK("nobody: IPC_RMID 0600 (not owner)", msgctl(q2, IPC_RMID, NULL));
            CHECK("nobody: msgsnd 0600", snd(q2, 1, "x", 1, IPC_NOWAIT));
            CHECK("nobody: msgrcv 0600", msgrcv(q2, &buf, 10, 0, IPC_NOWAIT));
            CHECK("nobody: IPC_STAT own", msgctl(q, IPC_STAT, &d));
            d.msg_qbytes = 16385;
            CHECK("nobody: IPC_SET own, qbytes over msgmnb", msgctl(q, IPC_SET, &d));
            d.msg_qbytes = 100;
            CHECK("nobody: IPC_SET own, qbytes 100", msgctl(q, IPC_SET, &d));
            d.msg_qbytes = 16384;
            CHECK("nobody: IPC_SET own, qbytes back to msgmnb", msgctl(q, IPC_SET, &d));
            CHECK("nobody: IPC_RMID own", msgctl(q, IPC_RMID, NULL));
            _exit(0);
        }
        CHECK("nobody's status", reap(p));
    } else {
        CHECK("IPC_RMID", msgctl(q, IPC_RMID, NULL));
    }
    CHECK("IPC_STAT removed", msgctl(q, IPC_STAT, &ds));
    CHECK("IPC_RMID", msgctl(q2, IPC_RMID, NULL));
}

/* E2BIG for a receiver asleep with a small buffer: the message stays */
static void pipelined_cases(void)
{
    int q;
    KEEP(q, "msgget", msgget(IPC_PRIVATE, 0600));
    CHECK("IPC_STAT first", qnum(q));
    pid_t p = kid();
    if (p == 0) {
        struct m r;
        ssize_t n = msgrcv(q, &r, 4, 0, 0);
        _exit(n < 0 ? errno : 0);
    }
    wait_blocked(p, SYS_msgrcv);
    CHECK("send 10 bytes to a receiver of 4", snd(q, 1, "0123456789", 10, 0));
    say_child("small receiver", reap(p));
    CHECK("the message stays", qnum(q));
    /* a receiver asleep for one type is passed the message at once */
    p = kid();
    if (p == 0) {
        struct m r;
        ssize_t n = msgrcv(q, &r, 100, 7, 0);
        _exit(n == 3 && r.mtype == 7 && !memcmp(r.text, "sev", 3) ? 0 : n < 0 ? errno : 99);
    }
    wait_blocked(p, SYS_msgrcv);
    CHECK("send type 7", snd(q, 7, "sev", 3, 0));
    say_child("receiver of type 7", reap(p));
    struct msqid_ds ds;
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    SAY("qnum %lu lrpid-is-child %d\n", ds.msg_qnum, ds.msg_lrpid == p);
    /* removal wakes a receiver and a sender with EIDRM */
    rcv("drain", q, 100, 0, 0);
    p = kid();
    if (p == 0)
        _exit(msgrcv(q, &buf, 100, 0, 0) < 0 ? errno : 0);
    wait_blocked(p, SYS_msgrcv);
    CHECK("IPC_RMID with a receiver", msgctl(q, IPC_RMID, NULL));
    say_child("receiver", reap(p));
    KEEP(q, "msgget", msgget(IPC_PRIVATE, 0600));
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    ds.msg_qbytes = 4;
    CHECK("IPC_SET qbytes 4", msgctl(q, IPC_SET, &ds));
    CHECK("fill", snd(q, 1, "abcd", 4, 0));
    p = kid();
    if (p == 0)
        _exit(snd(q, 1, "e", 1, 0) < 0 ? errno : 0);
    wait_blocked(p, SYS_msgsnd);
    CHECK("IPC_RMID with a sender", msgctl(q, IPC_RMID, NULL));
    say_child("sender", reap(p));
    /* a sender asleep on a full queue goes in when a message leaves */
    KEEP(q, "msgget", msgget(IPC_PRIVATE, 0600));
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    ds.msg_qbytes = 4;
    CHECK("IPC_SET qbytes 4", msgctl(q, IPC_SET, &ds));
    CHECK("fill", snd(q, 1, "abcd", 4, 0));
    p = kid();
    if (p == 0)
        _exit(snd(q, 2, "wxyz", 4, 0) < 0 ? errno : 0);
    wait_blocked(p, SYS_msgsnd);
    rcv("take one", q, 100, 0, 0);
    say_child("blocked sender", reap(p));
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    SAY("qnum %lu cbytes %lu lspid-is-child %d\n", ds.msg_qnum, ds.__msg_cbytes,
        ds.msg_lspid == p);
    rcv("its message", q, 100, 0, 0);
    CHECK("IPC_RMID", msgctl(q, IPC_RMID, NULL));
}

int main(void)
{
    flags_cases();
    ctl_cases();
    pipelined_cases();
    return 0;
}
