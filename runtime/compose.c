/* Composition: gather, shield, wait_for. (wait and as_completed share the
 * completion-order machinery in compose_wait.c.) */
#include "future.h"
#include "timearg.h"
#include "loop.h"
#include "task.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- gather ---- */

/* Lives until the last child's done callback has run: the outer future may
 * finish (first error) long before. */
typedef struct gather {
    cio_future *outer;
    size_t pending; /* children whose callback has not run */
    int flags;
    bool cancel_requested;
    size_t n;
    cio_future *fs[];
} gather;

static void gather_release(gather *g) {
    cio__future_set_cancel(g->outer, NULL, NULL);
    for (size_t i = 0; i < g->n; i++)
        cio_future_unref(g->fs[i]);
    cio_future_unref(g->outer);
    free(g);
}

static void gather_child_done(cio_future *child, void *arg) {
    gather *g = arg;
    g->pending--;
    int err = cio_future_error(child); /* also marks it retrieved */
    if (!cio_future_done(g->outer)) {
        if (err && !(g->flags & CIO_RETURN_EXCEPTIONS))
            cio__future_finish(g->outer, err, NULL);
        else if (g->pending == 0)
            cio__future_finish(g->outer, g->cancel_requested ? -ECANCELED : 0, NULL);
    }
    if (g->pending == 0)
        gather_release(g);
}

/* Cancelling the outer future cancels the children; it then ends cancelled
 * when they have ended, whatever they ended with. */
static bool gather_cancel(cio_future *outer, void *ctx) {
    (void)outer;
    gather *g = ctx;
    bool any = false;
    for (size_t i = 0; i < g->n; i++)
        any |= cio_cancel(g->fs[i]);
    if (any)
        g->cancel_requested = true;
    return any;
}

/* -EINVAL for a NULL, CIO_ELOOP for a future of another loop than the
 * running one: its completion would never wake us. */
static int check_futures(cio_future **fs, size_t n) {
    if (n && !fs)
        return -EINVAL;
    cio_loop *loop = cio__loop_running();
    for (size_t i = 0; i < n; i++) {
        if (!fs[i])
            return -EINVAL;
        if (loop && fs[i]->loop != loop)
            return CIO_ELOOP;
    }
    return 0;
}

static void gather_register(gather *g) {
    size_t n = g->n;
    for (size_t i = 0; i < n; i++) {
        if (cio_future_add_done_callback(g->fs[i], gather_child_done, g) == 0)
            continue;
        /* Out of memory: those not registered can never report. */
        if (!cio_future_done(g->outer))
            cio__future_finish(g->outer, -ENOMEM, NULL);
        g->pending -= n - i;
        if (g->pending == 0)
            gather_release(g);
        return;
    }
}

cio_future *cio_gather_future(cio_future **fs, size_t n, int flags) {
    int r = check_futures(fs, n);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    cio_future *outer = cio_future_new();
    if (!outer || n == 0) {
        if (outer)
            cio__future_finish(outer, 0, NULL);
        return outer;
    }
    gather *g = malloc(sizeof *g + n * sizeof *fs);
    if (!g) {
        cio_future_unref(outer);
        errno = ENOMEM;
        return NULL;
    }
    *g = (gather){.outer = outer, .pending = n, .flags = flags, .n = n};
    memcpy(g->fs, fs, n * sizeof *fs);
    for (size_t i = 0; i < n; i++)
        cio_future_ref(fs[i]);
    cio_future_ref(outer); /* the caller's and g's */
    cio__future_set_cancel(outer, gather_cancel, g);
    gather_register(g);
    return outer;
}

/* Everything is done already: the answer needs no future and no wait.
 * Errors are taken in list order, which is the order their callbacks would
 * have run in. */
static bool gather_done_now(cio_future **fs, size_t n, int flags, int *res) {
    for (size_t i = 0; i < n; i++)
        if (!cio_future_done(fs[i]))
            return false;
    *res = 0;
    for (size_t i = 0; i < n; i++) {
        int err = cio_future_error(fs[i]);
        if (err && *res == 0 && !(flags & CIO_RETURN_EXCEPTIONS))
            *res = err;
    }
    return true;
}

int cio_gather(cio_future **fs, size_t n, int flags) {
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    r = check_futures(fs, n);
    if (r < 0)
        return r;
    if (gather_done_now(fs, n, flags, &r))
        return r;
    cio_future *g = cio_gather_future(fs, n, flags);
    if (!g)
        return -errno;
    r = cio_await(g, NULL);
    cio_future_unref(g);
    return r;
}

/* ---- shield ---- */

static void shield_copy(cio_future *inner, void *arg) {
    cio_future *outer = arg;
    /* The error moves to outer, which reports it if nobody looks. */
    int err = cio_future_error(inner);
    if (!cio_future_done(outer))
        cio__future_finish(outer, err, err ? NULL : inner->result);
    cio_future_unref(outer);
}

cio_future *cio_shield(cio_future *f) {
    if (!f) {
        errno = EINVAL;
        return NULL;
    }
    if (cio_future_done(f)) {
        cio_future_ref(f);
        return f;
    }
    cio_future *outer = cio_loop_future_new(f->loop);
    if (!outer)
        return NULL;
    cio_future_ref(outer); /* held by the callback */
    int r = cio_future_add_done_callback(f, shield_copy, outer);
    if (r < 0) {
        cio_future_unref(outer);
        cio_future_unref(outer);
        errno = -r;
        return NULL;
    }
    return outer;
}

/* ---- wait_for ---- */

typedef struct wait_for {
    cio_future *f;
    bool timed_out; /* our timer cancelled f */
    bool cancelled; /* the caller was cancelled */
} wait_for;

static void wait_for_fire(void *arg) {
    wait_for *w = arg;
    if (cio_future_done(w->f))
        return; /* finished in this same iteration: its result wins */
    w->timed_out = true;
    cio_cancel(w->f);
}

static void wait_for_on_cancel(cio__task *t, void *ctx) {
    (void)t;
    wait_for *w = ctx;
    w->cancelled = true;
    cio_cancel(w->f); /* we stay parked until f has really ended */
}

/* Parks until f is done; the node wakes the task when it is. */
static void wait_for_park(cio__task *t, wait_for *w) {
    cio_future *f = w->f;
    t->await_node = (cio__cbnode){.task = t};
    cio__future_add_node(f, &t->await_node);
    t->awaiting = f;
    while (!cio_future_done(f)) {
        int r = cio__task_park(wait_for_on_cancel, w);
        if (r == -ECANCELED && !w->cancelled) /* a cancellation that was pending */
            wait_for_on_cancel(t, w);
    }
    t->awaiting = NULL;
}

static int wait_for_outcome(wait_for *w, void **result) {
    cio_future *f = w->f;
    if (f->state == CIO__F_RESULT || f->state == CIO__F_ERROR)
        return cio_future_result(f, result);
    if (w->timed_out && !w->cancelled)
        return -ETIMEDOUT;
    return -ECANCELED;
}

int cio_wait_for(cio_future *f, double timeout, void **result) {
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    if (!f || cio__time_nan(timeout))
        return -EINVAL;
    cio__task *t = cio__task_current();
    if (f == &t->fut)
        return -EDEADLK;
    if (f->loop != t->fut.loop)
        return CIO_ELOOP; /* it could never wake us */
    if (cio_future_done(f))
        return cio_future_result(f, result);
    wait_for w = {.f = f};
    cio_handle h = {0};
    if (!cio__time_unlimited(timeout)) {
        cio_loop *loop = t->fut.loop;
        h = cio_loop_call_at(loop, cio_loop_time(loop) + timeout, wait_for_fire, &w);
        if (!h.p)
            return -ENOMEM;
    }
    cio_future_ref(f);
    wait_for_park(t, &w);
    cio_handle_cancel(h);
    r = wait_for_outcome(&w, result);
    cio_future_unref(f);
    return r;
}
