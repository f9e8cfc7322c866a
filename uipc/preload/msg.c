/* libuipc-preload: msgget, msgsnd, msgrcv, msgctl (ipc/msg.c's syscalls).
 *
 * Each packs its op's fixed arguments (uipc_proto.h) and tail and turns the
 * reply into what glibc's wrapper returns: -1 and errno as the kernel would
 * set it, structs in glibc's layout.  The argument checks the kernel makes
 * before it touches memory are made here in the same order, so a bad size
 * is EINVAL before a bad pointer is read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "shim.h"
#include "sysv.h"

UIPC_EXPORT int msgget(key_t key, int msgflg)
{
    struct uipc_msgget_args a = {key, msgflg};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_MSGGET, &a, sizeof a, NULL, 0, UIPC_WAIT_EINTR, &r) < 0)
        return -1;
    return (int)uipc_int_result(&r);
}

UIPC_EXPORT int msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg)
{
    /* ksys_msgsnd reads the type first (EFAULT), then do_msgsnd checks the size */
    long mtype;
    if (uipc_copy_from_user(&mtype, msgp, sizeof mtype) < 0)
        return -1;
    if ((long)msgsz < 0 || msqid < 0 || msgsz > UIPC_MAX_FRAME) {
        errno = EINVAL;
        return -1;
    }
    struct uipc_msgsnd_args a = {msqid, mtype, msgflg};
    struct uipc_reply r;
    return uipc_sys(UIPC_OP_MSGSND, &a, sizeof a, (const char *)msgp + sizeof(long), msgsz,
                    UIPC_WAIT_EINTR, &r);
}

UIPC_EXPORT ssize_t msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg)
{
    struct uipc_msgrcv_args a = {msqid, (int64_t)msgsz, msgtyp, msgflg};
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_MSGRCV, &a, sizeof a, NULL, 0, UIPC_WAIT_EINTR, &r) < 0)
        return -1;
    if (r.len < 8) {
        errno = EPROTO;
        return -1;
    }
    size_t n = r.len - 8;
    int64_t t;
    memcpy(&t, r.data, 8);
    long mtype = (long)t;
    /* do_msg_fill's put_user/store_msg fail: the message is gone, as in Linux */
    if (uipc_copy_to_user(msgp, &mtype, sizeof mtype) < 0 ||
        uipc_copy_to_user((char *)msgp + sizeof(long), r.data + 8, n) < 0)
        return -1;
    return (ssize_t)n;
}

static void fill_msqid_ds(struct msqid_ds *out, const struct uipc_msqid_ds *in)
{
    memset(out, 0, sizeof *out);
    out->msg_perm.__key = (key_t)in->msg_perm_key;
    out->msg_perm.uid = (uid_t)in->msg_perm_uid;
    out->msg_perm.gid = (gid_t)in->msg_perm_gid;
    out->msg_perm.cuid = (uid_t)in->msg_perm_cuid;
    out->msg_perm.cgid = (gid_t)in->msg_perm_cgid;
    out->msg_perm.mode = (unsigned short)in->msg_perm_mode;
    out->msg_perm.__seq = (unsigned short)in->msg_perm_seq;
    out->msg_stime = (time_t)in->msg_stime;
    out->msg_rtime = (time_t)in->msg_rtime;
    out->msg_ctime = (time_t)in->msg_ctime;
    out->__msg_cbytes = in->msg_cbytes;
    out->msg_qnum = in->msg_qnum;
    out->msg_qbytes = in->msg_qbytes;
    out->msg_lspid = (pid_t)in->msg_lspid;
    out->msg_lrpid = (pid_t)in->msg_lrpid;
}

static void fill_msginfo(struct msginfo *out, const struct uipc_msg_info *in)
{
    out->msgpool = (int)in->msgpool;
    out->msgmap = (int)in->msgmap;
    out->msgmax = (int)in->msgmax;
    out->msgmnb = (int)in->msgmnb;
    out->msgmni = (int)in->msgmni;
    out->msgssz = (int)in->msgssz;
    out->msgtql = (int)in->msgtql;
    out->msgseg = (unsigned short)in->msgseg;
}

UIPC_EXPORT int msgctl(int msqid, int cmd, struct msqid_ds *buf)
{
    struct uipc_msgctl_args a = {msqid, cmd};
    struct uipc_msqid_ds set;
    size_t set_len = 0;
    if (msqid < 0 || cmd < 0) { /* ksys_msgctl's first check */
        errno = EINVAL;
        return -1;
    }
    if (cmd == IPC_SET) {
        struct msqid_ds in; /* copy_msqid_from_user comes first */
        if (uipc_copy_from_user(&in, buf, sizeof in) < 0)
            return -1;
        memset(&set, 0, sizeof set);
        set.msg_perm_uid = in.msg_perm.uid;
        set.msg_perm_gid = in.msg_perm.gid;
        set.msg_perm_mode = in.msg_perm.mode;
        set.msg_qbytes = in.msg_qbytes;
        set_len = sizeof set;
    }
    struct uipc_reply r;
    if (uipc_sys(UIPC_OP_MSGCTL, &a, sizeof a, set_len ? &set : NULL, set_len, UIPC_WAIT_EINTR,
                 &r) < 0)
        return -1;
    struct uipc_ctl ctl;
    if (uipc_ctl_result(&r, &ctl) < 0)
        return -1;
    if (ctl.tag == UIPC_TAG_MSQID_DS || ctl.tag == UIPC_TAG_MSG_INFO) {
        /* copy_to_user after the lookup, as the kernel */
        if (ctl.tag == UIPC_TAG_MSQID_DS && ctl.len >= sizeof(struct uipc_msqid_ds)) {
            struct uipc_msqid_ds ds;
            struct msqid_ds out;
            memcpy(&ds, ctl.fields, sizeof ds);
            fill_msqid_ds(&out, &ds);
            if (uipc_copy_to_user(buf, &out, sizeof out) < 0)
                return -1;
        } else if (ctl.tag == UIPC_TAG_MSG_INFO && ctl.len >= sizeof(struct uipc_msg_info)) {
            struct uipc_msg_info mi;
            struct msginfo out;
            memcpy(&mi, ctl.fields, sizeof mi);
            fill_msginfo(&out, &mi);
            if (uipc_copy_to_user(buf, &out, sizeof out) < 0)
                return -1;
        } else {
            errno = EPROTO;
            return -1;
        }
    }
    return (int)ctl.ret;
}
