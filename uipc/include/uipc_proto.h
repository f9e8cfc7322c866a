/* uipc wire protocol, for C clients.
 * Generated from the core's syscall table by `python -m uipc.protocol.gen`;
 * do not edit. Little-endian, packed: every struct below is laid out
 * exactly as on the wire. */
#ifndef UIPC_PROTO_H
#define UIPC_PROTO_H

#include <stdint.h>

#define UIPC_PROTO_VERSION 2
#define UIPC_MAX_FRAME 16777280u
#define UIPC_OP_LINK 0x8000
#define UIPC_OP_SKIP_SUCCESS 0x4000
#define UIPC_OP_CODE_MASK 0x3fff
#define UIPC_EVENT_REQ_ID 0u
#define UIPC_HELLO_CREATE_NS 1

/* op codes */
#define UIPC_OP_HELLO 0
#define UIPC_OP_MSGGET 1
#define UIPC_OP_MSGSND 2
#define UIPC_OP_MSGRCV 3
#define UIPC_OP_MSGCTL 4
#define UIPC_OP_SEMGET 5
#define UIPC_OP_SEMTIMEDOP 6
#define UIPC_OP_SEMCTL 7
#define UIPC_OP_SHMGET 8
#define UIPC_OP_SHMAT 9
#define UIPC_OP_SHMDT 10
#define UIPC_OP_SHMCTL 11
#define UIPC_OP_INTERRUPT 12
#define UIPC_OP_SYSCTL 13
#define UIPC_OP_INTROSPECT 14
#define UIPC_OP_UNSHARE 15
#define UIPC_OP_FORK 16
#define UIPC_OP_MSGRCV_MANY 17
#define UIPC_OP_MSGSND_MANY 18
#define UIPC_OP_IPC 19
#define UIPC_OP_MQ_OPEN 20
#define UIPC_OP_MQ_UNLINK 21
#define UIPC_OP_MQ_TIMEDSEND 22
#define UIPC_OP_MQ_TIMEDRECEIVE 23
#define UIPC_OP_MQ_NOTIFY 24
#define UIPC_OP_MQ_GETSETATTR 25
#define UIPC_OP_CLOSE 26
#define UIPC_OP_MQ_FILEINFO 27
#define UIPC_OP_MQ_NOTIFY_WAIT 28
#define UIPC_OP_SHM_OPEN 29
#define UIPC_OP_SHM_UNLINK 30
#define UIPC_OP_SEM_OPEN 31
#define UIPC_OP_SEM_CLOSE 32
#define UIPC_OP_SEM_UNLINK 33
#define UIPC_OP_SEM_POST 34
#define UIPC_OP_SEM_TIMEDWAIT 35
#define UIPC_OP_SEM_GETVALUE 36
#define UIPC_OP_READ 37
#define UIPC_OP_WRITE 38
#define UIPC_OP_EVENTFD2 39
#define UIPC_OP_TIMERFD_CREATE 40
#define UIPC_OP_TIMERFD_SETTIME 41
#define UIPC_OP_TIMERFD_GETTIME 42
#define UIPC_OP_POLL 43
#define UIPC_OP_PIPE2 44
#define UIPC_OP_MKNOD 45
#define UIPC_OP_OPEN 46
#define UIPC_OP_DUP 47
#define UIPC_OP_FCNTL 48
#define UIPC_OP_UNLINK 49
#define UIPC_OP_SPLICE 50
#define UIPC_OP_KILL 51
#define UIPC_OP_RT_SIGQUEUEINFO 52
#define UIPC_OP_RT_SIGPROCMASK 53
#define UIPC_OP_RT_SIGPENDING 54
#define UIPC_OP_SIGNALFD4 55
#define UIPC_OP_EPOLL_CREATE1 56
#define UIPC_OP_EPOLL_CTL 57
#define UIPC_OP_EPOLL_WAIT 58
#define UIPC_OP_PROC_READ 59
#define UIPC_OP_TEE 60
#define UIPC_OP_TRACE 100

struct uipc_req_header { uint32_t length; uint32_t req_id; uint16_t op; } __attribute__((packed));
struct uipc_reply_header { uint32_t length; uint32_t req_id; int32_t status; } __attribute__((packed));

/* fixed arguments of each op, after the header */
struct uipc_hello_args { uint32_t version; int32_t flags; uint32_t reserved; } __attribute__((packed));
struct uipc_msgget_args { int32_t key; int32_t msgflg; } __attribute__((packed));
struct uipc_msgsnd_args { int32_t msqid; int64_t mtype; int32_t msgflg; } __attribute__((packed));
struct uipc_msgrcv_args { int32_t msqid; int64_t msgsz; int64_t msgtyp; int32_t msgflg; } __attribute__((packed));
struct uipc_msgctl_args { int32_t msqid; int32_t cmd; } __attribute__((packed));
struct uipc_semget_args { int32_t key; int32_t nsems; int32_t semflg; } __attribute__((packed));
struct uipc_semtimedop_args { int32_t semid; int64_t timeout; } __attribute__((packed));
struct uipc_semctl_args { int32_t semid; int32_t semnum; int32_t cmd; int64_t arg; } __attribute__((packed));
struct uipc_shmget_args { int32_t key; uint64_t size; int32_t shmflg; } __attribute__((packed));
struct uipc_shmat_args { int32_t shmid; uint64_t shmaddr; int32_t shmflg; } __attribute__((packed));
struct uipc_shmdt_args { int64_t attach_id; int32_t abort; } __attribute__((packed));
struct uipc_shmctl_args { int32_t shmid; int32_t cmd; } __attribute__((packed));
struct uipc_interrupt_args { uint32_t target_req_id; } __attribute__((packed));
struct uipc_sysctl_args { uint8_t write; } __attribute__((packed));
struct uipc_introspect_args { uint8_t what; uint8_t section; int64_t cursor; uint32_t count; } __attribute__((packed));
struct uipc_unshare_args { uint32_t flags; } __attribute__((packed));
struct uipc_fork_args { int64_t parent_pid; } __attribute__((packed));
struct uipc_msgrcv_many_args { int32_t msqid; int64_t msgsz; int64_t msgtyp; int32_t msgflg; uint32_t count; } __attribute__((packed));
struct uipc_msgsnd_many_args { int32_t msqid; int32_t msgflg; } __attribute__((packed));
struct uipc_ipc_args { uint32_t call; int32_t first; int64_t second; int64_t third; int64_t fifth; } __attribute__((packed));
struct uipc_mq_open_args { int32_t oflag; uint32_t mode; uint8_t attr; int64_t maxmsg; int64_t msgsize; uint64_t rlimit; } __attribute__((packed));
struct uipc_mq_timedsend_args { uint64_t mqdes; uint32_t prio; uint8_t timed; int64_t tv_sec; int64_t tv_nsec; } __attribute__((packed));
struct uipc_mq_timedreceive_args { uint64_t mqdes; uint64_t msgsize; uint8_t timed; int64_t tv_sec; int64_t tv_nsec; } __attribute__((packed));
struct uipc_mq_notify_args { uint64_t mqdes; uint8_t has; int32_t notify; int32_t signo; int64_t value; int64_t cookie; } __attribute__((packed));
struct uipc_mq_getsetattr_args { uint64_t mqdes; uint8_t set; int64_t mq_flags; } __attribute__((packed));
struct uipc_close_args { uint64_t fd; uint8_t others; } __attribute__((packed));
struct uipc_mq_fileinfo_args { uint64_t mqdes; } __attribute__((packed));
struct uipc_shm_open_args { int32_t oflag; uint32_t mode; } __attribute__((packed));
struct uipc_sem_open_args { int32_t oflag; uint32_t mode; uint32_t value; } __attribute__((packed));
struct uipc_sem_close_args { int64_t sem; } __attribute__((packed));
struct uipc_sem_post_args { int64_t sem; } __attribute__((packed));
struct uipc_sem_timedwait_args { int64_t sem; uint8_t flags; int64_t tv_sec; int64_t tv_nsec; } __attribute__((packed));
struct uipc_sem_getvalue_args { int64_t sem; } __attribute__((packed));
struct uipc_read_args { uint64_t fd; uint64_t count; } __attribute__((packed));
struct uipc_write_args { uint64_t fd; } __attribute__((packed));
struct uipc_eventfd2_args { uint32_t initval; int32_t flags; } __attribute__((packed));
struct uipc_timerfd_create_args { int32_t clockid; int32_t flags; } __attribute__((packed));
struct uipc_timerfd_settime_args { uint64_t fd; int32_t flags; int64_t int_sec; int64_t int_nsec; int64_t val_sec; int64_t val_nsec; } __attribute__((packed));
struct uipc_timerfd_gettime_args { uint64_t fd; } __attribute__((packed));
struct uipc_poll_args { int64_t timeout; } __attribute__((packed));
struct uipc_pipe2_args { int32_t flags; } __attribute__((packed));
struct uipc_mknod_args { uint32_t mode; } __attribute__((packed));
struct uipc_open_args { int32_t flags; } __attribute__((packed));
struct uipc_dup_args { uint64_t fd; uint8_t cloexec; } __attribute__((packed));
struct uipc_fcntl_args { uint64_t fd; int32_t cmd; uint64_t arg; } __attribute__((packed));
struct uipc_splice_args { uint64_t fd_in; uint8_t off_in_null; int64_t off_in; uint64_t fd_out; uint8_t off_out_null; int64_t off_out; uint64_t len; uint32_t flags; } __attribute__((packed));
struct uipc_kill_args { int32_t pid; int32_t sig; uint64_t rlimit; } __attribute__((packed));
struct uipc_rt_sigqueueinfo_args { int32_t pid; int32_t sig; int64_t value; uint64_t rlimit; } __attribute__((packed));
struct uipc_rt_sigprocmask_args { int32_t how; uint8_t has; uint64_t set; } __attribute__((packed));
struct uipc_signalfd4_args { int64_t fd; uint64_t mask; int32_t flags; } __attribute__((packed));
struct uipc_epoll_create1_args { int32_t flags; } __attribute__((packed));
struct uipc_epoll_ctl_args { uint64_t epfd; int32_t op; uint64_t fd; int32_t tfd; uint32_t events; uint64_t data; } __attribute__((packed));
struct uipc_epoll_wait_args { uint64_t epfd; int32_t maxevents; int64_t timeout; } __attribute__((packed));
struct uipc_proc_read_args { int64_t pos; uint8_t acc; } __attribute__((packed));
struct uipc_tee_args { uint64_t fd_in; uint64_t fd_out; uint64_t len; uint32_t flags; } __attribute__((packed));
struct uipc_trace_args { int64_t pid; } __attribute__((packed));

/* fixed results */
struct uipc_hello_result { uint32_t version; int64_t pid; int64_t tid; uint64_t boot_id; uint32_t max_frame; } __attribute__((packed));
struct uipc_shmat_result { int64_t attach_id; uint64_t segsz; uint64_t map_size; uint64_t addr; int32_t readonly; int32_t remap; } __attribute__((packed));
struct uipc_int_result { int64_t value; } __attribute__((packed));
struct uipc_ctl_header_result { uint8_t tag; int64_t ret; } __attribute__((packed));

/* structs of the *ctl calls (ipc_perm inlined), tags of ctl results */
struct uipc_msqid_ds { int64_t msg_perm_key; int64_t msg_perm_uid; int64_t msg_perm_gid; int64_t msg_perm_cuid; int64_t msg_perm_cgid; int64_t msg_perm_mode; int64_t msg_perm_seq; int64_t msg_stime; int64_t msg_rtime; int64_t msg_ctime; uint64_t msg_cbytes; uint64_t msg_qnum; uint64_t msg_qbytes; int64_t msg_lspid; int64_t msg_lrpid; } __attribute__((packed));
#define UIPC_TAG_MSQID_DS 1
struct uipc_msg_info { int64_t msgpool; int64_t msgmap; int64_t msgmax; int64_t msgmnb; int64_t msgmni; int64_t msgssz; int64_t msgtql; int64_t msgseg; } __attribute__((packed));
#define UIPC_TAG_MSG_INFO 2
struct uipc_semid_ds { int64_t sem_perm_key; int64_t sem_perm_uid; int64_t sem_perm_gid; int64_t sem_perm_cuid; int64_t sem_perm_cgid; int64_t sem_perm_mode; int64_t sem_perm_seq; int64_t sem_otime; int64_t sem_ctime; int64_t sem_nsems; } __attribute__((packed));
#define UIPC_TAG_SEMID_DS 3
struct uipc_sem_info { int64_t semmap; int64_t semmni; int64_t semmns; int64_t semmnu; int64_t semmsl; int64_t semopm; int64_t semume; int64_t semusz; int64_t semvmx; int64_t semaem; } __attribute__((packed));
#define UIPC_TAG_SEM_INFO 4
struct uipc_shmid_ds { int64_t shm_perm_key; int64_t shm_perm_uid; int64_t shm_perm_gid; int64_t shm_perm_cuid; int64_t shm_perm_cgid; int64_t shm_perm_mode; int64_t shm_perm_seq; uint64_t shm_segsz; int64_t shm_atime; int64_t shm_dtime; int64_t shm_ctime; int64_t shm_cpid; int64_t shm_lpid; uint64_t shm_nattch; } __attribute__((packed));
#define UIPC_TAG_SHMID_DS 5
struct uipc_shm_info { uint64_t shmmax; uint64_t shmmin; uint64_t shmmni; uint64_t shmseg; uint64_t shmall; } __attribute__((packed));
#define UIPC_TAG_SHM_INFO 6
struct uipc_shm_info_stats { int64_t used_ids; uint64_t shm_tot; uint64_t shm_rss; uint64_t shm_swp; uint64_t swap_attempts; uint64_t swap_successes; } __attribute__((packed));
#define UIPC_TAG_SHM_INFO_STATS 7
#define UIPC_TAG_INT 0
#define UIPC_TAG_INTLIST 8

/* Linux's constants, as uipc.uapi has them */
#define UIPC_IPCMNI 32768
#define UIPC_IPC_64 256
#define UIPC_IPC_CREAT 512
#define UIPC_IPC_EXCL 1024
#define UIPC_IPC_INFO 3
#define UIPC_IPC_NOWAIT 2048
#define UIPC_IPC_PRIVATE 0
#define UIPC_IPC_RMID 0
#define UIPC_IPC_SET 1
#define UIPC_IPC_STAT 2
#define UIPC_SEQ_MULTIPLIER 32768
#define UIPC_MSGMAP 16384
#define UIPC_MSGMAX 8192
#define UIPC_MSGMNB 16384
#define UIPC_MSGMNI 32000
#define UIPC_MSGPOOL 512000
#define UIPC_MSGSEG 65535
#define UIPC_MSGSSZ 16
#define UIPC_MSGTQL 16384
#define UIPC_MSG_COPY 16384
#define UIPC_MSG_EXCEPT 8192
#define UIPC_MSG_INFO 12
#define UIPC_MSG_NOERROR 4096
#define UIPC_MSG_STAT 11
#define UIPC_MSG_STAT_ANY 13
#define UIPC_UIO_MAXIOV 1024
#define UIPC_GETALL 13
#define UIPC_GETNCNT 14
#define UIPC_GETPID 11
#define UIPC_GETVAL 12
#define UIPC_GETZCNT 15
#define UIPC_SEMAEM 32767
#define UIPC_SEMMAP 1024000000
#define UIPC_SEMMNI 32000
#define UIPC_SEMMNS 1024000000
#define UIPC_SEMMNU 1024000000
#define UIPC_SEMMSL 32000
#define UIPC_SEMOPM 500
#define UIPC_SEMUME 500
#define UIPC_SEMUSZ 20
#define UIPC_SEMVMX 32767
#define UIPC_SEM_INFO 19
#define UIPC_SEM_STAT 18
#define UIPC_SEM_STAT_ANY 20
#define UIPC_SEM_UNDO 4096
#define UIPC_SETALL 17
#define UIPC_SETVAL 16
#define UIPC_PAGE_SIZE 4096
#define UIPC_SHMALL 18446744073692774399
#define UIPC_SHMLBA 4096
#define UIPC_SHMMAX 18446744073692774399
#define UIPC_SHMMIN 1
#define UIPC_SHMMNI 4096
#define UIPC_SHMSEG 4096
#define UIPC_SHM_DEST 512
#define UIPC_SHM_EXEC 32768
#define UIPC_SHM_HUGETLB 2048
#define UIPC_SHM_INFO 14
#define UIPC_SHM_LOCK 11
#define UIPC_SHM_LOCKED 1024
#define UIPC_SHM_NORESERVE 4096
#define UIPC_SHM_RDONLY 4096
#define UIPC_SHM_REMAP 16384
#define UIPC_SHM_RND 8192
#define UIPC_SHM_STAT 13
#define UIPC_SHM_STAT_ANY 15
#define UIPC_SHM_UNLOCK 12

#endif /* UIPC_PROTO_H */
