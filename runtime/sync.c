/* Lock, Semaphore, BoundedSemaphore, Event. A release hands the lock or
 * permit straight to the oldest waiter instead of putting it back for
 * whoever runs first, which is what keeps them FIFO-fair: a task that
 * releases and re-acquires at once queues behind the waiters. */
#include "waitq.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>

/* ---- semaphores ---- */

struct cio_semaphore {
    cio__waitq q;
    size_t value;
    size_t bound; /* bounded: the initial value; else 0 */
};

static cio_semaphore *sem_new(unsigned value, bool bounded) {
    cio_semaphore *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->value = value;
    s->bound = bounded ? value : 0;
    return s;
}

static int sem_acquire(cio_semaphore *s) {
    if (!s)
        return -EINVAL;
    if (s->value > 0) { /* permits exist only while nobody waits */
        s->value--;
        return 0;
    }
    int r = cio__waitq_require("cio_semaphore_acquire");
    if (r < 0)
        return r;
    cio__waiter w = {0};
    return cio__waitq_wait(&s->q, &w);
}

static int sem_release(cio_semaphore *s) {
    if (!s)
        return -EINVAL;
    cio__waiter *w = cio__waitq_pop(&s->q);
    if (w) {
        cio__waitq_wake(w, 0);
        return 0;
    }
    if (s->bound && s->value >= s->bound)
        return -EOVERFLOW;
    s->value++;
    return 0;
}

static void sem_free(cio_semaphore *s) {
    if (!s)
        return;
    cio__waitq_wake_all(&s->q, CIO_ESHUTDOWN);
    free(s);
}

static bool sem_locked(const cio_semaphore *s) {
    return s && s->value == 0;
}

cio_semaphore *cio_semaphore_new(unsigned value) {
    return sem_new(value, false);
}

int cio_semaphore_acquire(cio_semaphore *s) {
    return sem_acquire(s);
}

void cio_semaphore_release(cio_semaphore *s) {
    sem_release(s);
}

void cio_semaphore_free(cio_semaphore *s) {
    sem_free(s);
}

bool cio_semaphore_locked(const cio_semaphore *s) {
    return sem_locked(s);
}

size_t cio_semaphore_value(const cio_semaphore *s) {
    return s ? s->value : 0;
}

/* A bounded semaphore is the same object with a bound. */
cio_bounded_semaphore *cio_bounded_semaphore_new(unsigned value) {
    return (cio_bounded_semaphore *)sem_new(value, true);
}

int cio_bounded_semaphore_acquire(cio_bounded_semaphore *s) {
    return sem_acquire((cio_semaphore *)s);
}

int cio_bounded_semaphore_release(cio_bounded_semaphore *s) {
    return sem_release((cio_semaphore *)s);
}

bool cio_bounded_semaphore_locked(const cio_bounded_semaphore *s) {
    return sem_locked((const cio_semaphore *)s);
}

size_t cio_bounded_semaphore_value(const cio_bounded_semaphore *s) {
    return cio_semaphore_value((const cio_semaphore *)s);
}

void cio_bounded_semaphore_free(cio_bounded_semaphore *s) {
    sem_free((cio_semaphore *)s);
}

/* ---- lock ---- */

struct cio_lock {
    cio__waitq q;
    bool locked;
};

cio_lock *cio_lock_new(void) {
    return calloc(1, sizeof(cio_lock));
}

int cio_lock_acquire(cio_lock *l) {
    if (!l)
        return -EINVAL;
    if (!l->locked) {
        l->locked = true;
        return 0;
    }
    int r = cio__waitq_require(__func__);
    if (r < 0)
        return r;
    cio__waiter w = {0};
    return cio__waitq_wait(&l->q, &w); /* 0: the releaser handed it over */
}

int cio_lock_release(cio_lock *l) {
    if (!l)
        return -EINVAL;
    if (!l->locked)
        return -EPERM;
    cio__waiter *w = cio__waitq_pop(&l->q);
    if (w)
        cio__waitq_wake(w, 0); /* stays locked: now it is w's */
    else
        l->locked = false;
    return 0;
}

bool cio_lock_locked(const cio_lock *l) {
    return l && l->locked;
}

void cio_lock_free(cio_lock *l) {
    if (!l)
        return;
    cio__waitq_wake_all(&l->q, CIO_ESHUTDOWN);
    free(l);
}

/* ---- event ---- */

struct cio_event {
    cio__waitq q;
    bool set;
};

cio_event *cio_event_new(void) {
    return calloc(1, sizeof(cio_event));
}

void cio_event_set(cio_event *e) {
    if (!e || e->set)
        return;
    e->set = true;
    cio__waitq_wake_all(&e->q, 0);
}

void cio_event_clear(cio_event *e) {
    if (e)
        e->set = false;
}

bool cio_event_is_set(const cio_event *e) {
    return e && e->set;
}

int cio_event_wait(cio_event *e) {
    if (!e)
        return -EINVAL;
    if (e->set)
        return 0;
    int r = cio__waitq_require(__func__);
    if (r < 0)
        return r;
    cio__waiter w = {0};
    return cio__waitq_wait(&e->q, &w);
}

void cio_event_free(cio_event *e) {
    if (!e)
        return;
    cio__waitq_wake_all(&e->q, CIO_ESHUTDOWN);
    free(e);
}
