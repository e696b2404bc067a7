/* Task stacks: slots carved from large mappings, each with a guard below it
 * that costs no VMA (MADV_GUARD_INSTALL), pooled most-recently-freed first.
 * One pool per loop: no locks. */
#ifndef CIO_STACK_H
#define CIO_STACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum { CIO__TRIM_NONE, CIO__TRIM_DONE, CIO__TRIM_RESTORED };

typedef struct cio__stack {
    void *lo; /* lowest usable byte; the guard sits just below */
    size_t size;
    struct cio__stack *next; /* free list */
    struct cio__stack_class *cls;
    unsigned valgrind_id;
    /* Trimming (stack_trim.c): while trimmed the slot is a guard region and
     * its live bytes [lo + size - trim_len, lo + size) wait in trim_copy. */
    _Atomic int trim; /* CIO__TRIM_*, changed under the trim lock */
    uint32_t trim_len;
    uint32_t pin_epoch; /* an in-flight request's memory is here (task_trim.c) */
    void *trim_copy;
} cio__stack;

typedef struct cio__stack_class cio__stack_class;
typedef struct cio__arena cio__arena;

typedef struct cio__stacks {
    size_t default_size;
    cio__stack_class *classes; /* one per stack size in use */
    cio__arena *arenas;
    struct cio__stacks *reg_next; /* every pool with an arena, for the fault handler */
    bool registered;
} cio__stacks;

void cio__stacks_init(cio__stacks *s, size_t default_size); /* 0: 256 KiB */
/* size 0: the default. NULL with errno ENOMEM. */
cio__stack *cio__stack_get(cio__stacks *s, size_t size);
void cio__stack_put(cio__stacks *s, cio__stack *st);
void cio__stacks_destroy(cio__stacks *s);
/* Free stacks keep their pages for the next task; those beyond the `keep`
 * most recently freed that stayed free since the last call give them back
 * (MADV_DONTNEED): a burst of 100,000 tasks does not stay 400 MiB
 * resident. Called once per trim period. */
void cio__stacks_release(cio__stacks *s, size_t keep);
/* Whether a cio__stacks_release would give pages back. */
bool cio__stacks_excess(const cio__stacks *s, size_t keep);
/* Sorts n slot ranges (each a stack's [lo, lo + size)) by address and
 * joins neighbours across the guard between them; returns how many are
 * left. Both MADV_GUARD_INSTALL and MADV_DONTNEED leave a guard a guard,
 * and one range is one TLB flush (an IPI, 5-8 us on these VMs). */
size_t cio__stack_join(struct iovec *v, size_t n);
/* Stacks released so far in the process (tests). */
size_t cio__stack_release_count(void);
/* Bytes of guard just below every stack's lo: 64 KiB. Unguarded stacks
 * (past the mprotect fallback's VMA budget) are not told apart: their guard
 * range is mapped, so it never faults and the overflow reporter stays quiet.
 * Safe to call from a signal handler once a stack exists. */
size_t cio__stack_guard_size(void);

/* ---- trimming (stack_trim.c): a parked task's stack gives its pages back ---- */

/* Copies [sp[i], top) of each st[i] aside and turns its whole slot into a
 * guard region (one vectored MADV_GUARD_INSTALL for all): every later touch
 * faults into cio__stack_fault, which puts the bytes back. res[i] is 0, or
 * a negative errno and st[i] unchanged (-ENOTSUP without page-table guards,
 * -E2BIG for a deep stack, -ENOMEM). */
void cio__stack_trim_many(cio__stack *const *st, const void *const *sp, size_t n, int *res);
/* Loop thread: the stack is whole again and the copy freed (no-op if it was
 * never trimmed). */
void cio__stack_untrim(cio__stack *st);
/* cio__stack_untrim of n stacks, with one vectored guard removal. */
void cio__stack_untrim_many(cio__stack *const *st, size_t n);
/* Signal handler, any thread: if addr lies in a trimmed stack, restores it
 * and returns true (the faulting access is then re-executed). */
bool cio__stack_fault(const void *addr);
/* Loop thread: restores the trimmed stack holding addr, if any (memory that
 * a request is about to hand to the kernel, which would get EFAULT). */
void cio__stack_touch(const void *addr);
/* The carved stack whose usable range holds addr (NULL: none), for the pin
 * pass of a sweep. */
cio__stack *cio__stack_holding(const void *addr);
/* Trims done so far in the process (tests). */
size_t cio__stack_trim_count(void);
/* Whether any stack of the process is trimmed now (a relaxed load). */
bool cio__stack_any_trimmed(void);

/* For stack_trim.c: the registry lock (a spinlock, also taken in the fault
 * handler, never held across anything that can fault) and the lookup under it. */
void cio__stack_lock(void);
void cio__stack_unlock(void);
cio__stack *cio__stack_find_locked(const void *addr);
/* Guards live in page tables here (MADV_GUARD_INSTALL works). */
bool cio__stack_pte_guards(void);

#endif
