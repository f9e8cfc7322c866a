/* SysV semaphores: semget's flags and limits, semop's increments,
 * decrements and waits for zero (IPC_NOWAIT, E2BIG, EFBIG, ERANGE, EFAULT),
 * every semctl command with its struct fields, GETPID/GETNCNT/GETZCNT with
 * blocked children (seen by polling the counts), EIDRM for a sleeper, and
 * another user's EACCES/EPERM (SETALL on a write-only set). */
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/prctl.h>
#include "common.h"
#include "sysv.h"

/* fork, the child killed if this program dies first (a failed run leaves
 * no sleeper behind) */


static int getval(int id, int num) { return semctl(id, num, GETVAL); }

static int op(int id, unsigned short num, short val, short flg)
{
    struct sembuf sb = {num, val, flg};
    return semop(id, &sb, 1);
}

/* until semctl(id, num, cmd) == want (a child is asleep in semop) */
static void wait_count(int id, int num, int cmd, int want)
{
    for (long i = 0; semctl(id, num, cmd) != want; i++) {
        if (i > 20000000) {
            SAY("timed out waiting for count %d\n", want);
            exit(2);
        }
        usleep(100);
    }
}

/* a child's call: its result is its exit status (0, or the errno) */
static void child_exit(int r) { _exit(r == -1 ? errno : 0); }

/* the parent prints a child's result once it is reaped, so the output's
 * order never depends on who runs first after a wake-up */
static void reap(const char *what, pid_t p)
{
    int st;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st))
        SAY("%s: not exited\n", what);
    else if (WEXITSTATUS(st))
        SAY("%s = -1 %s\n", what, errname(WEXITSTATUS(st)));
    else
        SAY("%s = 0\n", what);
}

static void semget_cases(void)
{
    int id;
    KEEP(id, "semget private 3", semget(IPC_PRIVATE, 3, 0600));
    SAY("first id %d\n", id);
    CHECK("semget key missing", semget(0x5e1, 1, 0));
    CHECK("semget nsems 0 create", semget(0x5e1, 0, IPC_CREAT | 0600));
    CHECK("semget nsems -1", semget(0x5e1, -1, IPC_CREAT | 0600));
    CHECK("semget nsems 32001", semget(0x5e1, 32001, IPC_CREAT | 0600));
    int k;
    KEEP(k, "semget key create 4", semget(0x5e1, 4, IPC_CREAT | 0640));
    CHECK("semget key again == id", semget(0x5e1, 4, 0) == k);
    CHECK("semget key nsems 0 == id", semget(0x5e1, 0, 0) == k);
    CHECK("semget key fewer == id", semget(0x5e1, 2, IPC_CREAT) == k);
    CHECK("semget key more", semget(0x5e1, 5, 0));
    CHECK("semget excl", semget(0x5e1, 4, IPC_CREAT | IPC_EXCL | 0640));
    CHECK("semget private twice differs (kept)", semget(IPC_PRIVATE, 1, 0600) != id);
    CHECK("IPC_RMID key", semctl(k, 0, IPC_RMID));
    CHECK("IPC_RMID first", semctl(id, 0, IPC_RMID));
    CHECK("IPC_RMID first again", semctl(id, 0, IPC_RMID));
}

static void semop_cases(int id)
{
    CHECK("semop +2", op(id, 0, 2, 0));
    CHECK("GETVAL 0", getval(id, 0));
    CHECK("semop -1", op(id, 0, -1, 0));
    CHECK("GETVAL 0 after -1", getval(id, 0));
    CHECK("semop -2 nowait", op(id, 0, -2, IPC_NOWAIT));
    CHECK("semop zero nowait (1)", op(id, 0, 0, IPC_NOWAIT));
    CHECK("semop zero on sem1 (0)", op(id, 1, 0, 0));
    /* atomic: the second fails, so the first is not applied */
    struct sembuf two[2] = {{1, 5, 0}, {2, -1, IPC_NOWAIT}};
    CHECK("semop atomic pair", semop(id, two, 2));
    CHECK("GETVAL 1 untouched", getval(id, 1));
    struct sembuf same[3] = {{1, 3, 0}, {1, -1, 0}, {1, 2, 0}};
    CHECK("semop three on one", semop(id, same, 3));
    CHECK("GETVAL 1 == 4", getval(id, 1));
    CHECK("semop nsops 0", semop(id, two, 0));
    CHECK("semop semid -1", semop(-1, two, 1));
    CHECK("semop bad id", semop(id + 32768 * 7, two, 1));
    CHECK("semop EFBIG", op(id, 3, 1, 0));
    CHECK("semop EFBIG 65535", op(id, 65535, 0, 0));
    static struct sembuf many[501];
    for (int i = 0; i < 501; i++)
        many[i] = (struct sembuf){0, 0, IPC_NOWAIT};
    CHECK("semop 500 ops", semop(id, many, 500));
    CHECK("semop 501 ops", semop(id, many, 501));
    CHECK("semop NULL", semop(id, NULL, 1));
    CHECK("semop NULL 501", semop(id, NULL, 501));
    CHECK("semop NULL nsops 0", semop(id, NULL, 0));
    CHECK("semop NULL semid -1", semop(-1, NULL, 1));
    CHECK("semop bad pointer", semop(id, (struct sembuf *)8, 1));
    /* sops running off the end of a mapping */
    char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(page + 4096, 4096);
    struct sembuf *edge = (struct sembuf *)(page + 4096 - sizeof(struct sembuf));
    *edge = (struct sembuf){0, 1, 0};
    CHECK("semop last op of a page", semop(id, edge, 1));
    CHECK("semop across the page end", semop(id, edge, 2));
    CHECK("GETVAL 0 after the page-end ops", getval(id, 0));
    CHECK("semop -1 (back)", op(id, 0, -1, 0));
    munmap(page, 4096);
    CHECK("semop semid -1 501 ops", semop(-1, many, 501));
    CHECK("semop semid -1 nsops 0", semop(-1, many, 0));
    CHECK("SETVAL 32767", semctl(id, 2, SETVAL, (union semun){.val = 32767}));
    CHECK("semop over SEMVMX", op(id, 2, 1, 0));
    CHECK("semop over SEMVMX nowait", op(id, 2, 1, IPC_NOWAIT));
    CHECK("semop -32767", op(id, 2, -32767, 0));
    CHECK("GETVAL 2 == 0", getval(id, 2));
}

static void print_ds(const char *what, const struct semid_ds *ds)
{
    SAY("%s: key %d mode %o nsems %lu uid-is-me %d gid-is-me %d cuid-is-me %d cgid-is-me %d "
        "seq %u otime-set %d ctime-set %d pads %lu %lu %lu %lu\n", what, ds->sem_perm.__key,
        ds->sem_perm.mode, ds->sem_nsems, ds->sem_perm.uid == geteuid(),
        ds->sem_perm.gid == getegid(), ds->sem_perm.cuid == geteuid(),
        ds->sem_perm.cgid == getegid(), ds->sem_perm.__seq, ds->sem_otime != 0,
        ds->sem_ctime != 0, ds->__sem_otime_high, ds->__sem_ctime_high, ds->__glibc_reserved3,
        ds->__glibc_reserved4);
}

static void print_info(const char *what, const struct seminfo *si)
{
    SAY("%s: semmap %d semmni %d semmns %d semmnu %d semmsl %d semopm %d semume %d semusz %d "
        "semvmx %d semaem %d\n", what, si->semmap, si->semmni, si->semmns, si->semmnu,
        si->semmsl, si->semopm, si->semume, si->semusz, si->semvmx, si->semaem);
}

static void semctl_cases(void)
{
    int id;
    KEEP(id, "semget key 3", semget(0x5e2, 3, IPC_CREAT | 0644));
    struct semid_ds ds;
    memset(&ds, 0x55, sizeof ds);
    CHECK("IPC_STAT", semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
    print_ds("fresh", &ds);
    unsigned short vals[3] = {1, 2, 3}, got[3] = {9, 9, 9};
    CHECK("SETALL", semctl(id, 0, SETALL, (union semun){.array = vals}));
    CHECK("GETALL", semctl(id, 0, GETALL, (union semun){.array = got}));
    SAY("values %u %u %u\n", got[0], got[1], got[2]);
    unsigned short big[3] = {1, 32768, 3};
    CHECK("SETALL over SEMVMX", semctl(id, 0, SETALL, (union semun){.array = big}));
    CHECK("GETVAL 1 still 2", getval(id, 1));
    CHECK("SETALL NULL", semctl(id, 0, SETALL, (union semun){.array = NULL}));
    CHECK("GETALL NULL", semctl(id, 0, GETALL, (union semun){.array = NULL}));
    CHECK("SETVAL 7", semctl(id, 1, SETVAL, (union semun){.val = 7}));
    CHECK("GETVAL 1", getval(id, 1));
    CHECK("SETVAL -1", semctl(id, 1, SETVAL, (union semun){.val = -1}));
    CHECK("SETVAL 32768", semctl(id, 1, SETVAL, (union semun){.val = 32768}));
    CHECK("SETVAL semnum 3", semctl(id, 3, SETVAL, (union semun){.val = 1}));
    CHECK("SETVAL semnum -1", semctl(id, -1, SETVAL, (union semun){.val = 1}));
    CHECK("SETVAL ERANGE before id", semctl(id + 32768, 0, SETVAL, (union semun){.val = -1}));
    CHECK("GETVAL semnum 3", semctl(id, 3, GETVAL));
    CHECK("GETVAL semnum -1", semctl(id, -1, GETVAL));
    CHECK("GETPID is me", semctl(id, 1, GETPID) == getpid());
    CHECK("GETNCNT", semctl(id, 1, GETNCNT));
    CHECK("GETZCNT", semctl(id, 1, GETZCNT));
    CHECK("GETPID semnum 9", semctl(id, 9, GETPID));
    CHECK("unknown cmd", semctl(id, 0, 99));
    CHECK("IPC_STAT|IPC_64", semctl(id, 0, IPC_STAT | 0x100, (union semun){.buf = &ds}));
    CHECK("GETVAL|IPC_64", semctl(id, 0, GETVAL | 0x100));
    CHECK("semid -1 GETVAL", semctl(-1, 0, GETVAL));
    CHECK("semid -1 IPC_INFO", semctl(-1, 0, IPC_INFO, (union semun){.buf = &ds}));
    CHECK("bad id GETVAL", semctl(id + 32768, 0, GETVAL));
    CHECK("bad id IPC_STAT", semctl(id + 32768, 0, IPC_STAT, (union semun){.buf = &ds}));
    CHECK("IPC_STAT NULL", semctl(id, 0, IPC_STAT, (union semun){.buf = NULL}));
    CHECK("bad id IPC_STAT NULL", semctl(id + 32768, 0, IPC_STAT, (union semun){.buf = NULL}));
    void *bad = (void *)16;
    CHECK("IPC_STAT bad pointer", semctl(id, 0, IPC_STAT, (union semun){.buf = bad}));
    CHECK("GETALL bad pointer", semctl(id, 0, GETALL, (union semun){.array = bad}));
    CHECK("SETALL bad pointer", semctl(id, 0, SETALL, (union semun){.array = bad}));
    CHECK("SETALL bad pointer, bad id", semctl(id + 32768, 0, SETALL, (union semun){.array = bad}));
    CHECK("IPC_SET bad pointer", semctl(id, 0, IPC_SET, (union semun){.buf = bad}));
    CHECK("IPC_INFO bad pointer", semctl(id, 0, IPC_INFO, (union semun){.buf = bad}));
    CHECK("GETVAL 1 still 7", getval(id, 1));
    CHECK("semop to set otime", op(id, 0, 1, 0));
    CHECK("IPC_STAT", semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
    print_ds("after semop", &ds);
    /* IPC_SET: uid, gid and the mode's permission bits */
    struct semid_ds set = ds;
    set.sem_perm.mode = 0100600 | 0640;
    set.sem_perm.uid = 123;
    set.sem_perm.gid = 456;
    set.sem_nsems = 99;
    CHECK("IPC_SET", semctl(id, 0, IPC_SET, (union semun){.buf = &set}));
    CHECK("IPC_STAT", semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
    SAY("after IPC_SET: mode %o uid %u gid %u cuid-is-me %d nsems %lu\n", ds.sem_perm.mode,
        ds.sem_perm.uid, ds.sem_perm.gid, ds.sem_perm.cuid == geteuid(), ds.sem_nsems);
    set.sem_perm.uid = (uid_t)-1;
    CHECK("IPC_SET uid -1", semctl(id, 0, IPC_SET, (union semun){.buf = &set}));
    CHECK("IPC_SET NULL", semctl(id, 0, IPC_SET, (union semun){.buf = NULL}));
    CHECK("IPC_SET NULL bad id", semctl(id + 32768, 0, IPC_SET, (union semun){.buf = NULL}));
    CHECK("IPC_SET NULL semid -1", semctl(-1, 0, IPC_SET, (union semun){.buf = NULL}));
    CHECK("IPC_SET bad id", semctl(id + 32768, 0, IPC_SET, (union semun){.buf = &set}));
    /* SEM_STAT and SEM_STAT_ANY take an index and return the id */
    int idx = id % 32768;
    CHECK("SEM_STAT == id", semctl(idx, 0, SEM_STAT, (union semun){.buf = &ds}) == id);
    CHECK("SEM_STAT_ANY == id", semctl(idx, 0, SEM_STAT_ANY, (union semun){.buf = &ds}) == id);
    SAY("SEM_STAT_ANY nsems %lu\n", ds.sem_nsems);
    CHECK("SEM_STAT by id", semctl(id, 0, SEM_STAT, (union semun){.buf = &ds}) == id);
    CHECK("SEM_STAT empty index", semctl(idx + 100, 0, SEM_STAT, (union semun){.buf = &ds}));
    CHECK("SEM_STAT_ANY NULL", semctl(idx, 0, SEM_STAT_ANY, (union semun){.buf = NULL}));
    /* IPC_INFO: limits; SEM_INFO: usage; both return the highest index */
    int other;
    KEEP(other, "semget private 5", semget(IPC_PRIVATE, 5, 0600));
    struct seminfo si;
    memset(&si, 0x55, sizeof si);
    CHECK("IPC_INFO == max index", semctl(0, 0, IPC_INFO, (union semun){.__buf = &si}) ==
                                       (other % 32768 > idx ? other % 32768 : idx));
    print_info("IPC_INFO", &si);
    memset(&si, 0x55, sizeof si);
    CHECK("SEM_INFO == max index", semctl(12345, 0, SEM_INFO, (union semun){.__buf = &si}) ==
                                       (other % 32768 > idx ? other % 32768 : idx));
    print_info("SEM_INFO", &si);
    CHECK("IPC_INFO NULL", semctl(0, 0, IPC_INFO, (union semun){.__buf = NULL}));
    CHECK("SEM_INFO NULL", semctl(0, 0, SEM_INFO, (union semun){.__buf = NULL}));
    CHECK("IPC_RMID other", semctl(other, 0, IPC_RMID));
    CHECK("IPC_RMID", semctl(id, 0, IPC_RMID));
    CHECK("GETVAL removed", getval(id, 0));
    CHECK("semop removed", op(id, 0, 1, 0));
    CHECK("IPC_STAT removed", semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
    CHECK("SEM_STAT removed index", semctl(idx, 0, SEM_STAT, (union semun){.buf = &ds}));
    memset(&si, 0x55, sizeof si);
    CHECK("SEM_INFO one set left", semctl(0, 0, SEM_INFO, (union semun){.__buf = &si}));
    print_info("SEM_INFO one set left", &si);
}

/* GETPID, GETNCNT, GETZCNT with children asleep on the set */
static void sleeper_cases(void)
{
    int id;
    KEEP(id, "semget sleepers", semget(IPC_PRIVATE, 2, 0600));
    CHECK("SETVAL 1 = 1", semctl(id, 1, SETVAL, (union semun){.val = 1}));
    pid_t dec = kid();
    if (dec == 0) {
        child_exit(op(id, 0, -2, 0));
    }
    wait_count(id, 0, GETNCNT, 1);
    pid_t zero = kid();
    if (zero == 0) {
        child_exit(op(id, 1, 0, 0));
    }
    wait_count(id, 1, GETZCNT, 1);
    CHECK("GETNCNT 0", semctl(id, 0, GETNCNT));
    CHECK("GETZCNT 0", semctl(id, 0, GETZCNT));
    CHECK("GETNCNT 1", semctl(id, 1, GETNCNT));
    CHECK("GETZCNT 1", semctl(id, 1, GETZCNT));
    CHECK("semop +1 (not enough)", op(id, 0, 1, 0));
    CHECK("GETNCNT 0 still", semctl(id, 0, GETNCNT));
    CHECK("GETPID 0 is me", semctl(id, 0, GETPID) == getpid());
    CHECK("semop +1 (enough)", op(id, 0, 1, 0));
    reap("child: semop -2 on 0", dec);
    CHECK("GETVAL 0 after wake", semctl(id, 0, GETVAL));
    CHECK("GETPID 0 is the child", semctl(id, 0, GETPID) == dec);
    CHECK("GETNCNT 0 after wake", semctl(id, 0, GETNCNT));
    CHECK("semop -1 on 1", op(id, 1, -1, 0));
    reap("child: wait for zero on 1", zero);
    CHECK("GETZCNT 1 after wake", semctl(id, 1, GETZCNT));
    /* a complex sleeper counts only on the semaphore it is blocked on */
    pid_t cx = kid();
    if (cx == 0) {
        struct sembuf ops[2] = {{0, -1, 0}, {1, -1, 0}};
        child_exit(semop(id, ops, 2));
    }
    wait_count(id, 0, GETNCNT, 1);
    CHECK("complex: GETNCNT 1", semctl(id, 1, GETNCNT));
    CHECK("SETVAL 0 = 1", semctl(id, 0, SETVAL, (union semun){.val = 1}));
    wait_count(id, 1, GETNCNT, 1);
    CHECK("complex: GETNCNT 0 now", semctl(id, 0, GETNCNT));
    CHECK("SETALL 1 1", semctl(id, 0, SETALL, (union semun){.array = (unsigned short[]){1, 1}}));
    reap("child: complex semop", cx);
    CHECK("GETALL after complex", semctl(id, 0, GETALL,
                                         (union semun){.array = (unsigned short[2]){0}}));
    CHECK("GETVAL 0", semctl(id, 0, GETVAL));
    CHECK("GETVAL 1", semctl(id, 1, GETVAL));
    /* EIDRM for a sleeper when the set goes */
    pid_t rm = kid();
    if (rm == 0) {
        child_exit(op(id, 0, -5, 0));
    }
    wait_count(id, 0, GETNCNT, 1);
    CHECK("IPC_RMID with a sleeper", semctl(id, 0, IPC_RMID));
    reap("child: semop -5 until removed", rm);
}

/* another user (uid 65534): read and alter permission, owner-only commands */
static void other_user_cases(void)
{
    int ro, wo;
    KEEP(ro, "semget 0644", semget(IPC_PRIVATE, 2, 0644));
    KEEP(wo, "semget 0622", semget(IPC_PRIVATE, 3, 0622));
    pid_t p = kid();
    if (p == 0) {
        if (setgid(65534) || setuid(65534))
            _exit(3);
        struct semid_ds ds;
        CHECK("nobody: GETVAL 0644", semctl(ro, 0, GETVAL));
        CHECK("nobody: IPC_STAT 0644", semctl(ro, 0, IPC_STAT, (union semun){.buf = &ds}));
        CHECK("nobody: semop +1 0644", op(ro, 0, 1, 0));
        CHECK("nobody: semop zero 0644", op(ro, 0, 0, IPC_NOWAIT));
        CHECK("nobody: SETVAL 0644", semctl(ro, 0, SETVAL, (union semun){.val = 1}));
        CHECK("nobody: IPC_SET 0644", semctl(ro, 0, IPC_SET, (union semun){.buf = &ds}));
        CHECK("nobody: IPC_RMID 0644", semctl(ro, 0, IPC_RMID));
        CHECK("nobody: GETVAL 0622", semctl(wo, 0, GETVAL));
        CHECK("nobody: GETALL 0622", semctl(wo, 0, GETALL,
                                            (union semun){.array = (unsigned short[3]){0}}));
        CHECK("nobody: IPC_STAT 0622", semctl(wo, 0, IPC_STAT, (union semun){.buf = &ds}));
        CHECK("nobody: SEM_STAT 0622", semctl(wo % 32768, 0, SEM_STAT, (union semun){.buf = &ds}));
        CHECK("nobody: SEM_STAT_ANY 0622 == id",
              semctl(wo % 32768, 0, SEM_STAT_ANY, (union semun){.buf = &ds}) == wo);
        CHECK("nobody: SETALL 0622",
              semctl(wo, 0, SETALL, (union semun){.array = (unsigned short[]){4, 5, 6}}));
        CHECK("nobody: SETALL 0622 NULL", semctl(wo, 0, SETALL, (union semun){.array = NULL}));
        CHECK("nobody: SETALL 0644 NULL", semctl(ro, 0, SETALL, (union semun){.array = NULL}));
        CHECK("nobody: semop +1 0622", op(wo, 2, 1, 0));
        CHECK("nobody: semop zero 0622", op(wo, 0, 0, IPC_NOWAIT));
        _exit(0);
    }
    int st;
    CHECK("waitpid nobody", waitpid(p, &st, 0) == p && WIFEXITED(st) ? WEXITSTATUS(st) : -2);
    unsigned short got[3];
    CHECK("GETALL 0622", semctl(wo, 0, GETALL, (union semun){.array = got}));
    SAY("0622 values %u %u %u\n", got[0], got[1], got[2]);
    CHECK("IPC_RMID 0644", semctl(ro, 0, IPC_RMID));
    CHECK("IPC_RMID 0622", semctl(wo, 0, IPC_RMID));
}

int main(void)
{
    semget_cases();
    int id;
    KEEP(id, "semget for semop", semget(IPC_PRIVATE, 3, 0600));
    semop_cases(id);
    CHECK("IPC_RMID", semctl(id, 0, IPC_RMID));
    semctl_cases();
    sleeper_cases();
    if (geteuid() == 0)
        other_user_cases();
    return 0;
}
