/* Wait queues: FIFO lists of parked tasks for the sync primitives. */
#include "waitq.h"

#include "profile.h"

#include <errno.h>

static void push(cio__waitq *q, cio__waiter *w) {
    w->q = q;
    cio__list_push_back(&q->waiters, &w->link);
}

static void unlink_waiter(cio__waiter *w) {
    cio__list_remove(&w->q->waiters, &w->link);
    w->q = NULL;
}

/* The parked waiter was cancelled: it gives up its place. */
static void waiter_cancel(cio__task *t, void *ctx) {
    cio__waiter *w = ctx;
    cio__waitq *q = w->q;
    if (q)
        unlink_waiter(w);
    cio__task_wake(t, -ECANCELED);
    if (q && q->on_cancel)
        q->on_cancel(q);
}

int cio__waitq_require(const char *fn) {
    return cio__task_require(fn);
}

int cio__waitq_wait(cio__waitq *q, cio__waiter *w) {
    w->task = cio__task_current();
    push(q, w);
    w->task->wait_kind = CIO__WAIT_SYNC;
    int r = cio__task_park(waiter_cancel, w);
    if (w->q) {
        /* A pending cancellation made park return without parking. */
        cio__waitq *wq = w->q;
        unlink_waiter(w);
        if (wq->on_cancel)
            wq->on_cancel(wq);
    }
    return r;
}

cio__waiter *cio__waitq_pop(cio__waitq *q) {
    cio__list_node *x = q->waiters.head;
    if (!x)
        return NULL;
    cio__waiter *w = cio__list_entry(x, cio__waiter, link);
    unlink_waiter(w);
    return w;
}

void cio__waitq_wake(cio__waiter *w, int val) {
    cio__task_wake(w->task, val);
}

size_t cio__waitq_wake_all(cio__waitq *q, int val) {
    size_t n = 0;
    cio__waiter *w;
    while ((w = cio__waitq_pop(q))) {
        cio__waitq_wake(w, val);
        n++;
    }
    return n;
}
