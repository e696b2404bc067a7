/* Stack slots carved from arenas. A guard page per stack done with mprotect
 * costs two VMAs, and vm.max_map_count (65530) then caps a process at ~32,700
 * tasks; MADV_GUARD_INSTALL (Linux 6.13) puts the guard in the page tables
 * instead. Older kernels get mprotect guards while a VMA budget lasts, then
 * unguarded stacks. */
#include "stack.h"

#include "fault.h"
#include "madv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define UNPOISON(p, n) unpoison(p, n)
static size_t page(void);
/* ASan clears shadow with memset, which makes the shadow of every byte
 * unpoisoned resident (32 KiB per 256 KiB stack, 40 MiB per arena): give
 * whole shadow pages back instead, as ASan itself does for big ranges. */
static void unpoison(void *p, size_t n) {
    size_t scale, off, pg = page();
    __asan_get_shadow_mapping(&scale, &off);
    uintptr_t lo = (uintptr_t)p, hi = lo + n;
    uintptr_t sb = ((lo >> scale) + off + pg - 1) & ~(pg - 1);
    uintptr_t se = ((hi >> scale) + off) & ~(pg - 1);
    if (se <= sb) {
        ASAN_UNPOISON_MEMORY_REGION(p, n);
        return;
    }
    uintptr_t mid_lo = (sb - off) << scale, mid_hi = (se - off) << scale;
    ASAN_UNPOISON_MEMORY_REGION(p, mid_lo - lo);
    if (madvise((void *)sb, se - sb, MADV_DONTNEED) < 0)
        ASAN_UNPOISON_MEMORY_REGION((void *)mid_lo, mid_hi - mid_lo);
    ASAN_UNPOISON_MEMORY_REGION((void *)mid_hi, hi - mid_hi);
}
#else
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CIO_VALGRIND 1
#endif
#endif

/* Address space is cheap and only touched pages cost memory (MAP_NORESERVE,
 * no THP): 256 KiB takes ordinary C such as a 64 KiB local buffer plus
 * printf, for the same resident cost per idle task as 64 KiB had. */
#define DEFAULT_SIZE (256 * 1024)
/* A frame bigger than the guard would jump over it into the next slot, so
 * the guard is wider than a page: a bigger one costs no VMA and no memory. */
#define GUARD_BYTES (64 * 1024)
#define FIRST_ARENA_SLOTS 16
#define MAX_ARENA_SLOTS 1024
/* Caps an arena of rare big stacks; the default size gets 1024 slots. */
#define MAX_ARENA_BYTES ((size_t)512 << 20)
/* Beyond this a size is a caller's bug (or an overflow), not a stack. */
#define MAX_STACK_SIZE ((size_t)1 << 32)

struct cio__arena {
    cio__arena *next;
    void *base;
    size_t len;
    cio__stack *slots; /* descriptors live off the stacks: an overflow can't smash them */
    size_t carved;
    size_t mprotected; /* guards paid from the VMA budget, returned at munmap */
};

struct cio__stack_class {
    cio__stack_class *next;
    size_t size;
    cio__stack *free;    /* most recently freed first */
    size_t nfree;        /* on the free list */
    size_t low;          /* the least nfree since the last release */
    size_t nreleased;    /* the last nreleased of the free list gave their pages back */
    cio__arena *current; /* carving from here */
    size_t carved, nslots;
};

/* Process-wide (the kernel and the VMA limit are), while pools are per loop
 * and loops may run on several threads: hence atomics. */
enum { GUARD_UNTRIED, GUARD_PTE, GUARD_MPROTECT };
static _Atomic int guard_mode;
static _Atomic long vma_budget = -1; /* mprotect guards still allowed; -1 unread */
static _Atomic size_t page_size;

static size_t page(void) {
    size_t p = atomic_load_explicit(&page_size, memory_order_relaxed);
    if (p == 0) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&page_size, p, memory_order_relaxed);
    }
    return p;
}

size_t cio__stack_guard_size(void) {
    size_t pg = page();
    return (GUARD_BYTES + pg - 1) & ~(pg - 1);
}

/* 0 when the size is absurd, so the caller fails with ENOMEM. */
static size_t round_size(size_t size) {
    size_t pg = page();
    if (size > MAX_STACK_SIZE)
        return 0;
    return (size + pg - 1) & ~(pg - 1);
}

void cio__stacks_init(cio__stacks *s, size_t default_size) {
    size_t sz = round_size(default_size ? default_size : DEFAULT_SIZE);
    *s = (cio__stacks){.default_size = sz ? sz : DEFAULT_SIZE};
}

static long read_vma_budget(void) {
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1 || max < 0)
            max = 65530;
        fclose(f);
    }
    return max / 4; /* half the limit, at two VMAs per mprotect guard */
}

static bool take_vma_budget(void) {
    long b = atomic_load(&vma_budget);
    if (b < 0) {
        long fresh = read_vma_budget();
        if (atomic_compare_exchange_strong(&vma_budget, &b, fresh))
            b = fresh; /* on failure b already holds another thread's value */
    }
    while (b > 0)
        if (atomic_compare_exchange_weak(&vma_budget, &b, b - 1))
            return true;
    return false;
}

/* Emulators (qemu-user) accept unknown madvise advice as a no-op, so a zero
 * return proves nothing: have the kernel read a guarded page and expect EFAULT. */
static int probe_guard_install(void) {
    size_t pg = page();
    char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return GUARD_UNTRIED; /* transient: ask again at the next slot */
    int fds[2], mode = GUARD_MPROTECT;
    if (madvise(p, pg, MADV_GUARD_INSTALL) == 0) {
        if (pipe2(fds, O_CLOEXEC) < 0) {
            mode = GUARD_UNTRIED;
        } else {
            if (write(fds[1], p, 1) < 0 && errno == EFAULT)
                mode = GUARD_PTE;
            close(fds[0]);
            close(fds[1]);
        }
    }
    munmap(p, pg);
    return mode;
}

/* ---- the registry: every pool with arenas, for the trim fault handler ----
 * A spinlock, not a mutex: the SIGSEGV handler of any thread takes it. The
 * loop thread never holds it across code that can fault on a trimmed stack. */
static atomic_flag reg_lock = ATOMIC_FLAG_INIT;
static cio__stacks *registry;

void cio__stack_lock(void) {
    while (atomic_flag_test_and_set_explicit(&reg_lock, memory_order_acquire))
        ;
}

void cio__stack_unlock(void) {
    atomic_flag_clear_explicit(&reg_lock, memory_order_release);
}

cio__stack *cio__stack_find_locked(const void *addr) {
    const char *p = addr;
    for (cio__stacks *s = registry; s; s = s->reg_next)
        for (cio__arena *a = s->arenas; a; a = a->next) {
            const char *base = a->base;
            if (p < base || p >= base + a->len || !a->carved)
                continue;
            const cio__stack_class *c = a->slots[0].cls;
            size_t slot = c->size + cio__stack_guard_size();
            size_t i = (size_t)(p - base) / slot;
            if (i >= a->carved)
                return NULL;
            cio__stack *st = &a->slots[i];
            const char *lo = st->lo;
            return p >= lo && p < lo + st->size ? st : NULL;
        }
    return NULL;
}

static int guard_kind(void) {
    int m = atomic_load_explicit(&guard_mode, memory_order_relaxed);
    if (m == GUARD_UNTRIED) {
        m = probe_guard_install();
        atomic_store_explicit(&guard_mode, m, memory_order_relaxed);
    }
    return m;
}

/* Returns whether the guard was paid from the VMA budget. Past the budget
 * the slot goes unguarded rather than failing: W4 needs 100k stacks even on
 * kernels without page-table guards. */
static bool install_guard(void *p) {
    size_t len = cio__stack_guard_size();
    if (guard_kind() == GUARD_PTE && madvise(p, len, MADV_GUARD_INSTALL) == 0)
        return false;
    if (!take_vma_budget())
        return false;
    if (mprotect(p, len, PROT_NONE) == 0)
        return true;
    atomic_fetch_add(&vma_budget, 1);
    return false;
}

bool cio__stack_pte_guards(void) {
    return guard_kind() == GUARD_PTE;
}

static cio__stack_class *class_for(cio__stacks *s, size_t size) {
    for (cio__stack_class *c = s->classes; c; c = c->next)
        if (c->size == size)
            return c;
    cio__stack_class *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->size = size;
    c->next = s->classes;
    s->classes = c;
    return c;
}

/* Arenas double from a few slots (a loop with ten tasks should not reserve
 * 68 MiB) up to MAX_ARENA_SLOTS; each one is a single VMA. */
static size_t arena_slots(const cio__stack_class *c, size_t slot) {
    size_t n = c->nslots ? c->nslots * 2 : FIRST_ARENA_SLOTS;
    if (n > MAX_ARENA_SLOTS)
        n = MAX_ARENA_SLOTS;
    size_t fit = MAX_ARENA_BYTES / slot;
    if (n > fit)
        n = fit ? fit : 1;
    return n;
}

static int new_arena(cio__stacks *s, cio__stack_class *c) {
    size_t slot = c->size + cio__stack_guard_size();
    size_t n = arena_slots(c, slot);
    size_t len = n * slot;
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return -ENOMEM;
    /* With THP a touched stack would become 64 KiB resident, not 4 KiB. It
     * fails (EINVAL) only on kernels without THP, where nothing is lost. */
    (void)madvise(base, len, MADV_NOHUGEPAGE);
    cio__arena *a = malloc(sizeof *a);
    cio__stack *slots = calloc(n, sizeof *slots);
    if (!a || !slots) {
        free(a);
        free(slots);
        munmap(base, len);
        return -ENOMEM;
    }
    cio__stack_lock();
    *a = (cio__arena){.next = s->arenas, .base = base, .len = len, .slots = slots};
    s->arenas = a;
    if (!s->registered) {
        s->reg_next = registry;
        registry = s;
        s->registered = true;
    }
    cio__stack_unlock();
    c->current = a;
    c->nslots = n;
    c->carved = 0;
    return 0;
}

static cio__stack *carve(cio__stacks *s, cio__stack_class *c) {
    if (CIO__FAULT(CIO__FAULT_STACK))
        return NULL;
    if ((!c->current || c->carved == c->nslots) && new_arena(s, c) < 0)
        return NULL;
    size_t guard = cio__stack_guard_size();
    cio__arena *a = c->current;
    cio__stack *st = &a->slots[c->carved];
    char *slot = (char *)a->base + c->carved * (c->size + guard);
    a->mprotected += install_guard(slot);
    c->carved++;
    a->carved++;
    st->cls = c;
    st->lo = slot + guard;
    st->size = c->size;
#ifdef CIO_VALGRIND
    st->valgrind_id = VALGRIND_STACK_REGISTER(st->lo, (char *)st->lo + st->size);
#endif
    return st;
}

cio__stack *cio__stack_get(cio__stacks *s, size_t size) {
    size = size ? round_size(size) : s->default_size;
    cio__stack_class *c = size ? class_for(s, size) : NULL;
    cio__stack *st = NULL;
    if (c && c->free) {
        st = c->free;
        c->free = st->next;
        c->nfree--;
        if (c->low > c->nfree)
            c->low = c->nfree;
        if (c->nreleased > c->nfree)
            c->nreleased = c->nfree;
    } else if (c) {
        st = carve(s, c);
    }
    if (!st) {
        errno = ENOMEM;
        return NULL;
    }
    /* Redzones of an earlier frame (this task's or, after munmap, another
     * mapping's at the same address) must not survive into a new task. */
    UNPOISON(st->lo, st->size);
    st->next = NULL;
    return st;
}

void cio__stack_put(cio__stacks *s, cio__stack *st) {
    (void)s;
    cio__stack_untrim(st); /* the next task starts on whole pages */
    cio__stack_class *c = st->cls;
    st->next = c->free;
    c->free = st;
    c->nfree++;
}

static atomic_size_t nreleased_total;

size_t cio__stack_release_count(void) {
    return atomic_load_explicit(&nreleased_total, memory_order_relaxed);
}

bool cio__stacks_excess(const cio__stacks *s, size_t keep) {
    for (const cio__stack_class *c = s->classes; c; c = c->next)
        if (c->nfree > keep + c->nreleased)
            return true;
    return false;
}

size_t cio__stack_join(struct iovec *v, size_t k) {
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && v[j].iov_base < v[j - 1].iov_base; j--) {
            struct iovec t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    size_t out = 0, guard = cio__stack_guard_size();
    for (size_t i = 0; i < k; i++) {
        char *end = out ? (char *)v[out - 1].iov_base + v[out - 1].iov_len : NULL;
        if (out && end + guard == (char *)v[i].iov_base)
            v[out - 1].iov_len += guard + v[i].iov_len;
        else
            v[out++] = v[i];
    }
    return out;
}

#define RELEASE_BATCH 256

static void release_class(cio__stack_class *c, size_t keep) {
    size_t target = c->low > keep ? c->low - keep : 0; /* idle a whole period */
    c->low = c->nfree;
    if (target <= c->nreleased)
        return;
    cio__stack *st = c->free;
    for (size_t i = c->nfree - target; i > 0; i--)
        st = st->next;
    struct iovec v[RELEASE_BATCH];
    for (size_t left = target - c->nreleased; left > 0;) {
        size_t k = 0;
        for (; k < RELEASE_BATCH && left > 0; k++, left--, st = st->next) {
            v[k] = (struct iovec){st->lo, st->size};
        }
        (void)cio__madvise_many(v, cio__stack_join(v, k), MADV_DONTNEED); /* only memory at stake */
        atomic_fetch_add_explicit(&nreleased_total, k, memory_order_relaxed);
    }
    c->nreleased = target;
}

void cio__stacks_release(cio__stacks *s, size_t keep) {
    for (cio__stack_class *c = s->classes; c; c = c->next)
        release_class(c, keep);
}

static void unregister(cio__stacks *s) {
    cio__stack_lock();
    for (cio__stacks **p = &registry; *p; p = &(*p)->reg_next)
        if (*p == s) {
            *p = s->reg_next;
            break;
        }
    s->registered = false;
    cio__arena *arenas = s->arenas;
    s->arenas = NULL; /* the handler stops looking before the unmap */
    cio__stack_unlock();
    s->arenas = arenas;
}

void cio__stacks_destroy(cio__stacks *s) {
    unregister(s);
    while (s->arenas) {
        cio__arena *a = s->arenas;
        s->arenas = a->next;
        for (size_t i = 0; i < a->carved; i++)
            cio__stack_untrim(&a->slots[i]); /* a task never retired: its copy */
#ifdef CIO_VALGRIND
        for (size_t i = 0; i < a->carved; i++)
            VALGRIND_STACK_DEREGISTER(a->slots[i].valgrind_id);
#endif
        /* Frames of tasks that never finished leave poisoned shadow behind,
         * which would hit whatever is mapped here next. */
        UNPOISON(a->base, a->len);
        /* Fails only for a range we did not map: nothing to recover. */
        (void)munmap(a->base, a->len);
        if (a->mprotected)
            atomic_fetch_add(&vma_budget, (long)a->mprotected);
        free(a->slots);
        free(a);
    }
    while (s->classes) {
        cio__stack_class *c = s->classes;
        s->classes = c->next;
        free(c);
    }
}
