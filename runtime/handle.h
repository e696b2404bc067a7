/* Callback records: the ready queue (FIFO) and the timer heap hold these.
 * They come from a per-loop free list; `gen` changes whenever a record is
 * recycled, which is what makes a cio_handle safe to cancel after it ran. */
#ifndef CIO_HANDLE_H
#define CIO_HANDLE_H

#include "cio.h"
#include <stdbool.h>
#include <stdint.h>

enum { CIO__H_FREE, CIO__H_READY, CIO__H_TIMER, CIO__H_CANCELLED, CIO__H_EMBEDDED };

typedef struct cio__handle {
    struct cio__handle *next; /* ready queue or free list */
    cio_cb cb;
    void *arg;
    uint64_t gen;
    double when;       /* timers */
    uint32_t heap_idx; /* timers: position in the heap */
    uint8_t state;
    uint8_t embedded; /* lives inside another object (a task): never pooled */
} cio__handle;

typedef struct cio__handles {
    cio__handle *free;
    void **blocks; /* slabs, freed at loop close */
    size_t nblocks, cap_blocks;
    uint64_t next_gen;
} cio__handles;

cio__handle *cio__handle_alloc(cio__handles *hs);
void cio__handle_release(cio__handles *hs, cio__handle *h);
void cio__handles_destroy(cio__handles *hs);

/* Work a module batches during one iteration and hands over once, right
 * before the loop polls the kernel (e.g. the thread pool's submissions: one
 * lock and one wakeup for many jobs). See cio__loop_defer_flush. */
typedef struct cio__flush {
    struct cio__flush *next;
    void (*fn)(struct cio__flush *f);
    bool queued;
} cio__flush;

/* Binary min-heap of timer handles keyed by `when`, indexed for O(log n) removal. */
typedef struct cio__timers {
    cio__handle **heap;
    uint32_t n;
    size_t cap;
} cio__timers;

int cio__timers_push(cio__timers *t, cio__handle *h);
void cio__timers_remove(cio__timers *t, cio__handle *h);
static inline cio__handle *cio__timers_top(const cio__timers *t) {
    return t->n ? t->heap[0] : NULL;
}
void cio__timers_destroy(cio__timers *t);

#endif
