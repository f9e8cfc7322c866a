"""Open flags and fcntl commands as the wire carries them:
include/uapi/asm-generic/fcntl.h, linux/fcntl.h and linux/limits.h.

The values are asm-generic's, which are x86_64's.  arm64 numbers four open
flags differently (O_DIRECTORY, O_NOFOLLOW, O_DIRECT, O_LARGEFILE); the
client translates them to these before they travel (uipc/client/pipe.py),
so the core sees one set of numbers on every machine.
"""
from __future__ import annotations

__all__ = [
    "O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND", "O_DSYNC", "FASYNC", "O_DIRECT",
    "O_LARGEFILE", "O_DIRECTORY", "O_NOFOLLOW", "O_NOATIME", "O_PATH", "O_SYNC", "O_TMPFILE",
    "F_DUPFD", "F_GETFD", "F_SETFD", "F_GETFL", "F_SETFL", "F_DUPFD_CLOEXEC", "F_SETPIPE_SZ",
    "F_GETPIPE_SZ", "PIPE_BUF",
]

# include/uapi/asm-generic/fcntl.h (O_ACCMODE, O_NONBLOCK, O_CLOEXEC: uipc/kernel/file.py)
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_DSYNC = 0o10000
FASYNC = 0o20000
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
__O_SYNC = 0o4000000
O_SYNC = __O_SYNC | O_DSYNC
O_PATH = 0o10000000
__O_TMPFILE = 0o20000000
O_TMPFILE = __O_TMPFILE | O_DIRECTORY

# fcntl commands (asm-generic/fcntl.h, linux/fcntl.h's F_LINUX_SPECIFIC_BASE 1024)
F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_DUPFD_CLOEXEC = 1030
F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032

#: include/uapi/linux/limits.h: bytes a pipe write keeps together
PIPE_BUF = 4096
