/* EINTR (signal(7)): a caught signal interrupts a blocked msgrcv, msgsnd,
 * semop and semtimedop with EINTR whether or not the handler has
 * SA_RESTART, and nothing is left waiting afterwards (the counts are back
 * to 0; a message or value that comes next goes to the next call, not to a
 * sleeper left behind).  An ignored or blocked signal interrupts nothing.
 *
 * A child sends the signal once it sees the parent asleep: through
 * GETNCNT/GETZCNT for semaphores, through /proc/PID/syscall for queues
 * (the parent inside msgrcv/msgsnd, or inside ppoll, where the shim waits
 * for the daemon after the request has gone out). */
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"
#include "sysv.h"


static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
    (void)sig;
    caught++;
}

static void catch_usr1(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
}

enum watch { SEM_N, SEM_Z, SLEEP_MSGRCV, SLEEP_MSGSND };

/* fork, the child killed if this program dies first */

static void give_up(void)
{
    fprintf(stderr, "timed out waiting for the parent to block\n");
    _exit(2);
}

static long proc_syscall(pid_t pid)
{
    char path[64];
    long nr = -1;
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%ld", &nr) != 1)
            nr = -1;
        fclose(f);
    }
    return nr;
}

static int parent_asleep(enum watch w, int id, pid_t parent)
{
    switch (w) {
    case SEM_N:
        return semctl(id, 0, GETNCNT) == 1;
    case SEM_Z:
        return semctl(id, 1, GETZCNT) == 1;
    case SLEEP_MSGRCV:
    case SLEEP_MSGSND: {
        long nr = proc_syscall(parent);
        return nr == (w == SLEEP_MSGRCV ? SYS_msgrcv : SYS_msgsnd) || nr == SYS_ppoll;
    }
    }
    return 0;
}

/* A child that waits for the parent to sleep, sends it `sig`, then, when
 * `then_post` is set, adds 1 to semaphore 0. */
static pid_t signaller(enum watch w, int id, int sig, int then_post)
{
    pid_t parent = getpid();
    pid_t p = kid();
    if (p)
        return p;
    for (long i = 0; !parent_asleep(w, id, parent); i++) {
        if (i > 2000000)
            give_up();
        usleep(100);
    }
    kill(parent, sig);
    if (then_post) {
        struct sembuf v = {0, 1, 0};
        if (semop(id, &v, 1) < 0)
            _exit(3);
    }
    _exit(0);
}

static void reap(pid_t p)
{
    int st;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        SAY("signaller failed (%d)\n", st);
}

static void sem_cases(const char *mode, int sem)
{
    struct sembuf dec = {0, -1, 0}, zero = {1, 0, 0};
    caught = 0;
    pid_t p = signaller(SEM_N, sem, SIGUSR1, 0);
    CHECK("semop -1", semop(sem, &dec, 1));
    reap(p);
    SAY("%s: caught %d\n", mode, (int)caught);
    CHECK("GETNCNT after EINTR", semctl(sem, 0, GETNCNT));
    CHECK("semop +1", semop(sem, (struct sembuf[]){{0, 1, 0}}, 1));
    CHECK("GETVAL (no sleeper took it)", semctl(sem, 0, GETVAL));
    CHECK("SETVAL 0", semctl(sem, 0, SETVAL, (union semun){.val = 0}));

    CHECK("SETVAL 1 = 1", semctl(sem, 1, SETVAL, (union semun){.val = 1}));
    p = signaller(SEM_Z, sem, SIGUSR1, 0);
    CHECK("semop wait for zero", semop(sem, &zero, 1));
    reap(p);
    CHECK("GETZCNT after EINTR", semctl(sem, 1, GETZCNT));

    p = signaller(SEM_N, sem, SIGUSR1, 0);
    CHECK("semtimedop -1, 60 s", semtimedop(sem, &dec, 1, &(struct timespec){60, 0}));
    reap(p);
    CHECK("GETNCNT after EINTR", semctl(sem, 0, GETNCNT));
    /* a complex operation (two semaphores) sleeps on the set's queue */
    struct sembuf both[2] = {{0, -1, 0}, {1, -1, 0}};
    p = signaller(SEM_N, sem, SIGUSR1, 0);
    CHECK("semop complex", semop(sem, both, 2));
    reap(p);
    CHECK("GETNCNT after EINTR", semctl(sem, 0, GETNCNT));
    SAY("%s: caught %d\n", mode, (int)caught);
}

static void msg_cases(const char *mode, int q)
{
    struct { long mtype; char text[16]; } m;
    caught = 0;
    pid_t p = signaller(SLEEP_MSGRCV, q, SIGUSR1, 0);
    CHECK("msgrcv", msgrcv(q, &m, sizeof m.text, 0, 0));
    reap(p);
    SAY("%s: caught %d\n", mode, (int)caught);
    m.mtype = 4;
    memcpy(m.text, "late", 4);
    CHECK("msgsnd after the interruption", msgsnd(q, &m, 4, 0));
    struct msqid_ds ds;
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    SAY("qnum %lu (no receiver took it)\n", ds.msg_qnum);
    memset(&m, 0, sizeof m);
    CHECK("msgrcv it", msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT));
    SAY("type %ld text %s\n", m.mtype, m.text);

    /* a sender asleep on a full queue */
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    ds.msg_qbytes = 4;
    CHECK("IPC_SET qbytes 4", msgctl(q, IPC_SET, &ds));
    m.mtype = 1;
    CHECK("fill", msgsnd(q, &m, 4, 0));
    p = signaller(SLEEP_MSGSND, q, SIGUSR1, 0);
    CHECK("msgsnd to the full queue", msgsnd(q, &m, 2, 0));
    reap(p);
    CHECK("msgrcv the one", msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT));
    CHECK("IPC_STAT", msgctl(q, IPC_STAT, &ds));
    SAY("qnum %lu (no sender got in)\n", ds.msg_qnum);
    ds.msg_qbytes = 16384;
    CHECK("IPC_SET qbytes back", msgctl(q, IPC_SET, &ds));
    SAY("%s: caught %d\n", mode, (int)caught);
}

/* ignored and blocked signals interrupt nothing */
static void quiet_cases(int sem)
{
    signal(SIGUSR2, SIG_IGN);
    struct sembuf dec = {0, -1, 0};
    pid_t p = signaller(SEM_N, sem, SIGUSR2, 1);
    CHECK("semop through an ignored signal", semop(sem, &dec, 1));
    reap(p);
    caught = 0;
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    p = signaller(SEM_N, sem, SIGUSR1, 1);
    CHECK("semop through a blocked signal", semop(sem, &dec, 1));
    reap(p);
    SAY("caught while blocked %d\n", (int)caught);
    sigprocmask(SIG_SETMASK, &old, NULL);
    SAY("caught once unblocked %d\n", (int)caught);
    CHECK("GETNCNT", semctl(sem, 0, GETNCNT));
}

int main(void)
{
    int sem, q;
    KEEP(sem, "semget", semget(IPC_PRIVATE, 2, 0600));
    KEEP(q, "msgget", msgget(IPC_PRIVATE, 0600));
    catch_usr1(0);
    sem_cases("no SA_RESTART", sem);
    msg_cases("no SA_RESTART", q);
    catch_usr1(SA_RESTART);
    sem_cases("SA_RESTART", sem);
    msg_cases("SA_RESTART", q);
    quiet_cases(sem);
    CHECK("IPC_RMID sem", semctl(sem, 0, IPC_RMID));
    CHECK("IPC_RMID msg", msgctl(q, IPC_RMID, NULL));
    return 0;
}
