/* A task's I/O request: one cio__req, the task parked until its done().
 * The kernel owns the caller's buffers until then, so cancellation asks the
 * backend to drop the request and still waits for it to end. */
#include "loop.h"
#include "profile.h"
#include "task.h"

#include <errno.h>

static void retry_cancel(cio__flush *f);

static void io_done(cio__req *r, int res, unsigned flags) {
    cio__task *t = r->ctx;
    cio__loop_cancel_flush(t->fut.loop, &t->io_retry); /* nothing left to cancel */
    t->io_res = res;
    t->io_flags = flags;
    t->io_pending = false;
    cio__task_io_end(t);
    cio__task_wake(t, 0);
}

/* Asks the backend to drop the task's request. Without room for that, it
 * tries again before every poll until it gets it or the request ends. */
static void request_cancel(cio__task *t) {
    cio_loop *loop = t->fut.loop;
    if (!t->io_pending)
        return;
    t->io_cancel_asked = true;
    if (cio__backend_cancel(loop->backend, t->io_req) == 0)
        return;
    t->io_retry.fn = retry_cancel;
    cio__loop_defer_flush(loop, &t->io_retry);
}

static void retry_cancel(cio__flush *f) {
    request_cancel((cio__task *)((char *)f - offsetof(cio__task, io_retry)));
}

void cio__io_drop(cio__task *t) {
    request_cancel(t);
}

/* If the request completes anyway, its result is delivered and the
 * cancellation waits for the next suspension point. */
static void io_cancel(cio__task *t, void *ctx) {
    (void)ctx;
    t->must_cancel = true;
    request_cancel(t);
}

int cio__io(cio__req *r) {
    cio__task *t = cio__task_current();
    if (!t)
        return -EPERM;
    if (t->must_cancel) {
        t->must_cancel = false;
        return -ECANCELED;
    }
    /* The request lives in the task, not on its stack, so that a wait on
     * heap buffers lets the stack be trimmed (task_trim.c). */
    t->io_req_copy = *r;
    r = &t->io_req_copy;
    r->done = io_done;
    r->ctx = t;
    cio__trim_touch_req(t->fut.loop, r);
    int e = cio__backend_submit(t->fut.loop->backend, r);
    if (e < 0)
        return e;
    t->io_req = r;
    t->io_pending = true;
    cio__task_io_begin(t);
    t->io_cancel_asked = false;
    /* Not cio__task_park: a pending cancellation must not skip the wait, the
     * request is submitted and the kernel may write into our buffers. */
    while (t->io_pending) {
        t->park_cancel = io_cancel;
        t->park_ctx = NULL;
        t->tstate = CIO__T_PARKED;
        cio__task_idle_add(t);
        t->wait_kind = CIO__WAIT_IO;
        cio__task_suspend(t);
    }
    t->io_req = NULL;
    if (t->io_res != -ECANCELED)
        return t->io_res;
    if (!t->io_cancel_asked)
        return -EBADF;      /* nobody asked: the request ended with its fd (cio_close) */
    t->must_cancel = false; /* a cancellation of the task: this is its delivery */
    return -ECANCELED;
}

unsigned cio__io_flags(void) {
    cio__task *t = cio__task_current();
    return t ? t->io_flags : 0;
}
