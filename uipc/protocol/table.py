"""The syscall rows of the wire protocol.

Generated from the core's syscall table (the @syscall lines in uipc/kernel) by
`python -m uipc.protocol.gen`; do not edit.
"""

#: (op code, name, ((argument, wire type), ...), result kind, descriptors, doc)
SYSCALL_ROWS = (
    (1, 'msgget', (('key', 'i32'), ('msgflg', 'i32')), 'int', 0, 'msgget(2).'),
    (2, 'msgsnd', (('msqid', 'i32'), ('mtype', 'i64'), ('mtext', 'bytes'), ('msgflg', 'i32')), 'none', 0, 'msgsnd(2). Tail: mtext.'),
    (3, 'msgrcv', (('msqid', 'i32'), ('msgsz', 'i64'), ('msgtyp', 'i64'), ('msgflg', 'i32')), 'msg', 0, 'msgrcv(2). Result: mtype i64, tail mtext.'),
    (4, 'msgctl', (('msqid', 'i32'), ('cmd', 'i32'), ('buf', 'msqid_ds')), 'ctl', 0, 'msgctl(2). Tail: a packed msqid_ds for IPC_SET, else empty.'),
    (5, 'semget', (('key', 'i32'), ('nsems', 'i32'), ('semflg', 'i32')), 'int', 0, 'semget(2).'),
    (6, 'semtimedop', (('semid', 'i32'), ('sops', 'sembufs'), ('timeout', 'timeout')), 'none', 0, 'semtimedop(2); timeout -1 means none (semop). Tail: struct sembuf[] as u16 sem_num, i16 sem_op, i16 sem_flg.'),
    (7, 'semctl', (('semid', 'i32'), ('semnum', 'i32'), ('cmd', 'i32'), ('arg', 'semun')), 'ctl', 0, "semctl(2). arg: SETVAL's value in the fixed part; tail: u16[] for SETALL, a packed semid_ds for IPC_SET."),
    (8, 'shmget', (('key', 'i32'), ('size', 'u64'), ('shmflg', 'i32')), 'int', 0, 'shmget(2).'),
    (9, 'shmat', (('shmid', 'i32'), ('shmaddr', 'u64'), ('shmflg', 'i32')), 'shmat', 1, "shmat(2). Result: attach_id i64, segsz u64, map_size u64, addr u64, readonly i32, remap i32; the segment's memfd arrives with the reply as SCM_RIGHTS (O_RDONLY for SHM_RDONLY; sealed against resizing)."),
    (10, 'shmdt', (('attach_id', 'i64'), ('abort', 'i32')), 'none', 0, 'shmdt(2), by the attach id shmat returned. abort=1: the client could not map it (the count is reverted without touching times or pids).'),
    (11, 'shmctl', (('shmid', 'i32'), ('cmd', 'i32'), ('buf', 'shmid_ds')), 'ctl', 0, 'shmctl(2). Tail: a packed shmid_ds for IPC_SET.'),
    (13, 'sysctl', (('write', 'u8'), ('text', 'text')), 'text', 0, "Read (write=0) or set (write=1) a sysctl of the caller's namespace. Tail: 'name' or 'name=value' ('-a': every one). Result tail: the value."),
    (14, 'introspect', (('what', 'u8'), ('section', 'u8'), ('cursor', 'i64'), ('count', 'u32'), ('start', 'text')), 'text', 0, 'One page of the daemon\'s state, as JSON. what=0: the caller\'s namespace, section 0 processes (cursor: the first pid), 1 msg, 2 sem, 3 shm (cursor: the first id index, id % 32768), 4 mqueue (cursor: the first queue number), 5 posix_sem (the first semaphore number), 6 posix_shm (the first file number); no tail. what=1: the namespaces the caller may join or lives in, from the name in the tail on (cursor 0). count: the most entries wanted, 0 for the daemon\'s page size (at most 256 entries, fewer when they carry many values). Result tail: {"entries": [...], "next": the cursor (or name) the next page starts at, null after the last}. what=2: the daemon\'s counters {"calls", "processes", "namespaces"}. Objects the caller cannot read show only what /proc/sysvipc shows; see uipc/kernel/procfs.py.'),
    (15, 'unshare', (('flags', 'u32'), ('name', 'text')), 'text', 0, 'unshare(CLONE_NEWIPC): move the calling process into a fresh namespace. Tail: its name (empty: the daemon picks one). Result tail: the name.'),
    (16, 'fork', (('parent_pid', 'i64'), ('ids', 'ids')), 'none', 0, "Sent by a fork child first: it inherited the parent's shm attachments listed in the tail (i64 attach ids). Accepted once, from the child of parent_pid as the daemon verified it when the child connected, for attachments the parent holds; the child's copies then count (nattch)."),
    (17, 'msgrcv_many', (('msqid', 'i32'), ('msgsz', 'i64'), ('msgtyp', 'i64'), ('msgflg', 'i32'), ('count', 'u32')), 'msgs', 0, "Up to `count` (1..1024) msgrcv(2) in one request, as recvmmsg(2) with MSG_WAITFORONE: the first as msgrcv would (it may block), then more with IPC_NOWAIT until `count` or until one fails (the first's failure is the reply's). Result: u32 n, then n x (mtype i64, u32 length, mtext)."),
    (18, 'msgsnd_many', (('msqid', 'i32'), ('msgflg', 'i32'), ('msgs', 'msgs')), 'int', 0, "1..1024 msgsnd(2) in one request, as sendmmsg(2): in order, each as msgsnd would (each may block), stopping at the first failure. Result: how many were sent; if the first fails, its failure is the reply's. Tail: u32 n, then n x (mtype i64, u32 length, mtext)."),
    (19, 'ipc', (('call', 'u32'), ('first', 'i32'), ('second', 'i64'), ('third', 'i64'), ('ptr', 'user'), ('fifth', 'i64')), 'any', 1, "ipc(2), the multiplexer of ipc/syscall.c: call & 0xffff names the call (SEMOP 1 ... SHMCTL 24), call >> 16 its version. Tail: the user memory ptr points to (see uipc/kernel/ipc_syscall.py). Result: u8 kind (0 int, 1 msg, 2 ctl, 3 shmat, 4 none), then that kind's result; a shmat's descriptor comes with it."),
    (20, 'mq_open', (('oflag', 'i32'), ('mode', 'u32'), ('attr', 'u8'), ('maxmsg', 'i64'), ('msgsize', 'i64'), ('rlimit', 'u64'), ('name', 'text')), 'file', 1, "mq_open(3) (the name without glibc's leading '/'); attr 0: the defaults; rlimit: the caller's RLIMIT_MSGQUEUE. Replies with the queue's descriptor (SCM_RIGHTS); calls name it by that descriptor's st_ino"),
    (21, 'mq_unlink', (('name', 'text'),), 'none', 0, "mq_unlink(3) (the name without its leading '/')"),
    (22, 'mq_timedsend', (('mqdes', 'u64'), ('prio', 'u32'), ('timed', 'u8'), ('tv_sec', 'i64'), ('tv_nsec', 'i64'), ('msg', 'bytes')), 'none', 0, 'mq_timedsend(3); timed 0: no timeout (mq_send); the timeout is absolute CLOCK_REALTIME'),
    (23, 'mq_timedreceive', (('mqdes', 'u64'), ('msgsize', 'u64'), ('timed', 'u8'), ('tv_sec', 'i64'), ('tv_nsec', 'i64')), 'msg', 0, 'mq_timedreceive(3); timed 0: no timeout (mq_receive). Result: (priority, message)'),
    (24, 'mq_notify', (('mqdes', 'u64'), ('has', 'u8'), ('notify', 'i32'), ('signo', 'i32'), ('value', 'i64'), ('cookie', 'i64')), 'none', 0, "mq_notify(3); has 0: unregister (NULL). SIGEV_THREAD: the cookie is what the process's mq_notify_wait returns when it fires"),
    (25, 'mq_getsetattr', (('mqdes', 'u64'), ('set', 'u8'), ('mq_flags', 'i64')), 'ctl', 0, 'mq_getsetattr(2): mq_getattr (set 0) and mq_setattr. Result: the old attributes [mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs]'),
    (26, 'close', (('fd', 'u64'), ('others', 'u8')), 'none', 0, "close(2) of a uipc descriptor (named by its st_ino), before the client closes its own: the file's ->flush for the caller; others 1: the process keeps other descriptors of the same open file (dup), which keep it open"),
    (27, 'mq_fileinfo', (('mqdes', 'u64'),), 'text', 0, "read(2) of a queue's descriptor: mqueue_read_file's QSIZE/NOTIFY line"),
    (28, 'mq_notify_wait', (), 'int', 0, "the SIGEV_THREAD helper's wait: the cookie of the next fired notification (negated: a registration removed without firing)"),
    (29, 'shm_open', (('oflag', 'i32'), ('mode', 'u32'), ('name', 'text')), 'memory', 1, "shm_open(3) (the client has applied its umask to mode). Replies with a descriptor of the file's memory (SCM_RIGHTS) opened with oflag's access mode"),
    (30, 'shm_unlink', (('name', 'text'),), 'none', 0, 'shm_unlink(3): the name goes; descriptors and mappings keep the memory'),
    (31, 'sem_open', (('oflag', 'i32'), ('mode', 'u32'), ('value', 'u32'), ('name', 'text')), 'int', 0, "sem_open(3) of a named semaphore (mode with the client's umask applied). Result: its handle"),
    (32, 'sem_close', (('sem', 'i64'),), 'none', 0, 'sem_close(3): one open of the handle goes (the mapping at the last)'),
    (33, 'sem_unlink', (('name', 'text'),), 'none', 0, 'sem_unlink(3): the name goes; processes that have it open keep it'),
    (34, 'sem_post', (('sem', 'i64'),), 'none', 0, 'sem_post(3)'),
    (35, 'sem_timedwait', (('sem', 'i64'), ('flags', 'u8'), ('tv_sec', 'i64'), ('tv_nsec', 'i64')), 'none', 0, 'sem_wait(3) (flags 0), sem_trywait (1), sem_timedwait (2: absolute CLOCK_REALTIME)'),
    (36, 'sem_getvalue', (('sem', 'i64'),), 'int', 0, 'sem_getvalue(3)'),
    (37, 'read', (('fd', 'u64'), ('count', 'u64')), 'bytes', 0, 'read(2) of a uipc descriptor (named by its st_ino). Result tail: the bytes read'),
    (38, 'write', (('fd', 'u64'), ('data', 'bytes')), 'int', 0, 'write(2) to a uipc descriptor (named by its st_ino). Result: bytes written'),
    (39, 'eventfd2', (('initval', 'u32'), ('flags', 'i32')), 'file', 1, "eventfd2(2). Replies with its descriptor (SCM_RIGHTS); calls name it by that descriptor's st_ino"),
)
