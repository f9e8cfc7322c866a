/* fork copies the mappings at once: the parent detaching right after fork
 * does not take the child's attachment with it (nattch counts the child). */
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include "common.h"

int main(void)
{
    int id;
    KEEP(id, "shmget", shmget(IPC_PRIVATE, 4096, 0600));
    char *p = shmat(id, NULL, 0);
    SAY("shmat ok %d\n", p != (void *)-1);
    strcpy(p, "inherited");
    CHECK("IPC_RMID", shmctl(id, IPC_RMID, NULL));
    int go[2];
    if (pipe(go) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1) /* the parent has detached */
            _exit(2);
        struct shmid_ds ds;
        CHECK("child IPC_STAT", shmctl(id, IPC_STAT, &ds));
        SAY("child sees %s nattch %lu dest %d\n", p, (unsigned long)ds.shm_nattch,
            !!(ds.shm_perm.mode & SHM_DEST));
        CHECK("child shmdt", shmdt(p));
        CHECK("child IPC_STAT after", shmctl(id, IPC_STAT, &ds));
        _exit(0);
    }
    CHECK("parent shmdt", shmdt(p));
    if (write(go[1], "x", 1) != 1)
        return 1;
    int st;
    waitpid(pid, &st, 0);
    SAY("child exit %d\n", WEXITSTATUS(st));
    return 0;
}
