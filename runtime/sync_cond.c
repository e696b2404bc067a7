/* Condition and Barrier: the primitives that wait for other tasks'
 * progress rather than for a resource. */
#include "waitq.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>

/* ---- condition ---- */

struct cio_condition {
    cio__waitq q;
    cio_lock *lock;
    bool own_lock;
};

cio_condition *cio_condition_new(cio_lock *lock) {
    cio_condition *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->lock = lock;
    if (!lock) {
        c->lock = cio_lock_new();
        c->own_lock = true;
        if (!c->lock) {
            free(c);
            return NULL;
        }
    }
    return c;
}

int cio_condition_acquire(cio_condition *c) {
    return c ? cio_lock_acquire(c->lock) : -EINVAL;
}

int cio_condition_release(cio_condition *c) {
    return c ? cio_lock_release(c->lock) : -EINVAL;
}

bool cio_condition_locked(const cio_condition *c) {
    return c && cio_lock_locked(c->lock);
}

/* The lock must be held again whatever happened while waiting; a
 * cancellation meanwhile is remembered, not obeyed. */
static int reacquire(cio_lock *lock, bool *cancelled) {
    for (;;) {
        int r = cio_lock_acquire(lock);
        if (r != -ECANCELED)
            return r;
        *cancelled = true;
    }
}

int cio_condition_wait(cio_condition *c) {
    if (!c)
        return -EINVAL;
    if (!cio_lock_locked(c->lock))
        return -EPERM;
    int r = cio__waitq_require(__func__);
    if (r < 0)
        return r;
    cio_lock *lock = c->lock;
    cio_lock_release(lock);
    cio__waiter w = {0};
    r = cio__waitq_wait(&c->q, &w);
    if (r == CIO_ESHUTDOWN)
        return r; /* the condition is gone (and maybe its lock) */
    bool notified = r == 0, cancelled = r == -ECANCELED;
    int a = reacquire(lock, &cancelled);
    if (a < 0)
        return a;
    if (!cancelled)
        return 0;
    if (notified) /* a wake-up taken by a cancelled waiter is passed on */
        cio_condition_notify(c, 1);
    return -ECANCELED;
}

int cio_condition_wait_for(cio_condition *c, bool (*pred)(void *arg), void *arg) {
    if (!c || !pred)
        return -EINVAL;
    while (!pred(arg)) {
        int r = cio_condition_wait(c);
        if (r < 0)
            return r;
    }
    return 0;
}

ssize_t cio_condition_notify(cio_condition *c, size_t n) {
    if (!c)
        return -EINVAL;
    if (!cio_lock_locked(c->lock))
        return -EPERM;
    size_t woken = 0;
    cio__waiter *w;
    while (woken < n && (w = cio__waitq_pop(&c->q))) {
        cio__waitq_wake(w, 0);
        woken++;
    }
    return (ssize_t)woken;
}

ssize_t cio_condition_notify_all(cio_condition *c) {
    return cio_condition_notify(c, (size_t)-1);
}

void cio_condition_free(cio_condition *c) {
    if (!c)
        return;
    cio__waitq_wake_all(&c->q, CIO_ESHUTDOWN);
    if (c->own_lock)
        cio_lock_free(c->lock);
    free(c);
}

/* ---- barrier ---- */

struct cio_barrier {
    cio__waitq q; /* first: the queue's cancel hook finds the barrier */
    unsigned parties;
    unsigned count; /* arrivals in the current round */
    bool broken;
};

/* A waiter left the round: the others can never be released by it. */
static void barrier_break(cio__waitq *q) {
    cio_barrier *b = (cio_barrier *)q;
    b->broken = true;
    b->count = 0;
    cio__waitq_wake_all(&b->q, CIO_EBROKEN);
}

cio_barrier *cio_barrier_new(unsigned parties) {
    if (parties == 0) {
        errno = EINVAL;
        return NULL;
    }
    cio_barrier *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->parties = parties;
    b->q.on_cancel = barrier_break;
    return b;
}

int cio_barrier_wait(cio_barrier *b) {
    if (!b)
        return -EINVAL;
    if (b->broken)
        return CIO_EBROKEN;
    long index = b->count;
    if (index + 1 == (long)b->parties) {
        b->count = 0; /* the next round starts now */
        cio__waitq_wake_all(&b->q, 0);
        return (int)index;
    }
    int r = cio__waitq_require(__func__);
    if (r < 0)
        return r;
    b->count++;
    cio__waiter w = {.val = index};
    r = cio__waitq_wait(&b->q, &w);
    return r < 0 ? r : (int)w.val;
}

void cio_barrier_abort(cio_barrier *b) {
    if (b)
        barrier_break(&b->q);
}

void cio_barrier_reset(cio_barrier *b) {
    if (!b)
        return;
    b->count = 0;
    cio__waitq_wake_all(&b->q, CIO_EBROKEN);
    b->broken = false;
}

unsigned cio_barrier_parties(const cio_barrier *b) {
    return b ? b->parties : 0;
}

unsigned cio_barrier_n_waiting(const cio_barrier *b) {
    return b ? (unsigned)cio__waitq_len(&b->q) : 0;
}

bool cio_barrier_broken(const cio_barrier *b) {
    return b && b->broken;
}

void cio_barrier_free(cio_barrier *b) {
    if (!b)
        return;
    cio__waitq_wake_all(&b->q, CIO_ESHUTDOWN);
    free(b);
}
