/* libuipc-preload: syscall(2), for programs that call the SysV IPC
 * syscalls directly (syscall(SYS_msgget, ...)).
 *
 * The twelve SysV numbers run the shim's implementation with the raw
 * syscall's argument types (arch/x86/entry/syscalls/syscall_64.tbl and
 * include/linux/syscalls.h: ints are the low 32 bits of their register,
 * semctl's fourth argument is union semun by value); every other number
 * goes to libc's syscall with all six arguments, as glibc's own reads six
 * whatever the call takes.  Either way the result is glibc's: the value,
 * or -1 with errno.  The real syscall is looked up once: this function is
 * on hot paths of programs that never use IPC (futex, gettid...).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"
#include "sysv.h"

typedef long (*syscall_fn)(long, ...);

static syscall_fn real_syscall(void)
{
    static syscall_fn real;
    syscall_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!fn) {
        fn = UIPC_REAL(syscall_fn, syscall);
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

/* Looked up before the program runs, so that no call of syscall() from a
 * lookup's own path (dlsym's allocations) finds it still unresolved. */
__attribute__((constructor)) static void resolve_real_syscall(void)
{
    real_syscall();
}

/* One SysV syscall by number; 1 when `number` is one (its result in *ret). */
static int sysv_syscall(long number, const long a[6], long *ret)
{
    switch (number) {
    case SYS_msgget:
        *ret = msgget((key_t)a[0], (int)a[1]);
        return 1;
    case SYS_msgsnd:
        *ret = msgsnd((int)a[0], (const void *)a[1], (size_t)a[2], (int)a[3]);
        return 1;
    case SYS_msgrcv:
        *ret = msgrcv((int)a[0], (void *)a[1], (size_t)a[2], a[3], (int)a[4]);
        return 1;
    case SYS_msgctl:
        *ret = msgctl((int)a[0], (int)a[1], (struct msqid_ds *)a[2]);
        return 1;
    case SYS_semget:
        *ret = semget((key_t)a[0], (int)a[1], (int)a[2]);
        return 1;
    case SYS_semop:
        *ret = uipc_semtimedop((int)a[0], (struct sembuf *)a[1], (unsigned)a[2], NULL);
        return 1;
    case SYS_semtimedop:
        *ret = uipc_semtimedop((int)a[0], (struct sembuf *)a[1], (unsigned)a[2],
                               (const struct timespec *)a[3]);
        return 1;
    case SYS_semctl:
        *ret = uipc_semctl((int)a[0], (int)a[1], (int)a[2], (unsigned long)a[3]);
        return 1;
    case SYS_shmget:
        *ret = shmget((key_t)a[0], (size_t)a[1], (int)a[2]);
        return 1;
    case SYS_shmat:
        *ret = (long)shmat((int)a[0], (const void *)a[1], (int)a[2]);
        return 1;
    case SYS_shmdt:
        *ret = shmdt((const void *)a[0]);
        return 1;
    case SYS_shmctl:
        *ret = shmctl((int)a[0], (int)a[1], (struct shmid_ds *)a[2]);
        return 1;
    default:
        return 0;
    }
}

UIPC_EXPORT long syscall(long number, ...)
{
    long a[6];
    va_list ap;
    va_start(ap, number);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    long ret;
    if (sysv_syscall(number, a, &ret))
        return ret;
    /* --- POSIX message queues (mqueue.c): SYS_mq_open, mq_unlink,
     * mq_timedsend, mq_timedreceive, mq_notify, mq_getsetattr with the raw
     * syscalls' semantics (the name as the kernel takes it, without glibc's
     * leading '/'; mq_unlink's EPERM kept) --- */
    UIPC_HIDDEN int uipc_mq_syscall(long number, const long a[6], long *ret);
    if (uipc_mq_syscall(number, a, &ret))
        return ret;
    /* --- end of POSIX message queues --- */
    return real_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
