/* cio_shm_alloc: one large MAP_SHARED|MAP_NORESERVE region (pages cost
 * nothing until touched), mapped before the process pool forks anything, so
 * a pointer means the same bytes in the parent and in every worker.
 *
 * The allocator: blocks tile the region from FIRST_BLOCK up to `used` (the
 * top grows on demand). Each block starts with a 16-byte header (its size
 * and two flags: free, previous block free); a free block also holds its
 * free-list links and, in its last word, its size again (a boundary tag),
 * so a freed block merges with both neighbours at once, and freed space
 * serves a request of any size. Free blocks sit in segregated lists (exact
 * 16-byte classes below 1 KiB, four per power of two above), found through
 * a bitmap: the first block of a class that fits, or any block of a larger
 * class. A block is its request rounded up to 16, plus the header, plus a
 * leftover too small to be split off (< 48 bytes): at most 78 bytes of
 * waste per block, whatever its size.
 *
 * Robustness: all of it sits under a robust process-shared mutex. A process
 * killed while holding it may leave the lists half-changed, so the next
 * locker rebuilds them from a walk over the blocks (EOWNERDEAD). That walk
 * is sound because every operation changes the tiling itself by single
 * stores in an order that keeps it whole at every point (a split writes the
 * new header inside the old block before shrinking it; a merge grows the
 * lower block over the upper one; the top grows by a header first, `used`
 * second): at worst the block being allocated or freed is lost. Big blocks
 * give their pages back to the system when freed. The region lives until
 * the process exits: pointers into it may sit anywhere (a worker's result,
 * a user's struct), so unmapping it earlier could never be proven safe. */
#include "shm.h"

#include <cio.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CIO_VALGRIND 1
#endif
#endif

#define DEFAULT_SIZE ((size_t)1 << 32) /* 4 GiB of address space */
/* Under Valgrind every exiting process (the fork server, each worker) has
 * its leak check read the whole region: 4 GiB took minutes and looked like
 * a hang. The default is smaller there. */
#define VALGRIND_DEFAULT_SIZE ((size_t)256 << 20)
#define MIN_SIZE ((size_t)1 << 20)
#define MAX_SIZE ((size_t)1 << 44)
#define RELEASE_FROM ((size_t)256 << 10) /* freed blocks this big drop their pages */
#define MAGIC 0xC105A11Cu

#define HDR 16       /* header; payloads are 16-aligned */
#define MIN_BLOCK 48 /* header, two links, a boundary tag */
#define F_FREE 1u    /* flags */
#define F_PREV_FREE 2u
#define SMALL_BINS 64 /* exact classes of 16 bytes below 1 KiB */
#define BINS (SMALL_BINS + 4 * 35)
#define SCAN_MAX 32 /* blocks of the request's own class looked at */

typedef struct blk {
    size_t size;             /* written only while the block is free, or by its owner */
    uint32_t magic;          /* MAGIC ^ address while allocated */
    uint32_t flags;          /* F_FREE, F_PREV_FREE (the latter set by the neighbour below) */
    struct blk *next, *prev; /* free blocks only */
} blk;

typedef struct region {
    pthread_mutex_t mu;
    size_t size;
    size_t used;        /* offset of the end of the last block */
    bool end_prev_free; /* the last block is free (the "next" flag of the top) */
    uint64_t map[(BINS + 63) / 64];
    blk *bins[BINS];
} region;

#define FIRST_BLOCK ((sizeof(region) + 63) & ~(size_t)63)

static region *_Atomic shm;
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static int die_at; /* tests: _exit at this step, holding the lock */

void cio__shm_die_at(int step) {
    die_at = step;
}

static void step(int n) {
    if (die_at == n)
        _exit(0);
}

static size_t region_size_for(size_t size) {
#ifdef CIO_VALGRIND
    if (size == 0 && RUNNING_ON_VALGRIND)
        return VALGRIND_DEFAULT_SIZE;
#endif
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

/* ---- blocks ---- */

static size_t bsize(const blk *b) {
    return b->size;
}

static blk *at(region *rg, size_t off) {
    return (blk *)((char *)rg + off);
}

static size_t off_of(region *rg, const blk *b) {
    return (size_t)((const char *)b - (const char *)rg);
}

static blk *after(const blk *b) {
    return (blk *)((char *)b + bsize(b));
}

static uint32_t magic_of(const blk *b) {
    return MAGIC ^ (uint32_t)((uintptr_t)b >> 4);
}

static void set_tag(blk *b) {
    ((size_t *)after(b))[-1] = bsize(b);
}

/* The previous-free flag of whatever follows b (a block, or the top). */
static void set_next_prev_free(region *rg, blk *b, bool free) {
    blk *n = after(b);
    if (off_of(rg, n) >= rg->used)
        rg->end_prev_free = free;
    else if (free)
        n->flags |= F_PREV_FREE;
    else
        n->flags &= ~F_PREV_FREE;
}

static unsigned bin_of(size_t size) {
    if (size < 1024)
        return (unsigned)(size >> 4);
    unsigned lg = 63u - (unsigned)__builtin_clzll(size);
    return SMALL_BINS + (lg - 10) * 4 + (unsigned)((size >> (lg - 2)) & 3);
}

static void link_free(region *rg, blk *b) {
    unsigned i = bin_of(bsize(b));
    b->prev = NULL;
    b->next = rg->bins[i];
    if (b->next)
        b->next->prev = b;
    rg->bins[i] = b;
    rg->map[i / 64] |= 1ull << (i % 64);
    set_tag(b);
}

static void unlink_free(region *rg, blk *b) {
    unsigned i = bin_of(bsize(b));
    if (b->prev)
        b->prev->next = b->next;
    else
        rg->bins[i] = b->next;
    if (b->next)
        b->next->prev = b->prev;
    if (!rg->bins[i])
        rg->map[i / 64] &= ~(1ull << (i % 64));
}

/* The first non-empty class from i on, or BINS. */
static unsigned next_bin(const region *rg, unsigned i) {
    while (i < BINS) {
        uint64_t m = rg->map[i / 64] >> (i % 64);
        if (m)
            return i + (unsigned)__builtin_ctzll(m);
        i = (i / 64 + 1) * 64;
    }
    return BINS;
}

/* A free block of at least need bytes, unlinked, or NULL. */
static blk *find_fit(region *rg, size_t need) {
    unsigned i = bin_of(need);
    unsigned scanned = 0;
    for (blk *b = rg->bins[i]; b && scanned < SCAN_MAX; b = b->next, scanned++)
        if (bsize(b) >= need) {
            unlink_free(rg, b);
            return b;
        }
    i = next_bin(rg, i + 1); /* every block there is big enough */
    if (i == BINS)
        return NULL;
    blk *b = rg->bins[i];
    unlink_free(rg, b);
    return b;
}

/* Fresh space at the top (merged with a free last block), as a free,
 * unlinked block of at least need bytes; NULL when the region is full. */
static blk *grow(region *rg, size_t need) {
    blk *last = NULL;
    size_t have = 0;
    if (rg->end_prev_free) {
        have = ((size_t *)((char *)rg + rg->used))[-1];
        last = at(rg, rg->used - have);
    }
    size_t extra = need - have;
    if (rg->size - rg->used < extra)
        return NULL;
    blk *top = at(rg, rg->used);
    top->size = extra;
    top->flags = F_FREE | (last ? F_PREV_FREE : 0);
    step(1);
    rg->used += extra; /* the walk now sees the new block */
    step(2);
    if (!last)
        return top;
    unlink_free(rg, last);
    step(3);
    last->size = need; /* swallows top */
    return last;
}

/* b (free, unlinked) becomes an allocated block of need bytes; the rest, if
 * it can be a block, is split off and freed. */
static void carve(region *rg, blk *b, size_t need) {
    size_t have = bsize(b);
    if (have - need >= MIN_BLOCK) {
        blk *rest = (blk *)((char *)b + need);
        rest->size = have - need;
        rest->flags = F_FREE;
        step(4);
        b->size = need; /* rest becomes a block of its own */
        step(5);
        b->flags &= ~F_FREE;
        link_free(rg, rest);
        set_next_prev_free(rg, rest, true);
    } else {
        b->flags &= ~F_FREE;
        step(6);
        set_next_prev_free(rg, b, false);
    }
    b->magic = magic_of(b);
}

/* ---- recovery ---- */

/* A free run [b, b + size) found by the walk: linked as one block. Runs too
 * small to hold links stay out of the lists (lost, < MIN_BLOCK bytes). */
static void adopt_run(region *rg, blk *b, size_t size, uint32_t prev_flag) {
    b->size = size;
    b->flags = F_FREE | prev_flag;
    if (size >= MIN_BLOCK)
        link_free(rg, b);
    else
        b->flags &= ~F_FREE;
}

/* The lists rebuilt from the tiling, adjacent free blocks merged, every
 * flag and tag recomputed. */
static void rebuild(region *rg) {
    memset(rg->map, 0, sizeof rg->map);
    memset(rg->bins, 0, sizeof rg->bins);
    blk *run = NULL;
    size_t run_size = 0, off = FIRST_BLOCK;
    uint32_t run_flag = 0;
    bool prev_free = false;
    while (off < rg->used) {
        blk *b = at(rg, off);
        size_t size = bsize(b);
        if (size < HDR || size > rg->used - off) {
            rg->used = off; /* a torn top: cut (never expected) */
            break;
        }
        if (b->flags & F_FREE) {
            if (!run) {
                run = b, run_size = 0, run_flag = prev_free ? F_PREV_FREE : 0;
            }
            run_size += size;
        } else {
            if (run) {
                adopt_run(rg, run, run_size, run_flag);
                prev_free = run->flags & F_FREE;
                run = NULL;
            }
            b->flags = (b->flags & ~F_PREV_FREE) | (prev_free ? F_PREV_FREE : 0);
            prev_free = false;
        }
        off += size;
    }
    if (run) {
        adopt_run(rg, run, run_size, run_flag);
        prev_free = run->flags & F_FREE;
    }
    rg->end_prev_free = prev_free;
}

void cio__shm_lock(void) {
    region *rg = atomic_load_explicit(&shm, memory_order_acquire);
    if (pthread_mutex_lock(&rg->mu) == EOWNERDEAD) {
        rebuild(rg); /* its holder died mid-change; the tiling is whole (see top) */
        pthread_mutex_consistent(&rg->mu);
    }
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

/* ---- the public calls ---- */

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
    if (size > rg->size) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = (size + HDR + 15) & ~(size_t)15;
    need = need < MIN_BLOCK ? MIN_BLOCK : need;
    cio__shm_lock();
    blk *b = find_fit(rg, need);
    if (!b)
        b = grow(rg, need);
    if (b)
        carve(rg, b, need);
    cio__shm_unlock();
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    return (char *)b + HDR;
}

/* A big block's pages go back to the system (the first page keeps the
 * header and the links); they come back zeroed when touched again. */
static void release_pages(blk *b, size_t total) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)b + sizeof *b + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)b + total - sizeof(size_t)) & ~(uintptr_t)(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_REMOVE); /* advisory: failure only costs memory */
}

/* Under the lock: whether b is an allocated block of ours. */
static bool allocated(region *rg, const blk *b) {
    size_t off = off_of(rg, b), size = bsize(b);
    return b->magic == magic_of(b) && !(b->flags & F_FREE) && size >= MIN_BLOCK &&
           size <= rg->used - off;
}

void cio_shm_free(void *p) {
    region *rg = atomic_load_explicit(&shm, memory_order_acquire);
    if (!p || !rg || ((uintptr_t)p & 15) || (char *)p < (char *)rg + FIRST_BLOCK + HDR ||
        !cio__shm_contains(p))
        return; /* not ours: ignoring beats corrupting */
    blk *b = (blk *)((char *)p - HDR);
    if (b->magic != magic_of(b))
        return; /* freed twice, or not the start of a block */
    if (bsize(b) >= RELEASE_FROM && bsize(b) <= rg->size)
        release_pages(b, bsize(b)); /* still ours alone: nobody else writes it */
    cio__shm_lock();
    if (!allocated(rg, b)) {
        cio__shm_unlock();
        return;
    }
    b->magic = 0;
    b->flags |= F_FREE;
    step(7);
    blk *n = after(b);
    if (off_of(rg, n) < rg->used && (n->flags & F_FREE)) {
        unlink_free(rg, n);
        step(8);
        b->size += bsize(n);
    }
    if (b->flags & F_PREV_FREE) {
        blk *pv = (blk *)((char *)b - ((size_t *)b)[-1]);
        unlink_free(rg, pv);
        step(9);
        pv->size += bsize(b);
        b = pv;
    }
    link_free(rg, b);
    set_next_prev_free(rg, b, true);
    cio__shm_unlock();
}

/* ---- for tests ---- */

int cio__shm_check(size_t *free_bytes, size_t *free_blocks) {
    region *rg = atomic_load_explicit(&shm, memory_order_acquire);
    if (!rg)
        return -ENOENT;
    cio__shm_lock();
    size_t fb = 0, nb = 0, linked = 0, off = FIRST_BLOCK;
    bool prev_free = false;
    int bad = 0;
    while (off < rg->used && !bad) {
        blk *b = at(rg, off);
        size_t size = bsize(b);
        bool free = b->flags & F_FREE;
        bad = size < MIN_BLOCK || size > rg->used - off ||
              !(b->flags & F_PREV_FREE) != !prev_free || (free && prev_free) ||
              (free && ((size_t *)after(b))[-1] != size);
        fb += free ? size : 0;
        nb += free;
        prev_free = free;
        off += size;
    }
    bad |= off != rg->used || rg->end_prev_free != prev_free;
    for (unsigned i = 0; i < BINS && !bad; i++) {
        bad = !rg->bins[i] != !(rg->map[i / 64] >> (i % 64) & 1);
        for (blk *b = rg->bins[i]; b && !bad; b = b->next, linked++)
            bad = !(b->flags & F_FREE) || bin_of(bsize(b)) != i || (b->next && b->next->prev != b);
    }
    cio__shm_unlock();
    if (bad || linked != nb)
        return -EUCLEAN;
    if (free_bytes)
        *free_bytes = fb;
    if (free_blocks)
        *free_blocks = nb;
    return 0;
}
