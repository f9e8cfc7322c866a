/* libuipc-preload: shm_open(3) and shm_unlink(3) (glibc's posix/shm_open.c
 * and shm_unlink.c over uipc/kernel/posix_shm.py).
 *
 * The C twin of shm_open in uipc/client/posix_shm.py.  The object lives in
 * the daemon's namespace (its own /dev/shm: docs/deviations.md); shm_open's
 * reply carries a descriptor of its memory (a memfd, opened O_RDONLY for a
 * read-only open), so ftruncate, mmap, fstat and close work on it natively.
 * The daemon checks glibc's name rules and open(2)'s; what only the calling
 * process knows is done here: the umask on a new object's mode (open(2)
 * applies it in Linux), and O_CLOEXEC, which glibc always adds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

UIPC_HIDDEN mode_t uipc_umask(void); /* mqueue.c */

UIPC_EXPORT int shm_open(const char *name, int oflag, mode_t mode)
{
    size_t len = strnlen(name, PATH_MAX);
    if (len >= PATH_MAX) { /* __shm_get_name: too long for its buffer */
        errno = EINVAL;
        return -1;
    }
    struct uipc_shm_open_args a = {oflag, (uint32_t)(mode & ~uipc_umask())};
    /* close-on-exec already (MSG_CMSG_CLOEXEC), as glibc's O_CLOEXEC */
    return uipc_sys_fd(UIPC_OP_SHM_OPEN, &a, sizeof a, name, len, UIPC_WAIT_RESTART);
}

UIPC_EXPORT int shm_unlink(const char *name)
{
    return uipc_unlink_name(UIPC_OP_SHM_UNLINK, name);
}
