/* /proc/sysvipc/{msg,sem,shm}: queues, sets and segments with known keys,
 * modes and owners, then the files read through open+read, openat, fopen+
 * fgets and (built with _FORTIFY_SOURCE) __open_2/__open64_2/__openat_2:
 * the header verbatim, each row re-rendered with the kernel's own format
 * string (so its layout is checked whatever the pids and times), and the
 * columns both sides share: key, id, perms, sizes and counts, ids, and
 * pids and times as "me"/"0"/"set".  Also: write-opens, wrong spellings,
 * descriptor numbers, another uid reading, and an ordinary file untouched.
 * argv[1] "msg", "sem" or "shm" does one part only. */
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

/* the kernel's formats (ipc/msg.c, ipc/sem.c, ipc/shm.c; 64-bit SIZE_SPEC) */
#define MSG_FMT "%10d %10d  %4o  %10lu %10lu %5u %5u %5u %5u %5u %5u %10llu %10llu %10llu\n"
#define SEM_FMT "%10d %10d  %4o %10u %5u %5u %5u %5u %10llu %10llu\n"
#define SHM_FMT "%10d %10d  %4o %21lu %5u %5u  %5lu %5u %5u %5u %5u %10llu %10llu %10llu %21lu %21lu\n"

static volatile int rdonly = O_RDONLY; /* not a constant: fortify calls __open_2 */

static char *slurp(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = read(fd, buf + len, 4096); /* small reads: several per file */
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    return buf;
}

static char *by_open(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        SAY("open %s: %s\n", path, errname(errno));
        return strdup("");
    }
    char *s = slurp(fd);
    close(fd);
    return s;
}

static char *by_fd(int fd)
{
    if (fd < 0)
        return strdup(errname(errno));
    char *s = slurp(fd);
    close(fd);
    return s;
}

static char *by_fopen(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup(errname(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap), line[512];
    buf[0] = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (len + n + 1 > cap)
            buf = realloc(buf, cap *= 2);
        memcpy(buf + len, line, n + 1);
        len += n;
    }
    fclose(f);
    return buf;
}

static const char *pid_is(long v)
{
    return v == 0 ? "0" : v == getpid() ? "me" : "other";
}

static const char *time_is(long long v)
{
    long long now = time(NULL);
    return v == 0 ? "0" : (v > now - 3600 && v <= now + 5) ? "set" : "wrong";
}

static int count_rows(const char *text)
{
    int n = -1;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* every row of a file, parsed, re-rendered and shown */
static void show(const char *kind, const char *text)
{
    const char *nl = strchr(text, '\n');
    if (!nl) {
        SAY("%s: no header\n", kind);
        return;
    }
    SAY("%s header: %.*s", kind, (int)(nl - text + 1), text);
    for (const char *row = nl + 1; *row;) {
        const char *end = strchr(row, '\n');
        size_t len = end ? (size_t)(end - row + 1) : strlen(row);
        char line[512], again[512];
        snprintf(line, sizeof line, "%.*s", (int)len, row);
        long long v[16] = {0};
        int n = 0;
        char *p = line;
        while (n < 16) {
            char *q;
            long long x = strtoll(p, &q, n == 2 ? 8 : 10);
            if (q == p)
                break;
            v[n++] = x;
            p = q;
        }
        if (!strcmp(kind, "msg")) {
            snprintf(again, sizeof again, MSG_FMT, (int)v[0], (int)v[1], (unsigned)v[2],
                     (unsigned long)v[3], (unsigned long)v[4], (unsigned)v[5], (unsigned)v[6],
                     (unsigned)v[7], (unsigned)v[8], (unsigned)v[9], (unsigned)v[10],
                     (unsigned long long)v[11], (unsigned long long)v[12],
                     (unsigned long long)v[13]);
            SAY("msg row: cols %d format %d key %lld id %lld perms %llo cbytes %lld qnum %lld "
                "lspid %s lrpid %s uid %lld gid %lld cuid %lld cgid %lld stime %s rtime %s "
                "ctime %s\n", n, !strcmp(line, again), v[0], v[1], v[2], v[3], v[4],
                pid_is(v[5]), pid_is(v[6]), v[7], v[8], v[9], v[10], time_is(v[11]),
                time_is(v[12]), time_is(v[13]));
        } else if (!strcmp(kind, "sem")) {
            snprintf(again, sizeof again, SEM_FMT, (int)v[0], (int)v[1], (unsigned)v[2],
                     (unsigned)v[3], (unsigned)v[4], (unsigned)v[5], (unsigned)v[6],
                     (unsigned)v[7], (unsigned long long)v[8], (unsigned long long)v[9]);
            SAY("sem row: cols %d format %d key %lld id %lld perms %llo nsems %lld uid %lld "
                "gid %lld cuid %lld cgid %lld otime %s ctime %s\n", n, !strcmp(line, again),
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], time_is(v[8]), time_is(v[9]));
        } else {
            snprintf(again, sizeof again, SHM_FMT, (int)v[0], (int)v[1], (unsigned)v[2],
                     (unsigned long)v[3], (unsigned)v[4], (unsigned)v[5], (unsigned long)v[6],
                     (unsigned)v[7], (unsigned)v[8], (unsigned)v[9], (unsigned)v[10],
                     (unsigned long long)v[11], (unsigned long long)v[12],
                     (unsigned long long)v[13], (unsigned long)v[14], (unsigned long)v[15]);
            SAY("shm row: cols %d format %d key %lld id %lld perms %llo size %lld cpid %s "
                "lpid %s nattch %lld uid %lld gid %lld cuid %lld cgid %lld atime %s dtime %s "
                "ctime %s rss %lld swap %lld\n", n, !strcmp(line, again), v[0], v[1], v[2],
                v[3], pid_is(v[4]), pid_is(v[5]), v[6], v[7], v[8], v[9], v[10],
                time_is(v[11]), time_is(v[12]), time_is(v[13]), v[14], v[15]);
        }
        row += len;
    }
}

/* the file read every way: shown once, the other ways compared with it */
static void read_all_ways(const char *kind)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/sysvipc/%s", kind);
    char *a = by_open(path);
    show(kind, a);
    char *ways[] = {
        by_fopen(path),
        by_fd(openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC)),
        by_fd(open(path, rdonly)),
        by_fd(open64(path, rdonly)),
        by_fd(openat(AT_FDCWD, path, rdonly)),
        by_fd(openat64(-1, path, rdonly)),  /* an absolute path: dirfd unused */
    };
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        SAY("%s way %zu same %d\n", kind, i, !strcmp(a, ways[i]));
        free(ways[i]);
    }
    /* lseek back and read again: the same text */
    int fd = open(path, O_RDONLY);
    char *once = slurp(fd);
    lseek(fd, 0, SEEK_SET);
    char *twice = slurp(fd);
    SAY("%s reread same %d\n", kind, !strcmp(once, twice));
    close(fd);
    free(once);
    free(twice);
    free(a);
}

static void msg_part(void)
{
    struct { long mtype; char text[64]; } m = {1, "hello"};
    int q0, q1, q2;
    KEEP(q0, "msgget 0x1234", msgget(0x1234, IPC_CREAT | 0640));
    CHECK("msgsnd 5", msgsnd(q0, &m, 5, 0));
    m.mtype = 2;
    CHECK("msgsnd 20", msgsnd(q0, &m, 20, 0));
    CHECK("msgrcv type 1", msgrcv(q0, &m, sizeof m.text, 1, 0));
    KEEP(q1, "msgget private", msgget(IPC_PRIVATE, 0600));
    KEEP(q2, "msgget -5", msgget((key_t)-5, IPC_CREAT | 0666));
    struct msqid_ds ds;
    CHECK("IPC_STAT", msgctl(q2, IPC_STAT, &ds));
    ds.msg_perm.uid = 4242;
    ds.msg_perm.gid = 77;
    ds.msg_perm.mode = 0604;
    CHECK("IPC_SET", msgctl(q2, IPC_SET, &ds));
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) { /* another uid makes one and reads the file */
        if (setgid(5678) || setuid(1234))
            _exit(9);
        CHECK("child msgget 0x2222", msgget(0x2222, IPC_CREAT | 0620));
        char *s = by_open("/proc/sysvipc/msg");
        SAY("child sees rows %d\n", count_rows(s));
        CHECK("child open O_WRONLY", open("/proc/sysvipc/msg", O_WRONLY));
        CHECK("child open O_RDWR", open("/proc/sysvipc/msg", O_RDWR));
        _exit(0);
    }
    int st;
    waitpid(kid, &st, 0);
    SAY("child status %d\n", WEXITSTATUS(st));
    read_all_ways("msg");
    CHECK("IPC_RMID q0", msgctl(q0, IPC_RMID, NULL));
    CHECK("IPC_RMID q1", msgctl(q1, IPC_RMID, NULL));
    CHECK("IPC_RMID q2", msgctl(q2, IPC_RMID, NULL));
    CHECK("IPC_RMID 0x2222", msgctl(msgget(0x2222, 0), IPC_RMID, NULL));
    show("msg", by_open("/proc/sysvipc/msg"));
}

static void sem_part(void)
{
    int s0, s1;
    KEEP(s0, "semget 0x4321", semget(0x4321, 3, IPC_CREAT | 0640));
    struct sembuf op = {1, 2, 0};
    CHECK("semop", semop(s0, &op, 1));
    KEEP(s1, "semget private", semget(IPC_PRIVATE, 1, 0600));
    read_all_ways("sem");
    CHECK("IPC_RMID s0", semctl(s0, 0, IPC_RMID));
    CHECK("IPC_RMID s1", semctl(s1, 0, IPC_RMID));
    show("sem", by_open("/proc/sysvipc/sem"));
}

static void shm_part(void)
{
    int m0, m1;
    KEEP(m0, "shmget 0x5555", shmget(0x5555, 10000, IPC_CREAT | 0640));
    char *a = shmat(m0, NULL, 0);
    SAY("shmat m0 %s\n", a == (void *)-1 ? errname(errno) : "ok");
    if (a != (void *)-1) {
        a[0] = 1;     /* two pages resident: rss 8192 */
        a[8192] = 1;
        CHECK("shmdt m0", shmdt(a));
    }
    CHECK("SHM_LOCK", shmctl(m0, SHM_LOCK, NULL));
    KEEP(m1, "shmget private", shmget(IPC_PRIVATE, 4096, 0600));
    char *b = shmat(m1, NULL, 0);
    SAY("shmat m1 %s\n", b == (void *)-1 ? errname(errno) : "ok");
    CHECK("IPC_RMID m1 attached", shmctl(m1, IPC_RMID, NULL)); /* SHM_DEST, key 0 */
    read_all_ways("shm");
    if (b != (void *)-1)
        CHECK("shmdt m1", shmdt(b));
    CHECK("IPC_RMID m0", shmctl(m0, IPC_RMID, NULL));
    show("shm", by_open("/proc/sysvipc/shm"));
}

/* descriptors and spellings */
static void open_rules(void)
{
    char buf[8];
    int fd;
    KEEP(fd, "open O_WRONLY as root", open("/proc/sysvipc/msg", O_WRONLY));
    CHECK("write to it", write(fd, "x", 1));
    CHECK("read from it", read(fd, buf, sizeof buf));
    close(fd);
    KEEP(fd, "open O_RDONLY", open("/proc/sysvipc/sem", O_RDONLY));
    CHECK("write to a read-only one", write(fd, "x", 1));
    CHECK("fcntl O_ACCMODE", fcntl(fd, F_GETFL) & O_ACCMODE);
    close(fd);
    int lowest = dup(0);
    close(lowest);
    fd = open("/proc/sysvipc/shm", O_RDONLY | O_CLOEXEC);
    SAY("lowest free number %d cloexec %d\n", fd == lowest, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    close(fd);
    fd = open("/proc/sysvipc/shm", O_RDONLY);
    SAY("no cloexec %d\n", fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    CHECK("trailing slash", open("/proc/sysvipc/msg/", O_RDONLY));
    CHECK("no such file", open("/proc/sysvipc/nope", O_RDONLY));
    CHECK("O_DIRECTORY", open("/proc/sysvipc/msg", O_RDONLY | O_DIRECTORY));
    CHECK("O_CREAT|O_EXCL", open("/proc/sysvipc/msg", O_WRONLY | O_CREAT | O_EXCL, 0644));
    FILE *f = fopen("/proc/sysvipc/msg", "r+");
    SAY("fopen r+ %s\n", f ? "ok" : errname(errno));
    if (f) {
        SAY("fputs %d\n", fputs("x\n", f) >= 0);
        errno = 0;
        int r = fflush(f), e = errno;
        SAY("fflush %d %s\n", r, errname(e));
        fclose(f);
    }
    SAY("fopen bad mode %s\n", fopen("/proc/sysvipc/msg", "q") ? "ok" : errname(errno));
}

/* an ordinary file goes to the real functions */
static void ordinary_file(void)
{
    char path[] = "/tmp/uipc-procfs-XXXXXX";
    int fd = mkstemp(path);
    CHECK("write plain", write(fd, "plain text\n", 11));
    CHECK("close plain", close(fd));
    char *s = by_open(path);
    SAY("plain open: %s", s);
    free(s);
    s = by_fopen(path);
    SAY("plain fopen: %s", s);
    free(s);
    FILE *f = fopen(path, "a");
    SAY("plain fprintf %d\n", fprintf(f, "more\n"));
    fclose(f);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    s = by_fd(openat(dir, path + 5, rdonly));
    SAY("plain openat: %s", s);
    free(s);
    close(dir);
    unlink(path);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    if (chdir("/") != 0)
        return 2;
    if (!only || !strcmp(only, "msg"))
        msg_part();
    if (!only || !strcmp(only, "sem"))
        sem_part();
    if (!only || !strcmp(only, "shm"))
        shm_part();
    if (!only) {
        open_rules();
        ordinary_file();
    }
    return 0;
}
