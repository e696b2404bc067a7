/* cio_shm_alloc: one large MAP_SHARED|MAP_NORESERVE region (pages cost
 * nothing until touched), created before the process pool forks its first
 * process, so a pointer means the same bytes in the parent and in every
 * worker. Blocks come from power-of-two size classes with free lists in the
 * region itself, under a robust process-shared mutex: a worker killed while
 * holding it does not wedge the others (EOWNERDEAD is recovered). The region
 * lives until the process exits. */
#include "shm.h"

#include <cio.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define REGION_SIZE ((size_t)1 << 32) /* default: 4 GiB of address space, reserved lazily */
#define MIN_SHIFT 5                   /* 32-byte blocks, header included */
#define CLASSES 40
#define MAGIC 0xC105A11C

typedef struct block {
    uint32_t magic;
    uint32_t cls;
    struct block *next_free; /* while free */
    /* 16-byte aligned payload follows */
} block;

typedef struct region {
    pthread_mutex_t mu;
    size_t used; /* bump pointer, from the region's start */
    block *free[CLASSES];
} region;

static region *_Atomic shm;
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

#define HEADER ((sizeof(block) + 15) & ~(size_t)15)

static size_t region_size;

int cio__shm_init(size_t size) {
    if (atomic_load(&shm))
        return 0;
    pthread_mutex_lock(&init_mu);
    int r = 0;
    if (!atomic_load(&shm)) {
        region_size = size >= ((size_t)1 << 20) ? size : REGION_SIZE;
        region *rg = mmap(NULL, region_size, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (rg == MAP_FAILED) {
            r = -errno;
        } else {
            pthread_mutexattr_t a;
            pthread_mutexattr_init(&a);
            pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
            pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
            pthread_mutex_init(&rg->mu, &a);
            pthread_mutexattr_destroy(&a);
            rg->used = (sizeof *rg + 63) & ~(size_t)63;
            atomic_store(&shm, rg);
        }
    }
    pthread_mutex_unlock(&init_mu);
    return r;
}

int cio__shm_contains(const void *p) {
    region *rg = atomic_load(&shm);
    return rg && (const char *)p >= (const char *)rg &&
           (const char *)p < (const char *)rg + region_size;
}

static void lock(region *rg) {
    if (pthread_mutex_lock(&rg->mu) == EOWNERDEAD)
        pthread_mutex_consistent(&rg->mu); /* its holder died: the lists are whole */
}

static unsigned class_of(size_t total) {
    unsigned c = MIN_SHIFT;
    while (((size_t)1 << c) < total)
        c++;
    return c - MIN_SHIFT;
}

void *cio_shm_alloc(size_t size) {
    if (size == 0 || cio__shm_init(0) < 0 || size > region_size / 2) {
        errno = size ? ENOMEM : EINVAL;
        return NULL;
    }
    region *rg = atomic_load(&shm);
    unsigned cls = class_of(size + HEADER);
    size_t total = (size_t)1 << (cls + MIN_SHIFT);
    lock(rg);
    block *b = rg->free[cls];
    if (b) {
        rg->free[cls] = b->next_free;
    } else if (rg->used + total <= region_size) {
        b = (block *)((char *)rg + rg->used);
        rg->used += total;
    }
    pthread_mutex_unlock(&rg->mu);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    b->magic = MAGIC;
    b->cls = cls;
    return (char *)b + HEADER;
}

void cio_shm_free(void *p) {
    if (!p)
        return;
    region *rg = atomic_load(&shm);
    block *b = (block *)((char *)p - HEADER);
    if (!cio__shm_contains(p) || b->magic != MAGIC || b->cls >= CLASSES)
        return; /* not ours (or freed twice): ignoring beats corrupting */
    b->magic = 0;
    lock(rg);
    b->next_free = rg->free[b->cls];
    rg->free[b->cls] = b;
    pthread_mutex_unlock(&rg->mu);
}
