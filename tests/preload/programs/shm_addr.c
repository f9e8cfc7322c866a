/* shmat at fixed addresses (SHM_RND, SHM_REMAP), several attaches of one
 * segment, and shmdt by address: EINVAL where nothing is attached, and
 * ksys_shmdt's rule after munmap or mprotect split an attach (every vma of
 * the segment that starts where its offset says, and nothing else). */
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include "common.h"

#define PG 4096UL

static unsigned long nattch(int id)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0)
        return (unsigned long)-1;
    return (unsigned long)ds.shm_nattch;
}

/* A free range of n pages (reserved, then released). */
static char *free_range(size_t n)
{
    char *p = mmap(NULL, n * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p, n * PG);
    return p;
}

/* 1 if nothing at all is mapped in [p, p + n pages) */
static int is_free(char *p, size_t n)
{
    void *q = mmap(p, n * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (q == MAP_FAILED)
        return 0;
    munmap(q, n * PG);
    return q == p;
}

/* "label = at +N pages" (relative to base; "ok" without one), or "label = -1 ENAME" */
static char *at(const char *label, int id, const void *addr, int flg, char *base)
{
    errno = 0;
    char *p = shmat(id, addr, flg);
    if (p == (void *)-1)
        SAY("%s = -1 %s\n", label, errname(errno));
    else if (!base)
        SAY("%s = ok\n", label);
    else
        SAY("%s = at %+ld pages\n", label, (long)(p - base) / (long)PG);
    return p;
}

static void fixed(int id, int id2)
{
    char *x = free_range(8);
    char *p = at("fixed", id, x, 0, x);
    p[0] = 'A';
    at("fixed occupied", id, x, 0, x);
    at("fixed overlapping", id, x + PG, 0, x);
    CHECK("shmdt", shmdt(p));
    at("unaligned", id, x + 5, 0, x);
    p = at("unaligned SHM_RND", id, x + 5, SHM_RND, x);
    CHECK("shmdt rnd", shmdt(p));
    p = at("SHM_RND aligned", id, x + PG, SHM_RND, x);
    CHECK("shmdt rnd aligned", shmdt(p));
    at("SHM_RND to zero with SHM_REMAP", id, (void *)5, SHM_RND | SHM_REMAP, x);
    at("SHM_REMAP without address", id, NULL, SHM_REMAP, x);
    p = at("SHM_RND to zero: anywhere", id, (void *)5, SHM_RND, NULL);
    SAY("anywhere nattch %lu\n", nattch(id));
    CHECK("shmdt anywhere", shmdt(p));
    /* SHM_REMAP over an attach of another segment of the same size: the
     * old attach is gone (its only vma was replaced) */
    p = at("fixed again", id, x, 0, x);
    char *q = at("SHM_REMAP over it", id2, x, SHM_REMAP, x);
    SAY("remapped reads %c, nattch %lu %lu\n", q[0], nattch(id), nattch(id2));
    CHECK("shmdt remapped", shmdt(q));
    SAY("nattch %lu %lu, range free %d\n", nattch(id), nattch(id2), is_free(x, 3));
    CHECK("shmdt replaced", shmdt(p));
    /* SHM_REMAP of a segment over its own attach */
    p = at("fixed", id, x, 0, x);
    q = at("SHM_REMAP same segment", id, x, SHM_REMAP, x);
    SAY("nattch %lu\n", nattch(id));
    CHECK("shmdt", shmdt(q));
    CHECK("shmdt again", shmdt(q));
    SAY("nattch %lu\n", nattch(id));
    /* SHM_REMAP over a free range and over a plain mapping */
    char *anon = mmap(x, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                      -1, 0);
    SAY("anon mapped %d\n", anon == x);
    q = at("SHM_REMAP over anonymous memory", id, x, SHM_REMAP, x);
    SAY("reads %c nattch %lu\n", q[0], nattch(id));
    CHECK("shmdt", shmdt(q));
}

static void two_attaches(int id)
{
    char *a = at("first anywhere", id, NULL, 0, NULL);
    char *b = shmat(id, NULL, 0);
    SAY("second elsewhere %d\n", b != (void *)-1 && b != a);
    strcpy(a + 100, "shared bytes");
    SAY("second reads: %s\n", b + 100);
    b[200] = 'Z';
    SAY("first reads: %c\n", a[200]);
    SAY("nattch %lu\n", nattch(id));
    CHECK("shmdt inside first", shmdt(a + PG));
    CHECK("shmdt unaligned", shmdt(a + 1));
    CHECK("shmdt NULL", shmdt(NULL));
    int local;
    CHECK("shmdt stack page", shmdt((void *)((uintptr_t)&local & ~(PG - 1))));
    char *heap = malloc(10);
    CHECK("shmdt heap page", shmdt((void *)((uintptr_t)heap & ~(PG - 1))));
    free(heap);
    CHECK("shmdt first", shmdt(a));
    SAY("nattch %lu, second still reads %c\n", nattch(id), b[200]);
    CHECK("shmdt first again", shmdt(a));
    CHECK("shmdt second", shmdt(b));
    SAY("nattch %lu\n", nattch(id));
}

/* ksys_shmdt after munmap/mprotect/SHM_REMAP split an attach of 3 pages */
static void fragments(int big, int small)
{
    char *x = free_range(8);
    char *p = at("munmap middle: shmat", big, x, 0, x);
    CHECK("munmap middle", munmap(p + PG, PG));
    p[0] = 1;
    p[2 * PG] = 2;
    CHECK("shmdt", shmdt(p));
    SAY("nattch %lu, range free %d\n", nattch(big), is_free(x, 3));

    p = at("munmap first: shmat", big, x, 0, x);
    CHECK("munmap first", munmap(p, PG));
    SAY("nattch %lu\n", nattch(big));
    CHECK("shmdt", shmdt(p));
    SAY("nattch %lu, range free %d\n", nattch(big), is_free(x, 3));

    p = at("munmap last: shmat", big, x, 0, x);
    CHECK("munmap last", munmap(p + 2 * PG, PG));
    SAY("nattch %lu\n", nattch(big));
    CHECK("shmdt", shmdt(p));
    SAY("nattch %lu, range free %d\n", nattch(big), is_free(x, 3));

    p = at("munmap all: shmat", big, x, 0, x);
    CHECK("munmap all", munmap(p, 3 * PG));
    SAY("nattch %lu\n", nattch(big));
    CHECK("shmdt", shmdt(p));

    p = at("munmap over two attaches: shmat", big, x, 0, x);
    char *q = at("shmat", small, x + 3 * PG, 0, x);
    CHECK("munmap both", munmap(p, 4 * PG));
    SAY("nattch %lu %lu\n", nattch(big), nattch(small));

    p = at("mprotect: shmat", big, x, 0, x);
    CHECK("mprotect middle", mprotect(p + PG, PG, PROT_READ));
    CHECK("mprotect first", mprotect(p, PG, PROT_READ));
    CHECK("shmdt", shmdt(p));
    SAY("nattch %lu, range free %d\n", nattch(big), is_free(x, 3));

    /* a hole filled by another mapping: shmdt leaves it alone */
    p = at("hole: shmat", big, x, 0, x);
    CHECK("munmap middle", munmap(p + PG, PG));
    char *anon = mmap(p + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                      -1, 0);
    anon[0] = 'k';
    CHECK("shmdt", shmdt(p));
    SAY("nattch %lu, anon kept %c, first free %d, last free %d\n", nattch(big), anon[0],
        is_free(x, 1), is_free(x + 2 * PG, 1));
    munmap(anon, PG);

    /* a smaller segment SHM_REMAPped over the middle page */
    p = at("remap middle: shmat", big, x, 0, x);
    q = at("SHM_REMAP small at +1", small, x + PG, SHM_REMAP, x);
    SAY("nattch small %lu\n", nattch(small));
    CHECK("shmdt big", shmdt(p));
    SAY("nattch %lu %lu, first free %d, small kept %d, last free %d\n", nattch(big),
        nattch(small), is_free(x, 1), !is_free(x + PG, 1), is_free(x + 2 * PG, 1));
    CHECK("shmdt small", shmdt(q));
    SAY("nattch small %lu\n", nattch(small));

    /* ... over the first page: the first shmdt takes it, the second the rest */
    p = at("remap start: shmat", big, x, 0, x);
    q = at("SHM_REMAP small at +0", small, x, SHM_REMAP, x);
    SAY("nattch %lu %lu\n", nattch(big), nattch(small));
    CHECK("shmdt 1", shmdt(x));
    SAY("nattch %lu %lu, rest kept %d\n", nattch(big), nattch(small), !is_free(x + PG, 2));
    CHECK("shmdt 2", shmdt(x));
    SAY("nattch %lu %lu, range free %d\n", nattch(big), nattch(small), is_free(x, 3));
    CHECK("shmdt 3", shmdt(x));

    /* moved by mremap: shmdt finds it where it is now, not where it was */
    p = at("mremap: shmat", big, x, 0, x);
    char *y = free_range(3);
    char *moved = mremap(p, 3 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, y);
    SAY("moved %d\n", moved == y);
    CHECK("shmdt old address", shmdt(x));
    SAY("nattch %lu\n", nattch(big));
    CHECK("shmdt new address", shmdt(y));
    SAY("nattch %lu, old free %d, new free %d\n", nattch(big), is_free(x, 3), is_free(y, 3));

    /* ... over the last page */
    p = at("remap end: shmat", big, x, 0, x);
    q = at("SHM_REMAP small at +2", small, x + 2 * PG, SHM_REMAP, x);
    CHECK("shmdt big", shmdt(p));
    SAY("nattch %lu %lu, small kept %d\n", nattch(big), nattch(small), !is_free(x + 2 * PG, 1));
    CHECK("shmdt small", shmdt(q));
    SAY("nattch %lu %lu, range free %d\n", nattch(big), nattch(small), is_free(x, 3));
}

int main(void)
{
    int id, id2, big, small;
    KEEP(id, "shmget", shmget(IPC_PRIVATE, 3 * PG, 0600));
    KEEP(id2, "shmget other", shmget(IPC_PRIVATE, 3 * PG, 0600));
    char *w = shmat(id2, NULL, 0);
    w[0] = 'B';
    shmdt(w);
    fixed(id, id2);
    two_attaches(id);
    KEEP(big, "shmget big", shmget(IPC_PRIVATE, 3 * PG, 0600));
    KEEP(small, "shmget small", shmget(IPC_PRIVATE, PG, 0600));
    fragments(big, small);
    CHECK("rmid", shmctl(id, IPC_RMID, NULL));
    CHECK("rmid", shmctl(id2, IPC_RMID, NULL));
    CHECK("rmid", shmctl(big, IPC_RMID, NULL));
    CHECK("rmid", shmctl(small, IPC_RMID, NULL));
    return 0;
}
