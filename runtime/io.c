/* A task's I/O request: one SQE, the task parked until its CQE. The kernel
 * owns the caller's buffers until that CQE, so cancellation asks the kernel
 * to drop the request (ASYNC_CANCEL) and still waits for the CQE. */
#include "loop.h"
#include "task.h"

#include <errno.h>

static cio__task *task_of(cio__op *op) {
    return (cio__task *)((char *)op - offsetof(cio__task, io_op));
}

static void retry_cancel(cio__flush *f);

static void io_done(cio__op *op, int res, uint32_t flags) {
    cio__task *t = task_of(op);
    cio__loop_cancel_flush(t->fut.loop, &t->io_retry); /* nothing left to cancel */
    t->io_res = res;
    t->io_flags = flags;
    t->io_pending = false;
    cio__task_wake(t, 0);
}

/* Asks the kernel to drop the task's request. Without an SQE for that, it
 * tries again before every poll until it gets one or the request ends. */
static void request_cancel(cio__task *t) {
    cio_loop *loop = t->fut.loop;
    if (!t->io_pending || cio__uring_cancel(loop->ring, &t->io_op) == 0)
        return;
    t->io_retry.fn = retry_cancel;
    cio__loop_defer_flush(loop, &t->io_retry);
}

static void retry_cancel(cio__flush *f) {
    request_cancel((cio__task *)((char *)f - offsetof(cio__task, io_retry)));
}

/* If the request completes anyway, its result is delivered and the
 * cancellation waits for the next suspension point. */
static void io_cancel(cio__task *t, void *ctx) {
    (void)ctx;
    t->must_cancel = true;
    request_cancel(t);
}

struct io_uring_sqe *cio__io_sqe(void) {
    cio__task *t = cio__task_current();
    if (!t) {
        errno = EPERM;
        return NULL;
    }
    if (t->must_cancel) {
        t->must_cancel = false;
        errno = ECANCELED;
        return NULL;
    }
    t->io_op.done = io_done;
    t->io_op.background = false;
    return cio__uring_sqe(t->fut.loop->ring, &t->io_op);
}

int cio__io_wait(uint32_t *flags) {
    cio__task *t = cio__task_current();
    t->io_pending = true;
    /* Not cio__task_park: a pending cancellation must not skip the wait, the
     * SQE is already queued and the kernel may write into our buffers. */
    while (t->io_pending) {
        t->park_cancel = io_cancel;
        t->park_ctx = NULL;
        t->tstate = CIO__T_PARKED;
        cio__task_suspend(t);
    }
    if (flags)
        *flags = t->io_flags;
    if (t->io_res == -ECANCELED)
        t->must_cancel = false; /* this cancellation is the one delivered */
    return t->io_res;
}
