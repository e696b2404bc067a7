/* Futures: a result, an error or a cancellation, plus done callbacks. */
#ifndef CIO_FUTURE_H
#define CIO_FUTURE_H

#include "cio.h"
#include "handle.h"
#include "mpsc.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum { CIO__F_PENDING, CIO__F_RESULT, CIO__F_ERROR, CIO__F_CANCELLED };

struct cio__task;

/* A done callback. fn NULL means "resume this task" (task != NULL): awaiting
 * then costs no allocation. */
typedef struct cio__cbnode {
    struct cio__cbnode *next;
    void (*fn)(cio_future *f, void *arg);
    void *arg;
    struct cio__task *task;
    cio_future *f; /* set when scheduled */
    bool always;   /* runs even when the loop closes first (threadsafe bridges) */
} cio__cbnode;

/* Custom cancellation (tasks, executor jobs). Returns what cio_cancel returns;
 * it may complete the future itself (cio__future_finish with -ECANCELED). */
typedef bool (*cio__cancel_fn)(cio_future *f, void *ctx);

/* cio_future.sync: what other threads may look at without a lock. */
enum { CIO__SYNC_DONE = 1, CIO__SYNC_WAITER = 2 };

struct cio_future {
    cio_loop *loop;
    _Atomic uint32_t refs; /* thread-safe: cio_future_ref/unref from any thread */
    _Atomic uint32_t sync; /* CIO__SYNC_*: a thread in cio_future_wait sleeps on it (futex) */
    uint8_t state;
    bool is_task;
    bool is_job; /* an executor job's (profiling counts a wait on it as executor time) */
    bool retrieved;
    int err;
    void *result;
    void (*dtor)(void *result);
    cio__cbnode *cb_head, *cb_tail;
    void *ctx_job; /* a thread job's context carrier, released with f (context.c) */
    union {
        struct {
            cio__cancel_fn cancel_fn;
            void *cancel_ctx;
        };
        /* Once the last reference is gone (cancelling is over): carries the
         * future to its loop's thread when another thread dropped it. */
        cio__mpsc_node release_node;
    };
};

/* Initialises a future embedded at the start of a bigger object (a task). */
void cio__future_init(cio_future *f, cio_loop *loop, bool is_task);
/* Completes f: err 0 → result, -ECANCELED → cancelled, else error. Schedules
 * the callbacks. -EINVAL if already done. */
int cio__future_finish(cio_future *f, int err, void *result);
void cio__future_set_cancel(cio_future *f, cio__cancel_fn fn, void *ctx);
/* Registers the waiting task (node is embedded in the task). */
void cio__future_add_node(cio_future *f, cio__cbnode *n);
/* Unlinks a node that has not run yet; false if not found. */
bool cio__future_remove_node(cio_future *f, cio__cbnode *n);
/* Like cio_future_add_done_callback, but the callback also runs when the
 * loop closes before it could be scheduled (it must then cope with a closed
 * loop). */
int cio__future_add_done_always(cio_future *f, void (*cb)(cio_future *, void *), void *arg);
/* Loop close: releases a scheduled done callback that will never run (true
 * if h was one). */
bool cio__future_drop_scheduled(cio__handle *h);

#endif
