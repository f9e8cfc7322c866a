/* /proc/sys/kernel/{msg,sem,shm}... and the /proc/sys/fs/mqueue files: every file
 * read; writes through write(2), fopen+fprintf, a dup2'd and an F_DUPFD'd
 * descriptor and a shell's redirection, read back; proc_dointvec's rules
 * (only a write at position 0 counts, what a write consumes, EINVAL for
 * garbage and out-of-range values, nothing changed then); msg_next_id used
 * by msgget; another uid refused; an ordinary file untouched. */
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include "common.h"

static const char *const files[] = {
    "/proc/sys/kernel/msgmax", "/proc/sys/kernel/msgmnb", "/proc/sys/kernel/msgmni",
    "/proc/sys/kernel/msg_next_id", "/proc/sys/kernel/sem", "/proc/sys/kernel/sem_next_id",
    "/proc/sys/kernel/shmmax", "/proc/sys/kernel/shmall", "/proc/sys/kernel/shmmni",
    "/proc/sys/kernel/shm_rmid_forced", "/proc/sys/kernel/shm_next_id",
    "/proc/sys/fs/mqueue/msg_max", "/proc/sys/fs/mqueue/msgsize_max",
    "/proc/sys/fs/mqueue/msg_default", "/proc/sys/fs/mqueue/msgsize_default",
    "/proc/sys/fs/mqueue/queues_max",
};

static volatile int wronly = O_WRONLY, rdonly = O_RDONLY; /* fortify: __open_2 */

/* the file's text, tabs shown as \t */
static void show(const char *path)
{
    char buf[256] = {0}, out[512];
    int fd = open(path, rdonly);
    if (fd < 0) {
        SAY("%s: %s\n", path, errname(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    size_t j = 0;
    for (ssize_t i = 0; i < n && j < sizeof out - 3; i++) {
        if (buf[i] == '\t') {
            out[j++] = '\\';
            out[j++] = 't';
        } else if (buf[i] == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = buf[i];
        }
    }
    out[j] = 0;
    SAY("%s = \"%s\" (read %zd)\n", path, out, n);
}

/* one write(2) of text through a fresh O_WRONLY descriptor, then the value */
static void put(const char *path, const char *text)
{
    int fd = open(path, wronly);
    if (fd < 0) {
        SAY("open %s for writing: %s\n", path, errname(errno));
        return;
    }
    char label[160];
    snprintf(label, sizeof label, "write %s \"%.*s\"", strrchr(path, '/') + 1,
             (int)strcspn(text, "\n"), text);
    CHECK(label, write(fd, text, strlen(text)));
    close(fd);
    show(path);
}

static void writes(void)
{
    put("/proc/sys/kernel/msgmax", "16384\n");
    put("/proc/sys/kernel/msgmni", "100");
    put("/proc/sys/kernel/shmmax", "1073741824\n");
    put("/proc/sys/kernel/shmall", "2097152\n");
    put("/proc/sys/kernel/shmmni", "128\n");
    put("/proc/sys/kernel/shm_rmid_forced", "1\n");
    put("/proc/sys/kernel/sem", "250 32000 32 128\n");
    put("/proc/sys/kernel/sem", "251 32001\n");            /* the first two only */
    put("/proc/sys/kernel/sem", "250 32000 32 128 99\n");  /* the fifth left over */
    put("/proc/sys/kernel/msgmax", "9300 33\n");            /* consumed: "9300 " */
    put("/proc/sys/kernel/msgmax", "\t 77 \n\n");
    put("/proc/sys/fs/mqueue/msg_max", "20\n");
    put("/proc/sys/fs/mqueue/msgsize_max", "16384\n");
    put("/proc/sys/fs/mqueue/queues_max", "-5\n");
    put("/proc/sys/fs/mqueue/msg_default", "5\n");
    /* garbage and out of range: EINVAL, nothing changed */
    put("/proc/sys/kernel/msgmax", "abc\n");
    put("/proc/sys/kernel/msgmax", "12abc");
    put("/proc/sys/kernel/msgmax", "\n");
    put("/proc/sys/kernel/msgmax", "-1");
    put("/proc/sys/kernel/msgmax", "99999999999");
    put("/proc/sys/kernel/msgmni", "40000");
    put("/proc/sys/kernel/shmmax", "-1");
    put("/proc/sys/kernel/shm_rmid_forced", "2");
    put("/proc/sys/kernel/msg_next_id", "-1");
    put("/proc/sys/fs/mqueue/msg_max", "0\n");
    put("/proc/sys/fs/mqueue/msgsize_max", "100\n");
}

static void positions(void)
{
    const char *mnb = "/proc/sys/kernel/msgmnb";
    int fd = open(mnb, O_WRONLY);
    CHECK("first write", write(fd, "100\n", 4));
    CHECK("second write (past 0: ignored)", write(fd, "200\n", 4));
    CHECK("lseek 0", lseek(fd, 0, SEEK_SET));
    CHECK("write at 0 again", write(fd, "300\n", 4));
    CHECK("empty write", write(fd, "", 0));
    char c;
    CHECK("read a write-only one", read(fd, &c, 1));
    close(fd);
    show(mnb);
    char buf[64] = {0};
    fd = open(mnb, O_RDWR);
    CHECK("O_RDWR read", read(fd, buf, sizeof buf - 1));
    CHECK("write after reading (past 0: ignored)", write(fd, "400\n", 4));
    CHECK("lseek 0", lseek(fd, 0, SEEK_SET));
    CHECK("write at 0", write(fd, "500\n", 4));
    CHECK("lseek 0", lseek(fd, 0, SEEK_SET));
    memset(buf, 0, sizeof buf);
    CHECK("read back on the same descriptor", read(fd, buf, sizeof buf - 1));
    SAY("it says %s", buf);
    CHECK("garbage at 0", (lseek(fd, 0, SEEK_SET), write(fd, "x\n", 2)));
    CHECK("position after the refused write", lseek(fd, 0, SEEK_CUR));
    close(fd);
    show(mnb);
    fd = open(mnb, O_RDONLY);
    CHECK("write a read-only one", write(fd, "1\n", 2));
    close(fd);
}

static void other_ways(void)
{
    const char *mnb = "/proc/sys/kernel/msgmnb", *max = "/proc/sys/kernel/msgmax";
    FILE *f = fopen(mnb, "w");
    SAY("fopen w %s\n", f ? "ok" : errname(errno));
    if (f) {
        SAY("fprintf %d\n", fprintf(f, "20000\n"));
        SAY("fclose %d\n", fclose(f));
    }
    show(mnb);
    f = fopen(mnb, "w");
    if (f) {
        fprintf(f, "garbage\n");
        errno = 0;
        int r = fclose(f);
        SAY("fclose of garbage %d %s\n", r, errname(errno));
    }
    show(mnb);
    f = fopen(max, "r+");
    char line[64] = "";
    SAY("fopen r+ %s fgets %s", f ? "ok" : errname(errno), f && fgets(line, sizeof line, f) ? line : "none\n");
    if (f) {
        rewind(f);
        fprintf(f, "8888\n");
        SAY("fflush %d\n", fflush(f));
        rewind(f);
        SAY("fgets again %s", fgets(line, sizeof line, f) ? line : "none\n");
        fclose(f);
    }
    f = fopen(max, "r");
    SAY("fopen r fgets %s", f && fgets(line, sizeof line, f) ? line : "none\n");
    if (f)
        fclose(f);
    int fd = open(mnb, O_WRONLY);
    CHECK("dup2 to 20", dup2(fd, 20));
    close(fd);
    CHECK("write through the dup2", write(20, "30000\n", 6));
    close(20);
    show(mnb);
    fd = open(max, O_WRONLY | O_TRUNC | O_CREAT, 0644); /* a shell's > */
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 30);
    SAY("F_DUPFD_CLOEXEC %d\n", d >= 30);
    close(fd);
    CHECK("write through the F_DUPFD", write(d, "4242\n", 5));
    close(d);
    show(max);
    fd = open(max, O_WRONLY);
    d = dup(fd);
    close(fd);
    CHECK("write through the dup", write(d, "4343\n", 5));
    close(d);
    show(max);
    /* shells: dash's echo writes with write(2); bash's through stdio */
    SAY("sh echo %d\n", system("echo 12345 > /proc/sys/kernel/msgmnb"));
    show(mnb);
    SAY("bash echo %d\n", system("bash -c 'echo 23456 > /proc/sys/kernel/msgmnb'"));
    show(mnb);
    SAY("sh echo garbage %d\n", system("echo nonsense 2>/dev/null > /proc/sys/kernel/msgmnb") != 0);
    show(mnb);
}

static void next_id(void)
{
    put("/proc/sys/kernel/msg_next_id", "77\n");
    int q;
    KEEP(q, "msgget after msg_next_id", msgget(IPC_PRIVATE, 0600));
    SAY("its id %d\n", q);
    show("/proc/sys/kernel/msg_next_id");
    CHECK("IPC_RMID", msgctl(q, IPC_RMID, NULL));
}

static void another_uid(void)
{
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) {
        if (setgid(65534) || setuid(65534))
            _exit(9);
        CHECK("nobody open O_WRONLY", open("/proc/sys/kernel/msgmax", O_WRONLY));
        CHECK("nobody open O_RDWR", open("/proc/sys/fs/mqueue/msg_max", O_RDWR));
        FILE *f = fopen("/proc/sys/kernel/sem", "w");
        SAY("nobody fopen w %s\n", f ? "ok" : errname(errno));
        show("/proc/sys/kernel/msgmax");
        _exit(0);
    }
    int st;
    waitpid(kid, &st, 0);
    SAY("nobody's status %d\n", WEXITSTATUS(st));
}

static void open_rules(void)
{
    CHECK("O_CREAT|O_EXCL", open("/proc/sys/kernel/msgmax", O_WRONLY | O_CREAT | O_EXCL, 0644));
    CHECK("O_DIRECTORY", open("/proc/sys/kernel/msgmax", O_RDONLY | O_DIRECTORY));
    CHECK("a file not there", open("/proc/sys/kernel/msgmax2", O_RDONLY));
    CHECK("trailing slash", open("/proc/sys/kernel/msgmax/", O_RDONLY));
}

static void ordinary_file(void)
{
    char path[] = "/tmp/uipc-sysctl-XXXXXX", buf[64] = {0};
    int fd = mkstemp(path);
    CHECK("dup2 plain", dup2(fd, 25));
    CHECK("write plain", write(25, "plain 1\n", 8));
    int d = fcntl(fd, F_DUPFD, 0);
    CHECK("write plain dup", write(d, "plain 2\n", 8));
    close(d);
    close(25);
    close(fd);
    fd = open(path, O_RDONLY);
    CHECK("read plain", read(fd, buf, sizeof buf - 1));
    SAY("%s", buf);
    close(fd);
    unlink(path);
}

int main(void)
{
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        show(files[i]);
    writes();
    positions();
    other_ways();
    next_id();
    another_uid();
    open_rules();
    ordinary_file();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        show(files[i]);
    return 0;
}
