/* Stack trimming: a parked task's stack gives its pages back. The few hundred
 * bytes in use, [sp, top), are copied aside and the whole slot becomes a guard
 * region (MADV_GUARD_INSTALL, which also drops the pages). Nothing can then
 * read stale zeros or write into memory that a later copy-back overwrites:
 * any touch faults, and the SIGSEGV handler (debug.c) calls cio__stack_fault,
 * which removes the guard and copies the bytes back before the access is
 * re-executed. The loop restores a stack without a fault before it switches
 * to the task (cio__stack_untrim). Which tasks may be trimmed, and when, is
 * task_trim.c's business. */
#include "stack.h"

#include "fault.h"
#include "madv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Beyond this the copy saves little: such a frame holds a buffer in use. */
#define TRIM_MAX (16 * 1024)
#define TRIM_MANY 64 /* stacks per vectored guard install */

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
/* A parked stack holds poisoned redzones of live frames: copy past ASan's
 * checks (byte by byte through volatile, so no memcpy call is made of it). */
__attribute__((no_sanitize_address)) static void raw_copy(void *dst, const void *src, size_t n) {
    volatile unsigned char *d = dst;
    const volatile unsigned char *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}
#else
#define raw_copy memcpy
#endif

static _Atomic size_t ntrimmed; /* stacks in CIO__TRIM_DONE, process-wide */
static _Atomic size_t ntrims;   /* trims so far (tests) */

size_t cio__stack_trim_count(void) {
    return atomic_load_explicit(&ntrims, memory_order_relaxed);
}

bool cio__stack_any_trimmed(void) {
    return atomic_load_explicit(&ntrimmed, memory_order_relaxed) != 0;
}

static char *top_of(const cio__stack *st) {
    return (char *)st->lo + st->size;
}

/* The copy of [sp, top) in a new allocation, or a negative errno. */
static int copy_aside(cio__stack *st, const void *sp, void **copy) {
    const char *p = sp, *top = top_of(st);
    if (p < (const char *)st->lo || p > top)
        return -EINVAL;
    if (atomic_load_explicit(&st->trim, memory_order_relaxed) != CIO__TRIM_NONE)
        return -EBUSY;
    if (!cio__stack_pte_guards())
        return -ENOTSUP; /* mprotect instead would cost two VMAs per parked task */
    size_t used = (size_t)(top - p);
    if (used > TRIM_MAX)
        return -E2BIG;
    *copy = CIO__FAULT(CIO__FAULT_ALLOC) ? NULL : malloc(used ? used : 1);
    if (!*copy)
        return -ENOMEM;
    return (int)used;
}

/* Under the lock, before the guard exists: a fault always finds the copy. */
static void publish(cio__stack *st, const void *sp, void *copy, int used) {
    raw_copy(copy, sp, (size_t)used);
    st->trim_copy = copy;
    st->trim_len = (uint32_t)used;
    atomic_store_explicit(&st->trim, CIO__TRIM_DONE, memory_order_relaxed);
}

/* Under the lock: the guard is in (r == 0) or the trim is undone. */
static int settle(cio__stack *st, int r) {
    if (r < 0) {
        atomic_store_explicit(&st->trim, CIO__TRIM_NONE, memory_order_relaxed);
        st->trim_copy = NULL; /* freed by the caller, outside the lock */
    } else {
        atomic_fetch_add_explicit(&ntrimmed, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ntrims, 1, memory_order_relaxed);
    }
    return r;
}

/* Copies first, guards after: each guard rewrites page tables, and on a
 * shadow-paging VM the next touch of a neighbouring slot (the next copy)
 * would then fault again. One vectored call installs them all. */
void cio__stack_trim_many(cio__stack *const *st, const void *const *sp, size_t n, int *res) {
    if (n == 0)
        return;
    void *copy[TRIM_MANY];
    struct iovec v[TRIM_MANY];
    size_t k = 0;
    if (n > TRIM_MANY) {
        cio__stack_trim_many(st + TRIM_MANY, sp + TRIM_MANY, n - TRIM_MANY, res + TRIM_MANY);
        n = TRIM_MANY;
    }
    for (size_t i = 0; i < n; i++) {
        copy[i] = NULL;
        res[i] = copy_aside(st[i], sp[i], &copy[i]);
    }
    cio__stack_lock();
    for (size_t i = 0; i < n; i++)
        if (res[i] >= 0) {
            publish(st[i], sp[i], copy[i], res[i]);
            v[k++] = (struct iovec){st[i]->lo, st[i]->size};
        }
    bool all = cio__madvise_many(v, cio__stack_join(v, k), MADV_GUARD_INSTALL) == 0;
    for (size_t i = 0; i < n; i++)
        if (res[i] >= 0) {
            int r = all || madvise(st[i]->lo, st[i]->size, MADV_GUARD_INSTALL) == 0 ? 0 : -errno;
            res[i] = settle(st[i], r);
        }
    cio__stack_unlock();
    for (size_t i = 0; i < n; i++)
        if (res[i] < 0)
            free(copy[i]); /* NULL unless the guard failed */
}

/* Under the lock, the guard gone: the bytes back, the stack RESTORED. */
static void copy_back_locked(cio__stack *st) {
    raw_copy(top_of(st) - st->trim_len, st->trim_copy, st->trim_len);
    atomic_store_explicit(&st->trim, CIO__TRIM_RESTORED, memory_order_relaxed);
    atomic_fetch_sub_explicit(&ntrimmed, 1, memory_order_relaxed);
}

/* Under the lock. Async-signal-safe: two syscalls and a copy. The copy is
 * freed later by the loop thread (free is not async-signal-safe). */
static bool restore_locked(cio__stack *st) {
    if (atomic_load_explicit(&st->trim, memory_order_relaxed) != CIO__TRIM_DONE)
        return true; /* restored already (by another thread's fault) */
    if (madvise(st->lo, st->size, MADV_GUARD_REMOVE) < 0)
        return false; /* cannot happen on our own mapping; the fault then kills */
    /* The copy would fault each page in: ten times dearer here. */
    cio__madvise_populate(top_of(st) - st->trim_len, st->trim_len);
    copy_back_locked(st);
    return true;
}

bool cio__stack_fault(const void *addr) {
    cio__stack_lock();
    /* A stack found whole was restored by the loop thread since the fault:
     * retrying the access is right then too (a slot's usable range is
     * mapped read-write, only a trim's guard can make it fault). */
    cio__stack *st = cio__stack_find_locked(addr);
    bool ours = st && restore_locked(st);
    cio__stack_unlock();
    return ours;
}

void cio__stack_untrim(cio__stack *st) {
    if (atomic_load_explicit(&st->trim, memory_order_relaxed) != CIO__TRIM_NONE)
        cio__stack_untrim_many(&st, 1);
}

/* Restores the trimmed among n stacks with one vectored guard removal and
 * one vectored populate: tasks woken together (a timer wheel's worth of
 * sleepers) pay two system calls per 64, not two each. A stack restored by
 * a fault meanwhile only has its copy freed. */
void cio__stack_untrim_many(cio__stack *const *st, size_t n) {
    if (n > TRIM_MANY) {
        cio__stack_untrim_many(st + TRIM_MANY, n - TRIM_MANY);
        n = TRIM_MANY;
    }
    struct iovec rm[TRIM_MANY], pop[TRIM_MANY];
    void *copy[TRIM_MANY];
    size_t k = 0;
    bool lost = false;
    cio__stack_lock();
    for (size_t i = 0; i < n; i++)
        if (atomic_load_explicit(&st[i]->trim, memory_order_relaxed) == CIO__TRIM_DONE) {
            rm[k] = (struct iovec){st[i]->lo, st[i]->size};
            pop[k++] = cio__page_span(top_of(st[i]) - st[i]->trim_len, st[i]->trim_len);
        }
    bool all = cio__madvise_many(rm, k, MADV_GUARD_REMOVE) == 0;
    if (all)
        (void)cio__madvise_many(pop, k, MADV_POPULATE_WRITE);
    for (size_t i = 0; i < n; i++) {
        if (atomic_load_explicit(&st[i]->trim, memory_order_relaxed) == CIO__TRIM_DONE) {
            if (all)
                copy_back_locked(st[i]);
            else if (!restore_locked(st[i])) /* one at a time */
                lost = true;
        }
        copy[i] = NULL;
        if (atomic_load_explicit(&st[i]->trim, memory_order_relaxed) == CIO__TRIM_RESTORED) {
            copy[i] = st[i]->trim_copy;
            st[i]->trim_copy = NULL;
            atomic_store_explicit(&st[i]->trim, CIO__TRIM_NONE, memory_order_relaxed);
        }
    }
    cio__stack_unlock();
    if (lost)
        abort(); /* a task's frames are lost: running it would be worse */
    for (size_t i = 0; i < n; i++)
        free(copy[i]);
}

void cio__stack_touch(const void *addr) {
    if (!addr || !cio__stack_any_trimmed())
        return;
    cio__stack_lock();
    cio__stack *st = cio__stack_find_locked(addr);
    bool ok = !st || restore_locked(st);
    cio__stack_unlock();
    if (!ok)
        abort();
}

cio__stack *cio__stack_holding(const void *addr) {
    cio__stack_lock();
    cio__stack *st = cio__stack_find_locked(addr);
    cio__stack_unlock();
    return st;
}
