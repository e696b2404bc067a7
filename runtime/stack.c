/* Stack slots carved from arenas. A guard page per stack done with mprotect
 * costs two VMAs, and vm.max_map_count (65530) then caps a process at ~32,700
 * tasks; MADV_GUARD_INSTALL (Linux 6.13) puts the guard in the page tables
 * instead. Older kernels get mprotect guards while a VMA budget lasts, then
 * unguarded stacks. */
#include "stack.h"

#include "fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CIO_VALGRIND 1
#endif
#endif

#define GUARD 4096
#define DEFAULT_SIZE (64 * 1024)
#define FIRST_ARENA_SLOTS 16
#define MAX_ARENA_SLOTS 1024

struct cio__arena {
    cio__arena *next;
    void *base;
    size_t len;
    cio__stack *slots;
    size_t carved;
};

struct cio__stack_class {
    cio__stack_class *next;
    size_t size;
    cio__stack *free;
    cio__arena *current; /* carving from here */
    size_t carved, nslots;
};

/* 0 untried, 1 MADV_GUARD_INSTALL works, -1 it does not (mprotect budget). */
static int guard_mode;
static long vma_budget = -1;

size_t cio__stack_guard_size(void) {
    return GUARD;
}

void cio__stacks_init(cio__stacks *s, size_t default_size) {
    long page = sysconf(_SC_PAGESIZE);
    size_t sz = default_size ? default_size : DEFAULT_SIZE;
    sz = (sz + (size_t)page - 1) & ~((size_t)page - 1);
    *s = (cio__stacks){.default_size = sz};
}

static long read_vma_budget(void) {
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 65530;
        fclose(f);
    }
    return max / 4; /* half the limit, two VMAs per mprotect guard */
}

/* Emulators (qemu-user) accept unknown madvise advice as a no-op, so a zero
 * return proves nothing: have the kernel read a guarded page and expect EFAULT. */
static int probe_guard_install(void) {
    char *p = mmap(NULL, GUARD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    int fds[2], works = -1;
    if (madvise(p, GUARD, MADV_GUARD_INSTALL) == 0 && pipe(fds) == 0) {
        if (write(fds[1], p, 1) < 0 && errno == EFAULT)
            works = 1;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, GUARD);
    return works;
}

static void install_guard(void *p) {
    if (guard_mode == 0)
        guard_mode = probe_guard_install();
    if (guard_mode > 0 && madvise(p, GUARD, MADV_GUARD_INSTALL) == 0)
        return;
    if (vma_budget < 0)
        vma_budget = read_vma_budget();
    if (vma_budget > 0 && mprotect(p, GUARD, PROT_NONE) == 0)
        vma_budget--;
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

static int new_arena(cio__stacks *s, cio__stack_class *c) {
    size_t n = c->nslots ? c->nslots * 2 : FIRST_ARENA_SLOTS;
    if (n > MAX_ARENA_SLOTS)
        n = MAX_ARENA_SLOTS;
    size_t len = n * (c->size + GUARD);
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return -ENOMEM;
    /* With THP a touched stack would become 64 KiB resident, not 4 KiB. */
    madvise(base, len, MADV_NOHUGEPAGE);
    cio__arena *a = malloc(sizeof *a);
    cio__stack *slots = calloc(n, sizeof *slots);
    if (!a || !slots) {
        free(a);
        free(slots);
        munmap(base, len);
        return -ENOMEM;
    }
    *a = (cio__arena){.next = s->arenas, .base = base, .len = len, .slots = slots};
    s->arenas = a;
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
    cio__stack *st = &c->current->slots[c->carved];
    char *slot = (char *)c->current->base + c->carved * (c->size + GUARD);
    c->carved++;
    c->current->carved++;
    st->cls = c;
    install_guard(slot);
    st->lo = slot + GUARD;
    st->size = c->size;
#ifdef CIO_VALGRIND
    st->valgrind_id = VALGRIND_STACK_REGISTER(st->lo, (char *)st->lo + st->size);
#endif
    return st;
}

cio__stack *cio__stack_get(cio__stacks *s, size_t size) {
    if (size == 0)
        size = s->default_size;
    size = (size + GUARD - 1) & ~(size_t)(GUARD - 1);
    cio__stack_class *c = class_for(s, size);
    cio__stack *st = NULL;
    if (c && c->free) {
        st = c->free;
        c->free = st->next;
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
    return st;
}

void cio__stack_put(cio__stacks *s, cio__stack *st) {
    (void)s;
    cio__stack_class *c = st->cls;
    st->next = c->free;
    c->free = st;
}

void cio__stacks_destroy(cio__stacks *s) {
    while (s->arenas) {
        cio__arena *a = s->arenas;
        s->arenas = a->next;
#ifdef CIO_VALGRIND
        for (size_t i = 0; i < a->carved; i++)
            VALGRIND_STACK_DEREGISTER(a->slots[i].valgrind_id);
#endif
        munmap(a->base, a->len);
        free(a->slots);
        free(a);
    }
    while (s->classes) {
        cio__stack_class *c = s->classes;
        s->classes = c->next;
        free(c);
    }
}
