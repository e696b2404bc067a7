/* cio_shm_alloc: one large MAP_SHARED|MAP_NORESERVE region (pages cost
 * nothing until touched), mapped before the process pool forks anything, so
 * a pointer means the same bytes in the parent and in every worker.
 *
 * Blocks come from power-of-two size classes whose free lists live in the
 * region itself, under a robust process-shared mutex: a worker killed while
 * holding it does not wedge the others. That recovery is only sound because
 * every critical section changes the lists with single stores, ordered so
 * that a death between any two of them leaves the lists whole (at worst one
 * block is lost). Big blocks give their pages back to the system when freed.
 * The region itself lives until the process exits: pointers into it may sit
 * anywhere (a worker's result, a user's struct), so unmapping it earlier
 * could never be proven safe. */
#include "shm.h"

#include <cio.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEFAULT_SIZE ((size_t)1 << 32) /* 4 GiB of address space */
#define MIN_SIZE ((size_t)1 << 20)
#define MAX_SIZE ((size_t)1 << 44)
#define MIN_SHIFT 5                      /* 32-byte blocks, header included */
#define CLASSES 40                       /* up to 2^44 bytes */
#define RELEASE_FROM ((size_t)256 << 10) /* freed blocks this big drop their pages */
#define MAGIC 0xC105A11Cu

typedef struct block {
    uint32_t magic; /* MAGIC while allocated */
    uint32_t cls;
    struct block *next_free; /* while free */
} block;

#define HEADER ((sizeof(block) + 15) & ~(size_t)15) /* payloads are 16-aligned */

typedef struct region {
    pthread_mutex_t mu;
    size_t size;
    size_t used; /* bump pointer from the region's start */
    block *free[CLASSES];
} region;

#define FIRST_BLOCK ((sizeof(region) + 63) & ~(size_t)63)

static region *_Atomic shm;
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t region_size_for(size_t size) {
    if (size == 0)
        return DEFAULT_SIZE;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size = size < MIN_SIZE ? MIN_SIZE : size;
    return (size + page - 1) & ~(page - 1);
}

static int map_region(size_t size) {
    region *rg =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (rg == MAP_FAILED)
        return -errno;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int r = pthread_mutex_init(&rg->mu, &a);
    pthread_mutexattr_destroy(&a);
    if (r) {
        munmap(rg, size);
        return -r;
    }
    rg->size = size;
    rg->used = FIRST_BLOCK;
    atomic_store_explicit(&shm, rg, memory_order_release);
    return 0;
}

int cio__shm_init(size_t size) {
    if (atomic_load_explicit(&shm, memory_order_acquire))
        return 0;
    if (size > MAX_SIZE)
        return -EINVAL;
    pthread_mutex_lock(&init_mu);
    int r = atomic_load(&shm) ? 0 : map_region(region_size_for(size));
    pthread_mutex_unlock(&init_mu);
    return r;
}

bool cio__shm_contains(const void *p) {
    region *rg = atomic_load_explicit(&shm, memory_order_acquire);
    return rg && (const char *)p >= (const char *)rg &&
           (const char *)p < (const char *)rg + rg->size;
}

void cio__shm_lock(void) {
    region *rg = atomic_load_explicit(&shm, memory_order_acquire);
    if (pthread_mutex_lock(&rg->mu) == EOWNERDEAD)
        pthread_mutex_consistent(&rg->mu); /* its holder died; the lists are whole (see top) */
}

void cio__shm_unlock(void) {
    pthread_mutex_unlock(&atomic_load_explicit(&shm, memory_order_acquire)->mu);
}

size_t cio__shm_used(void) {
    region *rg = atomic_load_explicit(&shm, memory_order_acquire);
    if (!rg)
        return 0;
    cio__shm_lock();
    size_t used = rg->used - FIRST_BLOCK;
    cio__shm_unlock();
    return used;
}

static unsigned class_of(size_t total) {
    unsigned c = MIN_SHIFT;
    while (((size_t)1 << c) < total)
        c++;
    return c - MIN_SHIFT;
}

/* Under the lock: a free block of class cls, or fresh space, or NULL. */
static block *take(region *rg, unsigned cls) {
    block *b = rg->free[cls];
    if (b) {
        rg->free[cls] = b->next_free; /* one store: dying after it loses b only */
        return b;
    }
    size_t total = (size_t)1 << (cls + MIN_SHIFT);
    if (rg->size - rg->used < total)
        return NULL;
    b = (block *)((char *)rg + rg->used);
    rg->used += total;
    return b;
}

void *cio_shm_alloc(size_t size) {
    if (size == 0) {
        errno = EINVAL;
        return NULL;
    }
    int r = cio__shm_init(0);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    region *rg = atomic_load_explicit(&shm, memory_order_acquire);
    if (size > rg->size / 2) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned cls = class_of(size + HEADER);
    cio__shm_lock();
    block *b = take(rg, cls);
    cio__shm_unlock();
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    b->magic = MAGIC;
    b->cls = cls;
    return (char *)b + HEADER;
}

/* A big block's pages go back to the system (its first page keeps the
 * header); they come back zeroed when touched again. */
static void release_pages(block *b, size_t total) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)b + sizeof *b + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)b + total) & ~(uintptr_t)(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_REMOVE); /* advisory: failure only costs memory */
}

void cio_shm_free(void *p) {
    region *rg = atomic_load_explicit(&shm, memory_order_acquire);
    if (!p || !rg || ((uintptr_t)p & 15) || (char *)p < (char *)rg + FIRST_BLOCK + HEADER ||
        !cio__shm_contains(p))
        return; /* not ours: ignoring beats corrupting */
    block *b = (block *)((char *)p - HEADER);
    if (b->magic != MAGIC || b->cls >= CLASSES)
        return; /* freed twice, or not the start of a block */
    b->magic = 0;
    size_t total = (size_t)1 << (b->cls + MIN_SHIFT);
    if (total >= RELEASE_FROM)
        release_pages(b, total);
    cio__shm_lock();
    b->next_free = rg->free[b->cls];
    /* The block must be linked before it is published: a compiler that
     * swapped these stores would let a death in between cut the list. */
    atomic_signal_fence(memory_order_seq_cst);
    rg->free[b->cls] = b;
    cio__shm_unlock();
}
