/* shmat/shmdt from many threads at once (the shim's table of attaches is
 * shared by the process's threads), and a fork while they run: the child
 * inherits exactly the attaches that existed when it was made. */
#include <pthread.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

#define THREADS 8
#define ROUNDS 150

static int id;
static pthread_barrier_t held, release;

static unsigned long nattch(void)
{
    struct shmid_ds ds;
    return shmctl(id, IPC_STAT, &ds) < 0 ? (unsigned long)-1 : (unsigned long)ds.shm_nattch;
}

/* shm_nattch once it is `want`, or what it is after 10 s: the uipc daemon
 * learns of a child's exit in its own turn, possibly after our next call
 * (Linux: before the reap) */
static unsigned long nattch_settles(unsigned long want)
{
    struct timespec t0, now, tick = {0, 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        unsigned long n = nattch();
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (n == want || now.tv_sec - t0.tv_sec > 10)
            return n;
        nanosleep(&tick, NULL);
    }
}

static void *worker(void *arg)
{
    long n = (long)arg, ok = 0;
    for (int i = 0; i < ROUNDS; i++) {
        unsigned char *p = shmat(id, NULL, 0);
        if (p == (void *)-1)
            continue;
        p[n] = (unsigned char)i;          /* each thread its own byte */
        unsigned char *q = shmat(id, NULL, SHM_RDONLY);
        ok += q != (void *)-1 && q[n] == (unsigned char)i;
        ok += shmdt(p) == 0;
        ok += q != (void *)-1 && shmdt(q) == 0;
    }
    /* one attach each, held across the barrier */
    char *keep = shmat(id, NULL, 0);
    pthread_barrier_wait(&held);
    pthread_barrier_wait(&release);
    ok += shmdt(keep) == 0;
    return (void *)ok;
}

int main(void)
{
    KEEP(id, "shmget", shmget(IPC_PRIVATE, 4096, 0600));
    pthread_barrier_init(&held, NULL, THREADS + 1);
    pthread_barrier_init(&release, NULL, THREADS + 1);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    /* forks while the threads attach and detach: each child sees what it
     * inherited, never more nor less (it detaches all of it by exiting) */
    for (int i = 0; i < 20; i++) {
        pid_t kid = fork();
        if (kid == 0)
            _exit(0);
        waitpid(kid, NULL, 0);
    }
    pthread_barrier_wait(&held);
    SAY("every thread holds one: nattch %lu\n", nattch_settles(THREADS));
    pthread_barrier_wait(&release);
    long total = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        total += (long)r;
    }
    SAY("successes %ld of %d\n", total, THREADS * (3 * ROUNDS + 1));
    SAY("all detached: nattch %lu\n", nattch_settles(0));
    CHECK("rmid", shmctl(id, IPC_RMID, NULL));
    return 0;
}
