/* libuipc-preload: system calls the shim makes for itself, straight to the
 * kernel.
 *
 * Other preloaded libraries wrap libc's functions too: fakeroot's
 * libfakeroot wraps stat, lstat and getuid (and answers with its fake
 * root), and its wrappers call msgget -- ours -- which would stat our
 * socket directory through them again, forever.  The shim's own
 * credentials, file checks and socket I/O must be the kernel's answers,
 * not another library's, so they bypass libc.  Each returns the result, or
 * -1 with errno set, as libc's wrappers do.
 */
#ifndef UIPC_RAW_H
#define UIPC_RAW_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static inline long uipc_raw6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    ret = x0;
#else
#error "libuipc-preload: raw system calls are written for x86_64 and aarch64"
#endif
    if (ret < 0 && ret > -4096) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}

#define uipc_raw(n, a, b, c, d) uipc_raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

static inline int raw_close(int fd) { return (int)uipc_raw(SYS_close, fd, 0, 0, 0); }
static inline ssize_t raw_read(int fd, void *b, size_t n) { return uipc_raw(SYS_read, fd, b, n, 0); }
static inline ssize_t raw_write(int fd, const void *b, size_t n) { return uipc_raw(SYS_write, fd, b, n, 0); }
static inline int raw_lstat(const char *p, struct stat *st)
{
    return (int)uipc_raw(SYS_newfstatat, AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW);
}
static inline int raw_stat(const char *p, struct stat *st)
{
    return (int)uipc_raw(SYS_newfstatat, AT_FDCWD, p, st, 0);
}
static inline int raw_fcntl(int fd, int cmd, long arg) { return (int)uipc_raw(SYS_fcntl, fd, cmd, arg, 0); }
static inline int raw_pipe2(int fds[2], int flags) { return (int)uipc_raw(SYS_pipe2, fds, flags, 0, 0); }
static inline int raw_socket(int d, int t, int p) { return (int)uipc_raw(SYS_socket, d, t, p, 0); }
static inline int raw_connect(int fd, const void *sa, socklen_t len)
{
    return (int)uipc_raw(SYS_connect, fd, sa, len, 0);
}
static inline int raw_getsockopt(int fd, int level, int name, void *v, socklen_t *len)
{
    return (int)uipc_raw6(SYS_getsockopt, fd, level, name, (long)v, (long)len, 0);
}
static inline ssize_t raw_sendmsg(int fd, const struct msghdr *m, int flags)
{
    return uipc_raw(SYS_sendmsg, fd, m, flags, 0);
}
static inline ssize_t raw_recvmsg(int fd, struct msghdr *m, int flags)
{
    return uipc_raw(SYS_recvmsg, fd, m, flags, 0);
}
static inline ssize_t raw_recv(int fd, void *b, size_t n, int flags)
{
    return uipc_raw6(SYS_recvfrom, fd, (long)b, (long)n, flags, 0, 0);
}
static inline int raw_ppoll(struct pollfd *p, nfds_t n, const sigset_t *mask)
{
    return (int)uipc_raw6(SYS_ppoll, (long)p, (long)n, 0, (long)mask, mask ? 8 : 0, 0);
}
static inline pid_t raw_getpid(void) { return (pid_t)uipc_raw(SYS_getpid, 0, 0, 0, 0); }
static inline uid_t raw_getuid(void) { return (uid_t)uipc_raw(SYS_getuid, 0, 0, 0, 0); }
static inline uid_t raw_geteuid(void) { return (uid_t)uipc_raw(SYS_geteuid, 0, 0, 0, 0); }
static inline int raw_getresuid(uid_t *r, uid_t *e, uid_t *s)
{
    return (int)uipc_raw(SYS_getresuid, r, e, s, 0);
}
static inline int raw_getresgid(gid_t *r, gid_t *e, gid_t *s)
{
    return (int)uipc_raw(SYS_getresgid, r, e, s, 0);
}
static inline int raw_getgroups(int n, gid_t *g) { return (int)uipc_raw(SYS_getgroups, n, g, 0, 0); }

#endif
