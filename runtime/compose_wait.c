/* as_completed and wait: both watch a set of futures and hand them out in
 * the order they finish. The iterator outlives its user when done callbacks
 * are still scheduled: it is freed by whichever of the two ends last. */
#include "future.h"
#include "timearg.h"
#include "loop.h"
#include "task.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cio_as_completed {
    cio_loop *loop;
    cio__task *waiter; /* parked in next() */
    double deadline;   /* < 0: none */
    size_t n;
    size_t outstanding; /* registered done callbacks that have not run */
    size_t nready, ready_head, returned;
    bool freed;
    cio_future **ready; /* FIFO of finished futures, n slots */
    cio_future *fs[];
};

static void push_ready(cio_as_completed *it, cio_future *f) {
    it->ready[(it->ready_head + it->nready++) % it->n] = f;
}

static void on_done(cio_future *f, void *arg) {
    cio_as_completed *it = arg;
    it->outstanding--;
    if (it->freed) {
        if (it->outstanding == 0)
            free(it);
        return;
    }
    push_ready(it, f);
    if (it->waiter)
        cio__task_wake(it->waiter, 0);
}

void cio_as_completed_free(cio_as_completed *it) {
    if (!it)
        return;
    for (size_t i = 0; i < it->n; i++) {
        it->outstanding -= (size_t)cio_future_remove_done_callback(it->fs[i], on_done, it);
        cio_future_unref(it->fs[i]);
    }
    it->freed = true;
    if (it->outstanding == 0)
        free(it);
}

static int watch(cio_as_completed *it) {
    for (size_t i = 0; i < it->n; i++) {
        cio_future *f = it->fs[i];
        cio_future_ref(f);
        if (cio_future_done(f)) { /* at once, in list order */
            push_ready(it, f);
            continue;
        }
        int r = cio_future_add_done_callback(f, on_done, it);
        if (r < 0) {
            for (size_t j = i + 1; j < it->n; j++)
                cio_future_ref(it->fs[j]); /* free drops one for each */
            return r;
        }
        it->outstanding++;
    }
    return 0;
}

cio_as_completed *cio_as_completed_new(cio_future **fs, size_t n, double timeout) {
    cio_loop *loop = cio__loop_running();
    if (!loop || !fs || cio__time_nan(timeout)) {
        errno = loop ? EINVAL : EPERM;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!fs[i] || fs[i]->loop != loop) { /* another loop's could never wake us */
            errno = fs[i] ? -CIO_ELOOP : EINVAL;
            return NULL;
        }
    cio_as_completed *it = malloc(sizeof *it + 2 * n * sizeof *fs);
    if (!it)
        return NULL;
    *it = (cio_as_completed){.loop = loop, .n = n, .ready = it->fs + n};
    it->deadline = cio__time_unlimited(timeout) ? -1 : cio_loop_time(loop) + timeout;
    memcpy(it->fs, fs, n * sizeof *fs);
    int r = watch(it);
    if (r < 0) {
        cio_as_completed_free(it);
        errno = -r;
        return NULL;
    }
    return it;
}

static void deadline_fire(void *arg) {
    cio__task_wake(arg, -ETIMEDOUT);
}

/* Parks until something finishes or the deadline passes. */
static int wait_ready(cio_as_completed *it, cio__task *t) {
    cio_handle h = {0};
    if (it->deadline >= 0) {
        if (cio_loop_time(it->loop) >= it->deadline)
            return -ETIMEDOUT;
        h = cio_loop_call_at(it->loop, it->deadline, deadline_fire, t);
        if (!h.p)
            return -ENOMEM;
    }
    it->waiter = t;
    int r = cio__task_park(NULL, NULL);
    it->waiter = NULL;
    cio_handle_cancel(h);
    return r;
}

int cio_as_completed_next(cio_as_completed *it, cio_future **f) {
    if (!it || it->freed)
        return -EINVAL;
    if (it->returned == it->n)
        return 0;
    while (it->nready == 0) {
        int r = cio__task_require(__func__);
        if (r < 0)
            return r;
        r = wait_ready(it, cio__task_current());
        if (r < 0)
            return r;
    }
    cio_future *next = it->ready[it->ready_head];
    it->ready_head = (it->ready_head + 1) % it->n;
    it->nready--;
    it->returned++;
    if (f)
        *f = next;
    return 1;
}

/* ---- wait ---- */

static bool is_error(const cio_future *f) {
    return f->state == CIO__F_ERROR;
}

/* Whether return_when is met by what is done now. */
static bool satisfied(cio_future **fs, size_t n, int return_when, size_t *ndone) {
    bool failed = false;
    *ndone = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cio_future_done(fs[i]))
            continue;
        (*ndone)++;
        failed |= is_error(fs[i]);
    }
    if (*ndone == n)
        return true;
    if (return_when == CIO_FIRST_COMPLETED)
        return *ndone > 0;
    return return_when == CIO_FIRST_EXCEPTION && failed;
}

static size_t count_done(cio_future **fs, size_t n) {
    size_t done = 0;
    for (size_t i = 0; i < n; i++)
        done += cio_future_done(fs[i]);
    return done;
}

ssize_t cio_wait(cio_future **fs, size_t n, double timeout, int return_when) {
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    if (!fs || n == 0 || cio__time_nan(timeout) || return_when < CIO_FIRST_COMPLETED ||
        return_when > CIO_ALL_COMPLETED)
        return -EINVAL;
    size_t ndone;
    cio_loop *loop = cio__loop_running();
    for (size_t i = 0; i < n; i++) {
        if (!fs[i])
            return -EINVAL;
        if (fs[i]->loop != loop)
            return CIO_ELOOP; /* another loop's could never wake us */
    }
    if (satisfied(fs, n, return_when, &ndone) || timeout == 0)
        return (ssize_t)ndone;
    cio_as_completed *it = cio_as_completed_new(fs, n, timeout);
    if (!it)
        return -errno;
    cio_future *f;
    while ((r = cio_as_completed_next(it, &f)) == 1) {
        if (return_when == CIO_FIRST_COMPLETED ||
            (return_when == CIO_FIRST_EXCEPTION && is_error(f)))
            break;
    }
    cio_as_completed_free(it);
    if (r == -ECANCELED || r == -ENOMEM || r == -EPERM)
        return r;
    return (ssize_t)count_done(fs, n);
}
