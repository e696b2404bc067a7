/* Task stacks: slots carved from large mappings, each with a guard below it
 * that costs no VMA (MADV_GUARD_INSTALL), pooled most-recently-freed first.
 * One pool per loop: no locks. */
#ifndef CIO_STACK_H
#define CIO_STACK_H

#include <stddef.h>

typedef struct cio__stack {
    void *lo; /* lowest usable byte; the guard sits just below */
    size_t size;
    struct cio__stack *next; /* free list */
    struct cio__stack_class *cls;
    unsigned valgrind_id;
} cio__stack;

typedef struct cio__stack_class cio__stack_class;
typedef struct cio__arena cio__arena;

typedef struct cio__stacks {
    size_t default_size;
    cio__stack_class *classes; /* one per stack size in use */
    cio__arena *arenas;
} cio__stacks;

void cio__stacks_init(cio__stacks *s, size_t default_size); /* 0: 256 KiB */
/* size 0: the default. NULL with errno ENOMEM. */
cio__stack *cio__stack_get(cio__stacks *s, size_t size);
void cio__stack_put(cio__stacks *s, cio__stack *st);
void cio__stacks_destroy(cio__stacks *s);
/* Bytes of guard just below every stack's lo: 64 KiB. Unguarded stacks
 * (past the mprotect fallback's VMA budget) are not told apart: their guard
 * range is mapped, so it never faults and the overflow reporter stays quiet.
 * Safe to call from a signal handler once a stack exists. */
size_t cio__stack_guard_size(void);

#endif
