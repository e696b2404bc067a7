/* cio_call_soon_threadsafe's preallocated calls: a fixed array of slots in
 * each loop, claimed with one compare-and-swap on a bitmap and given back by
 * the loop thread once the callback has been taken out. No allocation and no
 * lock, so a signal handler may post (while slots are free). */
#ifndef CIO_TSCALL_H
#define CIO_TSCALL_H

#include "cio.h"
#include "mpsc.h"
#include <stdatomic.h>
#include <stdint.h>

enum { CIO__TS_SLOTS = 256 };

typedef struct cio__ts_call {
    cio__mpsc_node node;
    cio_cb cb;
    void *arg;
    struct cio_loop *loop;
    int slot; /* -1: allocated (every slot was pending) */
} cio__ts_call;

/* Zeroed memory is a valid, empty table (the loop is calloc'd). */
typedef struct cio__ts_slots {
    _Atomic uint64_t used[CIO__TS_SLOTS / 64]; /* a set bit: the slot is pending */
    cio__ts_call calls[CIO__TS_SLOTS];
} cio__ts_slots;

/* Any thread, async-signal-safe: a free slot, or NULL when all are pending. */
cio__ts_call *cio__ts_claim(cio__ts_slots *t);
/* Any thread: gives a claimed slot back. */
void cio__ts_release(cio__ts_slots *t, cio__ts_call *c);

#endif
