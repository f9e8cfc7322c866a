/* shm_open/shm_unlink: names, flags, errors, permissions; the descriptor
 * works natively (fstat, ftruncate, mmap shared with a child); unlink. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "common.h"

static void stat_line(const char *label, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        SAY("%s: fstat -1 %s\n", label, errname(errno));
        return;
    }
    SAY("%s: reg %d mode %o size %lld uid-is-me %d gid-is-mine %d\n", label, S_ISREG(st.st_mode),
        (unsigned)(st.st_mode & 07777), (long long)st.st_size, st.st_uid == getuid(),
        st.st_gid == getgid());
}

static void names(void)
{
    char name[300];
    CHECK("open empty", shm_open("", O_RDWR | O_CREAT, 0600));
    CHECK("open /", shm_open("/", O_RDWR | O_CREAT, 0600));
    CHECK("open / O_RDONLY", shm_open("/", O_RDONLY, 0600));
    CHECK("open /a/b", shm_open("/a/b", O_RDWR | O_CREAT, 0600));
    CHECK("open missing", shm_open("/missing", O_RDWR, 0600));
    for (int len = 253; len <= 258; len++) {
        name[0] = '/';
        memset(name + 1, 'n', len);
        name[len + 1] = 0;
        char label[64];
        snprintf(label, sizeof label, "open name of %d", len);
        int fd;
        KEEP(fd, label, shm_open(name, O_RDWR | O_CREAT, 0600));
        if (fd >= 0)
            close(fd);
        snprintf(label, sizeof label, "  unlink name of %d", len);
        CHECK(label, shm_unlink(name));
    }
    int fd;
    KEEP(fd, "open without slash", shm_open("plain", O_RDWR | O_CREAT | O_EXCL, 0600));
    close(fd);
    CHECK("open with slashes: the same", shm_open("///plain", O_RDWR | O_CREAT | O_EXCL, 0600));
    CHECK("unlink with slashes", shm_unlink("//plain"));
    CHECK("unlink missing", shm_unlink("/missing"));
    CHECK("unlink empty", shm_unlink(""));
    CHECK("unlink /a/b", shm_unlink("/a/b"));
}

static void objects(void)
{
    int fd;
    KEEP(fd, "create", shm_open("/obj", O_RDWR | O_CREAT | O_EXCL, 0666));
    CHECK("create again O_EXCL", shm_open("/obj", O_RDWR | O_CREAT | O_EXCL, 0666));
    SAY("cloexec %d accmode %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0,
        fcntl(fd, F_GETFL) & O_ACCMODE);
    stat_line("new (0666, umask 022)", fd);
    CHECK("ftruncate 8192", ftruncate(fd, 8192));
    stat_line("truncated", fd);
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    SAY("mmap %d\n", p != MAP_FAILED);
    strcpy(p, "from parent");
    strcpy(p + 4096, "page two");
    pid_t c = fork();
    if (c == 0) {
        /* a child opens it by name and sees the parent's bytes */
        int cfd = shm_open("/obj", O_RDWR, 0);
        char *q = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
        if (q == MAP_FAILED)
            _exit(2);
        SAY("child reads '%s' '%s'\n", q, q + 4096);
        strcpy(q + 100, "from child");
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    SAY("child exit %d; parent reads '%s'\n", WEXITSTATUS(st), p + 100);

    int ro;
    KEEP(ro, "open O_RDONLY", shm_open("/obj", O_RDONLY, 0));
    SAY("accmode %d\n", fcntl(ro, F_GETFL) & O_ACCMODE);
    void *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    SAY("mmap writable of O_RDONLY %s\n", w == MAP_FAILED ? errname(errno) : "ok");
    char *r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    SAY("mmap read-only reads '%s'\n", r == MAP_FAILED ? "-" : r);
    CHECK("ftruncate O_RDONLY", ftruncate(ro, 4096));
    CHECK("write O_RDONLY", write(ro, "x", 1));
    munmap(r, 4096);
    close(ro);

    /* O_TRUNC: back to 0 */
    int t;
    KEEP(t, "open O_TRUNC", shm_open("/obj", O_RDWR | O_TRUNC, 0));
    stat_line("after O_TRUNC", fd);
    CHECK("ftruncate 4096", ftruncate(t, 4096));
    close(t);
    /* unlink: the name goes; the descriptor and the mapping stay */
    CHECK("unlink", shm_unlink("/obj"));
    CHECK("unlink again", shm_unlink("/obj"));
    CHECK("open after unlink", shm_open("/obj", O_RDWR, 0));
    stat_line("after unlink", fd);
    strcpy(p, "still mapped");
    SAY("mapping: '%s'\n", p);
    munmap(p, 8192);
    close(fd);
    int again;
    KEEP(again, "recreate", shm_open("/obj", O_RDWR | O_CREAT | O_EXCL, 0600));
    stat_line("recreated (0600)", again);
    close(again);
    CHECK("unlink", shm_unlink("/obj"));
}

static void permissions(void)
{
    int a = shm_open("/private", O_RDWR | O_CREAT | O_EXCL, 0600);
    int b = shm_open("/readable", O_RDWR | O_CREAT | O_EXCL, 0644);
    umask(077);
    int m = shm_open("/masked", O_RDWR | O_CREAT | O_EXCL, 0666);
    stat_line("0666 under umask 077", m);
    umask(022);
    pid_t c = fork();
    if (c == 0) {
        if (setgid(65534) || setuid(65534))
            _exit(3);
        CHECK("nobody: open 0600 O_RDONLY", shm_open("/private", O_RDONLY, 0));
        int fd;
        KEEP(fd, "nobody: open 0644 O_RDONLY", shm_open("/readable", O_RDONLY, 0));
        CHECK("nobody: open 0644 O_RDWR", shm_open("/readable", O_RDWR, 0));
        CHECK("nobody: open 0644 O_RDONLY|O_TRUNC", shm_open("/readable", O_RDONLY | O_TRUNC, 0));
        CHECK("nobody: open masked", shm_open("/masked", O_RDONLY, 0));
        CHECK("nobody: unlink root's", shm_unlink("/readable"));
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    SAY("nobody exit %d\n", WEXITSTATUS(st));
    close(a);
    close(b);
    close(m);
    shm_unlink("/private");
    shm_unlink("/readable");
    shm_unlink("/masked");
}

int main(void)
{
    umask(022);
    names();
    objects();
    permissions();
    return 0;
}
