/* Other threads talking to a loop: run_coroutine_threadsafe (a future made
 * on the caller's thread, its task created on the loop's), future_wait (a
 * futex on the future's sync word, touched by the loop only through the one
 * atomic exchange that every completion does), cancel_threadsafe. */
#include "future.h"
#include "timearg.h"
#include "loop.h"
#include "owner.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- run_coroutine_threadsafe ---- */

typedef struct submit {
    cio__mpsc_node node;
    cio_future *outer; /* one reference, held until the task is done */
    cio_fn fn;
    void *arg;
} submit;

/* The task's outcome becomes the outer future's (on the loop, or while the
 * loop closes: then the task ended cancelled). */
static void copy_outcome(cio_future *task, void *arg) {
    cio_future *outer = arg;
    void *result = NULL;
    int err = cio_future_result(task, &result);
    if (outer->state == CIO__F_PENDING)
        cio__future_finish(outer, err, result);
    cio_future_unref(outer);
}

/* Cancelling the outer future cancels the task; the outcome follows. */
static bool cancel_inner(cio_future *outer, void *task) {
    (void)outer;
    return cio_cancel(task);
}

static void start_task(cio__mpsc_node *n) {
    submit *s = (submit *)n;
    cio_future *outer = s->outer;
    cio_future *t = cio_loop_create_task(outer->loop, s->fn, s->arg);
    free(s);
    if (!t) {
        cio__future_finish(outer, -errno, NULL);
        cio_future_unref(outer);
        return;
    }
    if (cio__future_add_done_always(t, copy_outcome, outer) < 0) {
        cio_cancel(t);
        cio__future_finish(outer, -ENOMEM, NULL);
        cio_future_unref(outer);
    } else {
        cio__future_set_cancel(outer, cancel_inner, t);
    }
    cio_future_unref(t); /* the loop keeps the task while it runs */
}

cio_future *cio_run_coroutine_threadsafe(cio_loop *loop, cio_fn fn, void *arg) {
    if (!loop || !fn) {
        errno = EINVAL;
        return NULL;
    }
    if (atomic_load(&loop->closed)) {
        errno = ESHUTDOWN;
        return NULL;
    }
    cio_future *outer = malloc(sizeof *outer);
    submit *s = malloc(sizeof *s);
    if (!outer || !s) {
        free(outer);
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    cio__future_init(outer, loop, false);
    atomic_store_explicit(&outer->refs, 2, memory_order_relaxed); /* the caller's and s's */
    *s = (submit){.node.fn = start_task, .outer = outer, .fn = fn, .arg = arg};
    int r = cio__loop_post(loop, &s->node);
    if (r < 0) {
        free(s);
        cio__loop_unref(loop);
        free(outer);
        errno = -r;
        return NULL;
    }
    return outer;
}

/* ---- future_wait ---- */

static int futex_wait(_Atomic uint32_t *word, uint32_t expected, const struct timespec *rel) {
    if (syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, rel, NULL, 0) < 0)
        return -errno;
    return 0;
}

#define MAX_SLEEP 86400.0

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps until f's sync word says done, or the deadline (< 0: none). */
static int wait_done(cio_future *f, double deadline) {
    uint32_t v = atomic_load(&f->sync);
    while (!(v & CIO__SYNC_DONE)) {
        if (!(v & CIO__SYNC_WAITER) &&
            !atomic_compare_exchange_weak(&f->sync, &v, v | CIO__SYNC_WAITER))
            continue; /* v was reloaded */
        struct timespec rel, *relp = NULL;
        if (deadline >= 0) {
            double left = deadline - mono_now();
            if (left <= 0)
                return -ETIMEDOUT;
            if (left > MAX_SLEEP)
                left = MAX_SLEEP; /* the loop sleeps again: time_t stays in range */
            rel.tv_sec = (time_t)left;
            rel.tv_nsec = (long)((left - (double)rel.tv_sec) * 1e9);
            relp = &rel;
        }
        int r = futex_wait(&f->sync, v | CIO__SYNC_WAITER, relp);
        if (r < 0 && r != -EAGAIN && r != -EINTR && r != -ETIMEDOUT)
            return r;
        v = atomic_load(&f->sync);
    }
    return 0;
}

int cio_future_wait(cio_future *f, double timeout, void **result) {
    if (!f || cio__time_nan(timeout))
        return -EINVAL;
    if (cio__loop_running())
        return -EDEADLK; /* blocking would stall the loop this thread runs */
    double deadline = cio__time_unlimited(timeout) ? -1 : mono_now() + timeout;
    int r = wait_done(f, deadline);
    if (r < 0)
        return r;
    /* The exchange in cio__future_finish published state, result and err. */
    if (f->state == CIO__F_RESULT) {
        if (result)
            *result = f->result;
        return 0;
    }
    f->retrieved = true;
    return f->err;
}

/* ---- cancel_threadsafe ---- */

typedef struct cancel_req {
    cio__mpsc_node node;
    cio_future *f;
} cancel_req;

static void run_cancel(cio__mpsc_node *n) {
    cancel_req *c = (cancel_req *)n;
    cio_cancel(c->f);
    cio_future_unref(c->f);
    free(c);
}

bool cio_cancel_threadsafe(cio_future *f) {
    if (!f || atomic_load(&f->sync) & CIO__SYNC_DONE)
        return false;
    if (cio__loop_running() == f->loop)
        return cio_cancel(f);
    cancel_req *c = malloc(sizeof *c);
    if (!c)
        return false;
    cio_future_ref(f);
    *c = (cancel_req){.node.fn = run_cancel, .f = f};
    cio_loop *loop = f->loop;
    cio__loop_ref(loop); /* run_cancel may drop the last reference before the post returns */
    bool posted = cio__loop_post(loop, &c->node) == 0;
    if (!posted) {
        cio_future_unref(f);
        free(c);
    }
    cio__loop_unref(loop);
    return posted;
}

/* ---- objects of one loop used from another ---- */

void cio__loop_check_owner(const cio_loop *owner, const char *fn) {
    cio_loop *here = cio__loop_running();
    if (!owner || !here || here == owner || !(owner->debug || here->debug))
        return;
    cio_log(CIO_LOG_ERROR,
            "%s: the object belongs to loop %p but loop %p called it (a loop's streams and "
            "tasks stay with it: send the work there with cio_run_coroutine_threadsafe)",
            fn, (const void *)owner, (void *)here);
    abort();
}
