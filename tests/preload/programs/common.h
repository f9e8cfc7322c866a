/* Shared by the differential test programs: print results in a form that
 * is the same under the kernel and under the shim (errno by name, no pids,
 * addresses or times). */
#ifndef UIPC_TEST_COMMON_H
#define UIPC_TEST_COMMON_H
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

static inline const char *errname(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* CHECK("label", expr): prints "label = value" or "label = -1 ENAME". */
#define CHECK(label, expr)                                                        \
    do {                                                                          \
        errno = 0;                                                                \
        long _v = (long)(expr);                                                   \
        int _e = errno;                                                           \
        if (_v == -1)                                                             \
            printf("%s = -1 %s\n", label, errname(_e));                           \
        else                                                                      \
            printf("%s = %ld\n", label, _v);                                      \
        fflush(stdout);                                                           \
    } while (0)

/* the value, printed, and kept */
#define KEEP(var, label, expr)                                                    \
    do {                                                                          \
        errno = 0;                                                                \
        var = (expr);                                                             \
        int _e = errno;                                                           \
        if ((long)var == -1)                                                      \
            printf("%s = -1 %s\n", label, errname(_e));                           \
        else                                                                      \
            printf("%s = ok\n", label);                                           \
        fflush(stdout);                                                           \
    } while (0)

#define SAY(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
#endif
