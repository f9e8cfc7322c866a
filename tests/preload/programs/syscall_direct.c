/* The SysV calls through syscall(SYS_...) rather than glibc's wrappers:
 * msg*, sem* (semctl's fourth argument is union semun passed by value, as
 * the raw syscall takes it), shm*; and other numbers passed through with
 * all six arguments and glibc's -1/errno. */
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <signal.h>
#include <sys/prctl.h>
#include "common.h"
#include "sysv.h"

/* fork, the child killed if this program dies first (a failed run leaves
 * no sleeper behind) */


static long semctl_raw(int id, int num, int cmd, union semun arg)
{
    unsigned long word;
    memcpy(&word, &arg, sizeof word);
    return syscall(SYS_semctl, id, num, cmd, word);
}

static void msg_cases(void)
{
    long q;
    KEEP(q, "SYS_msgget", syscall(SYS_msgget, IPC_PRIVATE, 0600));
    SAY("id %ld\n", q);
    struct { long mtype; char text[16]; } m = {3, "direct"};
    CHECK("SYS_msgsnd", syscall(SYS_msgsnd, q, &m, 6, 0));
    CHECK("SYS_msgsnd bad type",
          syscall(SYS_msgsnd, q, &(struct { long t; char c; }){0, 'x'}, 1, 0));
    CHECK("SYS_msgsnd NULL", syscall(SYS_msgsnd, q, NULL, 1, 0));
    struct msqid_ds ds;
    CHECK("SYS_msgctl IPC_STAT", syscall(SYS_msgctl, q, IPC_STAT, &ds));
    SAY("qnum %lu cbytes %lu lspid-is-me %d\n", ds.msg_qnum, ds.__msg_cbytes,
        ds.msg_lspid == getpid());
    memset(&m, 0, sizeof m);
    CHECK("SYS_msgrcv", syscall(SYS_msgrcv, q, &m, sizeof m.text, 0, 0));
    SAY("type %ld text %s\n", m.mtype, m.text);
    CHECK("SYS_msgrcv nowait", syscall(SYS_msgrcv, q, &m, sizeof m.text, 0, IPC_NOWAIT));
    CHECK("SYS_msgrcv negative type nowait", syscall(SYS_msgrcv, q, &m, sizeof m.text, -5L,
                                                     IPC_NOWAIT));
    struct msginfo mi;
    CHECK("SYS_msgctl MSG_INFO >= 0", syscall(SYS_msgctl, 0, MSG_INFO, &mi) >= 0);
    SAY("msgpool %d msgmax %d\n", mi.msgpool, mi.msgmax);
    CHECK("SYS_msgctl IPC_RMID", syscall(SYS_msgctl, q, IPC_RMID, NULL));
    CHECK("SYS_msgctl IPC_RMID again", syscall(SYS_msgctl, q, IPC_RMID, NULL));
    CHECK("SYS_msgget missing", syscall(SYS_msgget, 0x7e57, 0));
    /* an int argument is its register's low 32 bits */
    long k;
    KEEP(k, "SYS_msgget create key", syscall(SYS_msgget, 0x7e57, IPC_CREAT | 0600));
    CHECK("SYS_msgget key in the low bits == id", syscall(SYS_msgget, 0x100007e57L, 0) == k);
    CHECK("SYS_msgctl IPC_RMID key", syscall(SYS_msgctl, k, IPC_RMID, NULL));
}

static void sem_cases(void)
{
    long id;
    KEEP(id, "SYS_semget", syscall(SYS_semget, IPC_PRIVATE, 3, 0600));
    CHECK("SYS_semctl SETVAL 5", semctl_raw(id, 1, SETVAL, (union semun){.val = 5}));
    CHECK("SYS_semctl GETVAL", syscall(SYS_semctl, id, 1, GETVAL, 0));
    /* SETVAL reads the low 32 bits of the argument */
    CHECK("SYS_semctl SETVAL 0x100000002", syscall(SYS_semctl, id, 2, SETVAL, 0x100000002L));
    CHECK("SYS_semctl GETVAL 2", syscall(SYS_semctl, id, 2, GETVAL, 0));
    struct sembuf ops[2] = {{0, 2, 0}, {1, -1, 0}};
    CHECK("SYS_semop", syscall(SYS_semop, id, ops, 2));
    unsigned short vals[3];
    CHECK("SYS_semctl GETALL", semctl_raw(id, 0, GETALL, (union semun){.array = vals}));
    SAY("values %u %u %u\n", vals[0], vals[1], vals[2]);
    unsigned short set[3] = {7, 8, 9};
    CHECK("SYS_semctl SETALL", semctl_raw(id, 0, SETALL, (union semun){.array = set}));
    CHECK("SYS_semctl GETVAL 0", syscall(SYS_semctl, id, 0, GETVAL, 0));
    struct semid_ds ds;
    CHECK("SYS_semctl IPC_STAT", semctl_raw(id, 0, IPC_STAT, (union semun){.buf = &ds}));
    SAY("nsems %lu mode %o\n", ds.sem_nsems, ds.sem_perm.mode);
    CHECK("SYS_semctl IPC_STAT NULL", syscall(SYS_semctl, id, 0, IPC_STAT, 0));
    CHECK("SYS_semctl IPC_STAT|IPC_64", semctl_raw(id, 0, IPC_STAT | 0x100,
                                                   (union semun){.buf = &ds}));
    CHECK("SYS_semctl unknown cmd", syscall(SYS_semctl, id, 0, 77, 0));
    CHECK("SYS_semctl GETPID is me", syscall(SYS_semctl, id, 0, GETPID, 0) == getpid());
    struct seminfo si;
    CHECK("SYS_semctl SEM_INFO >= 0", semctl_raw(0, 0, SEM_INFO, (union semun){.__buf = &si}) >= 0);
    SAY("semusz %d semaem %d\n", si.semusz, si.semaem);
    CHECK("SYS_semctl SETALL 0 0 0", semctl_raw(id, 0, SETALL,
                                              (union semun){.array = (unsigned short[3]){0}}));
    struct sembuf wait1 = {2, -3, 0};
    struct timespec ts = {0, 10000000};
    CHECK("SYS_semtimedop times out", syscall(SYS_semtimedop, id, &wait1, 1, &ts));
    struct timespec bad = {0, 1000000000};
    CHECK("SYS_semtimedop bad ts", syscall(SYS_semtimedop, id, &wait1, 1, &bad));
    CHECK("SYS_semtimedop NULL ts nowait", syscall(SYS_semtimedop, id,
                                                   &(struct sembuf){2, -3, IPC_NOWAIT}, 1, NULL));
    CHECK("SYS_semop nsops 0", syscall(SYS_semop, id, ops, 0));
    /* nsops is an unsigned int: 2^32 + 1 is 1 */
    CHECK("SYS_semop nsops 2^32+1",
          syscall(SYS_semop, id, &(struct sembuf){0, 1, 0}, 0x100000001L));
    CHECK("SYS_semctl GETVAL 0", syscall(SYS_semctl, id, 0, GETVAL, 0));
    /* a sleeper woken through the raw calls */
    pid_t p = kid();
    if (p == 0) {
        struct sembuf w = {1, -1, 0};
        _exit(syscall(SYS_semop, id, &w, 1) < 0 ? errno : 0);
    }
    for (long i = 0; syscall(SYS_semctl, id, 1, GETNCNT, 0) != 1; i++) {
        if (i > 2000000) {
            SAY("timed out waiting for the sleeper\n");
            exit(2);
        }
        usleep(100);
    }
    CHECK("SYS_semop wake", syscall(SYS_semop, id, &(struct sembuf){1, 1, 0}, 1));
    int st;
    waitpid(p, &st, 0);
    SAY("sleeper: %s\n", WEXITSTATUS(st) ? errname(WEXITSTATUS(st)) : "0");
    CHECK("SYS_semctl IPC_RMID", syscall(SYS_semctl, id, 0, IPC_RMID, 0));
    CHECK("SYS_semop removed", syscall(SYS_semop, id, ops, 1));
}

static void shm_cases(void)
{
    long id;
    KEEP(id, "SYS_shmget", syscall(SYS_shmget, IPC_PRIVATE, 8192, 0600));
    long addr;
    KEEP(addr, "SYS_shmat", syscall(SYS_shmat, id, NULL, 0));
    if (addr != -1) {
        strcpy((char *)addr, "through the raw call");
        char *again = shmat(id, NULL, SHM_RDONLY);
        SAY("second attach reads: %s\n", again == (void *)-1 ? "(failed)" : again);
        struct shmid_ds ds;
        CHECK("SYS_shmctl IPC_STAT", syscall(SYS_shmctl, id, IPC_STAT, &ds));
        SAY("segsz %zu nattch %lu cpid-is-me %d\n", ds.shm_segsz, ds.shm_nattch,
            ds.shm_cpid == getpid());
        CHECK("shmdt second", shmdt(again));
        CHECK("SYS_shmdt", syscall(SYS_shmdt, addr));
        CHECK("SYS_shmdt again", syscall(SYS_shmdt, addr));
    }
    CHECK("SYS_shmat bad id", syscall(SYS_shmat, id + 32768, NULL, 0));
    CHECK("SYS_shmctl IPC_RMID", syscall(SYS_shmctl, id, IPC_RMID, NULL));
    CHECK("SYS_shmctl IPC_STAT removed", syscall(SYS_shmctl, id, IPC_STAT, NULL));
}

/* other numbers go to the kernel, six arguments and errno intact */
static void passthrough_cases(void)
{
    CHECK("SYS_getpid == getpid", syscall(SYS_getpid) == getpid());
    CHECK("SYS_close -1", syscall(SYS_close, -1));
    CHECK("unknown number", syscall(100000));
    long p;
    KEEP(p, "SYS_mmap (6 arguments)", syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p != -1) {
        ((char *)p)[4095] = 1;
        CHECK("SYS_munmap", syscall(SYS_munmap, p, 4096));
    }
    CHECK("SYS_mmap bad fd", syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0));
    struct timespec t;
    CHECK("SYS_clock_gettime", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t));
}

int main(void)
{
    msg_cases();
    sem_cases();
    shm_cases();
    passthrough_cases();
    return 0;
}
