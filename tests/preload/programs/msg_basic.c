/* msgget/msgsnd/msgrcv/msgctl basics, with a forked receiver. */
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include "common.h"

struct m { long mtype; char text[64]; };

int main(void)
{
    int q;
    KEEP(q, "msgget private", msgget(IPC_PRIVATE, 0600));
    SAY("first id %d\n", q);
    struct m a = {5, "hello"};
    CHECK("msgsnd", msgsnd(q, &a, 6, 0));
    struct msqid_ds ds;
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    SAY("qnum %lu cbytes %lu mode %o lspid-is-me %d\n", (unsigned long)ds.msg_qnum,
        (unsigned long)ds.__msg_cbytes, ds.msg_perm.mode, ds.msg_lspid == getpid());
    pid_t p = fork();
    if (p == 0) {
        struct m b = {0};
        ssize_t n = msgrcv(q, &b, sizeof b.text, 0, 0);
        SAY("child msgrcv %zd type %ld text %s\n", n, b.mtype, b.text);
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    struct m b;
    CHECK("msgrcv empty nowait", msgrcv(q, &b, sizeof b.text, 0, IPC_NOWAIT));
    CHECK("msgsnd bad type", msgsnd(q, &(struct m){0, "x"}, 1, 0));
    CHECK("msgget missing", msgget(0x1234, 0));
    CHECK("msgget create", msgget(0x1234, IPC_CREAT | 0640));
    CHECK("msgget excl", msgget(0x1234, IPC_CREAT | IPC_EXCL | 0640));
    CHECK("IPC_RMID", msgctl(q, IPC_RMID, NULL));
    CHECK("IPC_RMID again", msgctl(q, IPC_RMID, NULL));
    CHECK("IPC_RMID key", msgctl(msgget(0x1234, 0), IPC_RMID, NULL));
    return 0;
}
