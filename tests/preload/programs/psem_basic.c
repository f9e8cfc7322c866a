/* Named POSIX semaphores (sem_open and the calls on what it returns) and,
 * beside them, unnamed ones (sem_init), also shared between processes. */
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

#define CHECK_SEM(label, expr)                                                \
    do {                                                                      \
        errno = 0;                                                            \
        sem_t *_s = (expr);                                                   \
        if (_s == SEM_FAILED)                                                 \
            SAY("%s = SEM_FAILED %s\n", label, errname(errno));               \
        else                                                                  \
            SAY("%s = ok\n", label);                                          \
    } while (0)

static int value(sem_t *s)
{
    int v = -99;
    if (sem_getvalue(s, &v) < 0)
        return -100 - errno;
    return v;
}

static struct timespec in_ms(clockid_t clock, long ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static long since_ms(clockid_t clock, const struct timespec *start)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void names(void)
{
    char name[300];
    CHECK_SEM("open /", sem_open("/", O_CREAT, 0600, 0));
    CHECK_SEM("open empty", sem_open("", O_CREAT, 0600, 0));
    CHECK_SEM("open /a/b", sem_open("/a/b", O_CREAT, 0600, 0));
    CHECK_SEM("open missing", sem_open("/missing", 0));
    CHECK_SEM("open above SEM_VALUE_MAX", sem_open("/big", O_CREAT, 0600, (unsigned)SEM_VALUE_MAX + 1));
    for (int len = 250; len <= 257; len++) {
        name[0] = '/';
        memset(name + 1, 'n', len);
        name[len + 1] = 0;
        char label[64];
        snprintf(label, sizeof label, "open name of %d", len);
        errno = 0;
        sem_t *s = sem_open(name, O_CREAT, 0600, 1);
        if (s == SEM_FAILED) {
            SAY("%s = SEM_FAILED %s\n", label, errname(errno));
        } else {
            SAY("%s = ok\n", label);
            CHECK("  close", sem_close(s));
        }
        snprintf(label, sizeof label, "  unlink name of %d", len);
        CHECK(label, sem_unlink(name));
    }
    CHECK("unlink missing", sem_unlink("/missing"));
    CHECK("unlink /", sem_unlink("/"));
    CHECK("unlink /a/b", sem_unlink("/a/b"));
}

static void values(void)
{
    sem_t *s = sem_open("/s1", O_CREAT | O_EXCL, 0600, 2);
    SAY("create %d\n", s != SEM_FAILED);
    CHECK_SEM("create again O_EXCL", sem_open("/s1", O_CREAT | O_EXCL, 0600, 0));
    sem_t *again = sem_open("/s1", O_CREAT, 0600, 9); /* exists: the value is not used */
    sem_t *plain = sem_open("/s1", 0);
    sem_t *noslash = sem_open("s1", 0);
    SAY("same name: same pointer %d %d; without the slash: same %d\n", again == s, plain == s,
        noslash == s);
    SAY("value %d\n", value(s));
    CHECK("close one", sem_close(again));
    CHECK("close two", sem_close(plain));
    CHECK("close noslash", sem_close(noslash));
    SAY("value after closing the others %d\n", value(s));
    CHECK("trywait", sem_trywait(s));
    CHECK("wait", sem_wait(s));
    CHECK("trywait at 0", sem_trywait(s));
    SAY("value %d\n", value(s));
    struct timespec start, t = in_ms(CLOCK_REALTIME, 60);
    clock_gettime(CLOCK_REALTIME, &start);
    CHECK("timedwait +60ms", sem_timedwait(s, &t));
    SAY("waited until the deadline %d\n", since_ms(CLOCK_REALTIME, &start) >= 55);
    struct timespec past = {-1, 0}, bad = {0, 1000000000L}, neg = {0, -1};
    CHECK("timedwait tv_sec -1", sem_timedwait(s, &past));
    CHECK("timedwait bad nsec", sem_timedwait(s, &bad));
    CHECK("timedwait nsec -1", sem_timedwait(s, &neg));
    t = in_ms(CLOCK_MONOTONIC, 60);
    clock_gettime(CLOCK_MONOTONIC, &start);
    CHECK("clockwait MONOTONIC +60ms", sem_clockwait(s, CLOCK_MONOTONIC, &t));
    SAY("waited until the deadline %d\n", since_ms(CLOCK_MONOTONIC, &start) >= 55);
    struct timespec mono_past = {0, 0};
    CHECK("clockwait MONOTONIC 0", sem_clockwait(s, CLOCK_MONOTONIC, &mono_past));
    CHECK("clockwait MONOTONIC -1", sem_clockwait(s, CLOCK_MONOTONIC, &past));
    t = in_ms(CLOCK_REALTIME, 10);
    CHECK("clockwait REALTIME +10ms", sem_clockwait(s, CLOCK_REALTIME, &t));
    CHECK("clockwait CPUTIME", sem_clockwait(s, CLOCK_PROCESS_CPUTIME_ID, &t));
    CHECK("clockwait bad nsec", sem_clockwait(s, CLOCK_MONOTONIC, &bad));
    CHECK("post", sem_post(s));
    CHECK("timedwait tv_sec -1, value 1", sem_timedwait(s, &past));
    CHECK("post", sem_post(s));
    CHECK("timedwait bad nsec, value 1", sem_timedwait(s, &bad));
    CHECK("clockwait CPUTIME, value 1", sem_clockwait(s, CLOCK_PROCESS_CPUTIME_ID, &t));
    CHECK("clockwait MONOTONIC -1, value 1", sem_clockwait(s, CLOCK_MONOTONIC, &past));
    SAY("value %d\n", value(s));

    sem_t *max = sem_open("/max", O_CREAT, 0600, SEM_VALUE_MAX);
    SAY("max value %d\n", value(max));
    CHECK("post at SEM_VALUE_MAX", sem_post(max));
    CHECK("close max", sem_close(max));
    CHECK("unlink max", sem_unlink("/max"));

    /* unlink: the name goes, the semaphore lives while open */
    CHECK("post", sem_post(s));
    CHECK("unlink", sem_unlink("/s1"));
    CHECK("unlink again", sem_unlink("/s1"));
    CHECK_SEM("open after unlink", sem_open("/s1", 0));
    SAY("value after unlink %d\n", value(s));
    sem_t *fresh = sem_open("/s1", O_CREAT | O_EXCL, 0600, 5);
    SAY("recreated: another pointer %d, value %d, old value %d\n", fresh != s, value(fresh), value(s));
    CHECK("close old", sem_close(s));
    CHECK("close new", sem_close(fresh));
    CHECK("unlink new", sem_unlink("/s1"));
    sem_t unnamed;
    sem_init(&unnamed, 0, 0);
    CHECK("close an unnamed semaphore", sem_close(&unnamed));
    sem_destroy(&unnamed);
}

static void permissions(void)
{
    umask(077);
    sem_t *masked = sem_open("/masked", O_CREAT | O_EXCL, 0666, 1);
    umask(0);
    sem_t *open_ = sem_open("/open", O_CREAT | O_EXCL, 0666, 1);
    sem_t *ro = sem_open("/ro", O_CREAT | O_EXCL, 0644, 1);
    pid_t p = fork();
    if (p == 0) {
        if (setgid(65534) || setuid(65534))
            _exit(3);
        CHECK_SEM("nobody: open 0666 under umask 077", sem_open("/masked", 0));
        CHECK_SEM("nobody: open 0666", sem_open("/open", 0));
        CHECK_SEM("nobody: open 0644", sem_open("/ro", 0));
        CHECK_SEM("nobody: open 0644 O_CREAT", sem_open("/ro", O_CREAT, 0600, 0));
        CHECK("nobody: unlink root's", sem_unlink("/open"));
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    SAY("nobody exit %d\n", WEXITSTATUS(st));
    sem_close(masked);
    sem_close(open_);
    sem_close(ro);
    sem_unlink("/masked");
    sem_unlink("/open");
    sem_unlink("/ro");
    umask(022);
}

static void across_fork(void)
{
    sem_t *ping = sem_open("/ping", O_CREAT | O_EXCL, 0600, 0);
    sem_t *pong = sem_open("/pong", O_CREAT | O_EXCL, 0600, 0);
    pid_t p = fork();
    if (p == 0) {
        /* the parent's pointers are the child's */
        int ok = 1;
        for (int i = 0; i < 50; i++)
            ok &= sem_wait(ping) == 0 && sem_post(pong) == 0;
        ok &= sem_close(ping) == 0; /* the child's own open goes */
        _exit(ok ? 0 : 1);
    }
    int ok = 1;
    for (int i = 0; i < 50; i++)
        ok &= sem_post(ping) == 0 && sem_wait(pong) == 0;
    int st;
    waitpid(p, &st, 0);
    SAY("ping-pong 50 ok %d child exit %d\n", ok, WEXITSTATUS(st));
    SAY("values after %d %d\n", value(ping), value(pong));
    CHECK("post after the child closed its copy", sem_post(ping));
    SAY("value %d\n", value(ping));
    /* a child opens by name: the same semaphore */
    p = fork();
    if (p == 0) {
        sem_t *mine = sem_open("/ping", 0);
        _exit(mine != SEM_FAILED && sem_wait(mine) == 0 && sem_post(pong) == 0 ? 0 : 1);
    }
    CHECK("wait for the child's post", sem_wait(pong));
    waitpid(p, &st, 0);
    SAY("child exit %d value %d\n", WEXITSTATUS(st), value(ping));
    sem_close(ping);
    sem_close(pong);
    sem_unlink("/ping");
    sem_unlink("/pong");
}

static void unnamed(void)
{
    sem_t local;
    CHECK("sem_init", sem_init(&local, 0, 1));
    CHECK("trywait", sem_trywait(&local));
    CHECK("trywait at 0", sem_trywait(&local));
    struct timespec t = in_ms(CLOCK_REALTIME, 20);
    CHECK("timedwait +20ms", sem_timedwait(&local, &t));
    t = in_ms(CLOCK_MONOTONIC, 20);
    CHECK("clockwait +20ms", sem_clockwait(&local, CLOCK_MONOTONIC, &t));
    CHECK("post", sem_post(&local));
    SAY("value %d\n", value(&local));
    CHECK("wait", sem_wait(&local));
    CHECK("destroy", sem_destroy(&local));

    /* process-shared, in shared memory */
    sem_t *shared = mmap(NULL, 2 * sizeof(sem_t), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK("sem_init shared 0", sem_init(&shared[0], 1, 0));
    CHECK("sem_init shared 1", sem_init(&shared[1], 1, 0));
    pid_t p = fork();
    if (p == 0) {
        int ok = 1;
        for (int i = 0; i < 50; i++)
            ok &= sem_wait(&shared[0]) == 0 && sem_post(&shared[1]) == 0;
        _exit(ok ? 0 : 1);
    }
    int ok = 1;
    for (int i = 0; i < 50; i++)
        ok &= sem_post(&shared[0]) == 0 && sem_wait(&shared[1]) == 0;
    int st;
    waitpid(p, &st, 0);
    SAY("shared ping-pong ok %d child exit %d values %d %d\n", ok, WEXITSTATUS(st),
        value(&shared[0]), value(&shared[1]));
    sem_destroy(&shared[0]);
    sem_destroy(&shared[1]);
    munmap(shared, 2 * sizeof(sem_t));
}

int main(void)
{
    umask(022);
    names();
    values();
    permissions();
    across_fork();
    unnamed();
    return 0;
}
