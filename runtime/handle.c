/* The per-loop pool of callback records and the timer heap (and
 * cio_loop_call_later, the explicit-loop twin of cio_call_later). */
#include "handle.h"

#include "fault.h"
#include "vec.h"

#include <errno.h>
#include <stdlib.h>

#define CIO__HANDLES_PER_BLOCK 1024

static int handles_grow(cio__handles *hs) {
    if (cio__vec_reserve(hs->blocks, &hs->cap_blocks, hs->nblocks + 1, 16) < 0)
        return -ENOMEM;
    cio__handle *blk = calloc(CIO__HANDLES_PER_BLOCK, sizeof *blk);
    if (!blk)
        return -ENOMEM;
    hs->blocks[hs->nblocks++] = blk;
    for (size_t i = 0; i < CIO__HANDLES_PER_BLOCK; i++) {
        blk[i].next = hs->free;
        hs->free = &blk[i];
    }
    return 0;
}

cio__handle *cio__handle_alloc(cio__handles *hs) {
    if (CIO__FAULT(CIO__FAULT_ALLOC))
        return NULL;
    if (!hs->free && handles_grow(hs) < 0)
        return NULL;
    cio__handle *h = hs->free;
    hs->free = h->next;
    h->next = NULL;
    h->gen = ++hs->next_gen;
    return h;
}

void cio__handle_release(cio__handles *hs, cio__handle *h) {
    if (h->embedded) {
        h->state = CIO__H_FREE;
        return;
    }
    h->state = CIO__H_FREE;
    h->gen = 0; /* no cio_handle matches a free record */
    h->next = hs->free;
    hs->free = h;
}

void cio__handles_destroy(cio__handles *hs) {
    for (size_t i = 0; i < hs->nblocks; i++)
        free(hs->blocks[i]);
    free(hs->blocks);
    *hs = (cio__handles){0};
}

/* ---- timer heap ---- */

/* Equal deadlines fire in scheduling order: gen grows with every allocation. */
static inline int earlier(const cio__handle *a, const cio__handle *b) {
    return a->when < b->when || (a->when == b->when && a->gen < b->gen);
}

static void heap_set(cio__timers *t, uint32_t i, cio__handle *h) {
    t->heap[i] = h;
    h->heap_idx = i;
}

static void sift_up(cio__timers *t, uint32_t i) {
    cio__handle *h = t->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!earlier(h, t->heap[p]))
            break;
        heap_set(t, i, t->heap[p]);
        i = p;
    }
    heap_set(t, i, h);
}

static void sift_down(cio__timers *t, uint32_t i) {
    cio__handle *h = t->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && earlier(t->heap[c + 1], t->heap[c]))
            c++;
        if (!earlier(t->heap[c], h))
            break;
        heap_set(t, i, t->heap[c]);
        i = c;
    }
    heap_set(t, i, h);
}

int cio__timers_push(cio__timers *t, cio__handle *h) {
    if (CIO__FAULT(CIO__FAULT_ALLOC))
        return -ENOMEM;
    if (t->n == UINT32_MAX || cio__vec_reserve(t->heap, &t->cap, (size_t)t->n + 1, 64) < 0)
        return -ENOMEM;
    t->heap[t->n] = h;
    h->heap_idx = t->n;
    sift_up(t, t->n++);
    return 0;
}

void cio__timers_remove(cio__timers *t, cio__handle *h) {
    uint32_t i = h->heap_idx;
    cio__handle *last = t->heap[--t->n];
    if (i == t->n)
        return;
    heap_set(t, i, last);
    if (i > 0 && earlier(last, t->heap[(i - 1) / 2]))
        sift_up(t, i);
    else
        sift_down(t, i);
}

void cio__timers_destroy(cio__timers *t) {
    free(t->heap);
    *t = (cio__timers){0};
}

cio_handle cio_loop_call_later(cio_loop *loop, double delay, cio_cb cb, void *arg) {
    if (!loop) {
        errno = EPERM;
        return (cio_handle){0};
    }
    return cio_loop_call_at(loop, cio_loop_time(loop) + delay, cb, arg);
}
