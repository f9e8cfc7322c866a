/* posix_spawn, vfork+exec and a daemon()-style double fork: every child
 * image uses IPC; the parent sees its messages. */
#include <spawn.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include "common.h"

extern char **environ;
struct m { long mtype; char text[32]; };

static int send_one(int q, long type, const char *text)
{
    struct m a = {type, ""};
    snprintf(a.text, sizeof a.text, "%s", text);
    return msgsnd(q, &a, strlen(a.text) + 1, 0);
}

int main(int argc, char **argv)
{
    if (argc == 3) { /* a spawned image: send argv[2] on queue argv[1] */
        return send_one(atoi(argv[1]), 1, argv[2]) == 0 ? 0 : 1;
    }
    int q;
    KEEP(q, "msgget", msgget(IPC_PRIVATE, 0600));
    char qs[16];
    snprintf(qs, sizeof qs, "%d", q);
    pid_t pid;
    char *args1[] = {argv[0], qs, "spawned", NULL};
    CHECK("posix_spawn", posix_spawn(&pid, argv[0], NULL, NULL, args1, environ));
    int st;
    waitpid(pid, &st, 0);
    SAY("spawned exit %d\n", WEXITSTATUS(st));
    pid = vfork();
    if (pid == 0) {
        char *args2[] = {argv[0], qs, "vforked", NULL};
        execve(argv[0], args2, environ);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    SAY("vforked exit %d\n", WEXITSTATUS(st));
    /* daemon()-style: fork, setsid, fork again; the grandchild outlives its parent */
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 1;
    pid = fork();
    if (pid == 0) {
        setsid();
        if (fork() == 0) {
            close(pipefd[0]);
            int rc = send_one(q, 1, "daemonized");
            char c = rc == 0 ? 'y' : 'n';
            if (write(pipefd[1], &c, 1) != 1)
                _exit(1);
            _exit(0);
        }
        _exit(0);
    }
    waitpid(pid, &st, 0);
    close(pipefd[1]);
    char c = '?';
    if (read(pipefd[0], &c, 1) != 1)
        c = '!';
    SAY("grandchild sent: %c\n", c);
    for (int i = 0; i < 3; i++) {
        struct m b = {0};
        ssize_t n = msgrcv(q, &b, sizeof b.text, 0, IPC_NOWAIT);
        SAY("message %d: %zd %s\n", i, n, n > 0 ? b.text : "-");
    }
    CHECK("IPC_RMID", msgctl(q, IPC_RMID, NULL));
    return 0;
}
