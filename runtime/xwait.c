/* Cross-thread wait queues. A task's waiter lives on the heap with two
 * references (the task and a wake-up in flight to its loop), because the
 * waker on another thread may still post to it after the task has gone on:
 * a cancelled task must not leave a dangling pointer in a loop's inbox. A
 * thread's waiter lives on its stack and sleeps on its own condvar. */
#include "xwait.h"

#include "loop.h"
#include "profile.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

typedef struct cio__xwaiter {
    cio__list_node link;
    cio__xwaitq *q; /* NULL once unlinked; under mu */
    pthread_mutex_t *mu;
    bool woken; /* under q->mu */
    /* a task waiter */
    cio__task *task;
    cio_loop *loop;
    bool parked;    /* loop thread only: the task sleeps in this wait */
    bool cancelled; /* loop thread only: cancelled after its wake-up was sent */
    _Atomic int refs;
    cio__mpsc_node node;
    /* a thread waiter */
    pthread_cond_t cond;
} cio__xwaiter;

void cio__xwaitq_init(cio__xwaitq *q, pthread_mutex_t *mu) {
    *q = (cio__xwaitq){.mu = mu};
}

static void push(cio__xwaitq *q, cio__xwaiter *w) {
    w->q = q;
    cio__list_push_back(&q->waiters, &w->link);
}

static void unlink_waiter(cio__xwaiter *w) {
    cio__list_remove(&w->q->waiters, &w->link);
    w->q = NULL;
}

static void xw_unref(cio__xwaiter *w) {
    if (atomic_fetch_sub(&w->refs, 1) != 1)
        return;
    cio__loop_unref(w->loop);
    free(w);
}

/* On the waiter's loop: the wake-up posted by another thread arrives. */
static void wake_node(cio__mpsc_node *n) {
    cio__xwaiter *w = (cio__xwaiter *)((char *)n - offsetof(cio__xwaiter, node));
    if (w->parked) {
        w->parked = false;
        cio__task_wake(w->task, 0);
    }
    xw_unref(w);
}

static void task_cancel(cio__task *t, void *ctx) {
    cio__xwaiter *w = ctx;
    pthread_mutex_lock(w->mu);
    bool linked = w->q != NULL;
    if (linked)
        unlink_waiter(w);
    pthread_mutex_unlock(w->mu);
    if (!linked) { /* woken meanwhile: the wake-up in flight resumes it */
        w->cancelled = true;
        return;
    }
    w->parked = false;
    cio__task_wake(t, -ECANCELED);
}

static int wait_task(cio__xwaitq *q, cio__task *t) {
    cio__xwaiter *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->task = t;
    w->loop = t->fut.loop;
    cio__loop_ref(w->loop);
    atomic_init(&w->refs, 1);
    w->node.fn = wake_node;
    w->mu = q->mu;
    push(q, w);
    pthread_mutex_t *mu = q->mu;
    pthread_mutex_unlock(mu);
    w->parked = true;
    t->wait_kind = CIO__WAIT_SYNC;
    int r = cio__task_park(task_cancel, w);
    w->parked = false;
    pthread_mutex_lock(mu);
    if (w->q) { /* a pending cancellation: never parked, never woken */
        unlink_waiter(w);
        r = -ECANCELED;
    } else if (w->woken && (r < 0 || w->cancelled)) {
        r = -ECANCELED;
        cio__xwake_one(q); /* the wake-up it does not use */
    }
    xw_unref(w);
    return r;
}

static int wait_thread(cio__xwaitq *q) {
    cio__xwaiter w = {0};
    pthread_cond_init(&w.cond, NULL);
    push(q, &w);
    while (!w.woken)
        pthread_cond_wait(&w.cond, q->mu);
    pthread_cond_destroy(&w.cond);
    return 0;
}

int cio__xwait(cio__xwaitq *q) {
    cio__task *t = cio__task_current();
    return t ? wait_task(q, t) : wait_thread(q);
}

static void wake(cio__xwaiter *w) {
    w->woken = true;
    if (!w->task) {
        pthread_cond_signal(&w->cond);
        return;
    }
    if (cio__loop_running() == w->loop) {
        /* Same thread: the task cannot be between its unlock and its park. */
        if (w->parked) {
            w->parked = false;
            cio__task_wake(w->task, 0);
        }
        return;
    }
    atomic_fetch_add(&w->refs, 1);
    if (cio__loop_post(w->loop, &w->node) < 0)
        atomic_fetch_sub(&w->refs, 1); /* the loop is closed: nobody to wake */
}

bool cio__xwake_one(cio__xwaitq *q) {
    if (!q->waiters.head)
        return false;
    cio__xwaiter *w = cio__list_entry(q->waiters.head, cio__xwaiter, link);
    unlink_waiter(w);
    wake(w);
    return true;
}

size_t cio__xwake_all(cio__xwaitq *q) {
    size_t n = 0;
    while (cio__xwake_one(q))
        n++;
    return n;
}
