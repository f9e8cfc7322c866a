/* libuipc-preload: shmget, shmat, shmdt, shmctl (ipc/shm.c's syscalls). */
#define _GNU_SOURCE
#include <pthread.h>

#include "shim.h"

static pthread_mutex_t shm_lock = PTHREAD_MUTEX_INITIALIZER;

size_t uipc_shm_inherited(int64_t *ids, size_t max)
{
    (void)ids;
    (void)max;
    return 0;
}

void uipc_shm_atfork_prepare(void) { pthread_mutex_lock(&shm_lock); }
void uipc_shm_atfork_parent(void) { pthread_mutex_unlock(&shm_lock); }
void uipc_shm_atfork_child(void) { pthread_mutex_init(&shm_lock, NULL); }
