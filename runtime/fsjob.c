/* Blocking file-system calls on the default executor (fsjob.h). The job
 * record is shared by the caller and the pool thread and goes with the last
 * of them: a job abandoned before it started is still run by the pool (as a
 * no-op), since the pool may already hold it. */
#include "fsjob.h"

#include "cio.h"
#include "loop.h"
#include "task.h"

#include <errno.h>
#include <stdlib.h>

enum { QUEUED, RUNNING, ABANDONED };

struct cio__fsjob {
    cio__fsjob_fn fn;
    void *arg;
    long res;
    _Atomic int state;
    _Atomic int refs;
    _Atomic bool stop;
    bool finished; /* loop thread */
    cio_event *done;
    cio_loop *loop;
    cio__mpsc_node node;
};

static void job_unref(cio__fsjob *j) {
    if (atomic_fetch_sub(&j->refs, 1) == 1)
        free(j);
}

/* On the loop thread, after the pool thread posted the end of the job. */
static void job_finished(cio__mpsc_node *n) {
    cio__fsjob *j = (cio__fsjob *)((char *)n - offsetof(cio__fsjob, node));
    j->finished = true;
    cio_event_set(j->done);
    job_unref(j);
}

static void *trampoline(void *arg) {
    cio__fsjob *j = arg;
    int expect = QUEUED;
    if (!atomic_compare_exchange_strong(&j->state, &expect, RUNNING)) {
        job_unref(j); /* the caller left before it started */
        return NULL;
    }
    j->res = j->fn(j, j->arg);
    /* The caller waits for this post; a closed loop has no caller left. */
    if (cio__loop_post(j->loop, &j->node) < 0)
        job_unref(j);
    return NULL;
}

bool cio__fsjob_stopped(cio__fsjob *j) {
    return atomic_load_explicit(&j->stop, memory_order_relaxed);
}

/* Waits for the job; a cancellation stops it (or skips it if not started). */
static long wait_job(cio__fsjob *j) {
    bool cancelled = false;
    while (!j->finished) {
        if (cio_event_wait(j->done) != -ECANCELED)
            continue;
        cancelled = true;
        int expect = QUEUED;
        if (atomic_compare_exchange_strong(&j->state, &expect, ABANDONED))
            return -ECANCELED;
        atomic_store(&j->stop, true);
    }
    if (cancelled && j->res != -ECANCELED)
        cio__task_current()->must_cancel = true; /* seen at the next suspension point */
    return j->res;
}

long cio__fsjob_run(const char *name, cio__fsjob_fn fn, void *arg) {
    int r = cio__task_require(name);
    if (r < 0)
        return r;
    cio__fsjob *j = calloc(1, sizeof *j);
    cio_event *ev = j ? cio_event_new() : NULL;
    if (!ev) {
        free(j);
        return -ENOMEM;
    }
    *j = (cio__fsjob){.fn = fn, .arg = arg, .done = ev, .loop = cio_get_running_loop()};
    atomic_init(&j->refs, 2);
    j->node.fn = job_finished;
    cio_future *f = cio_run_in_executor(NULL, trampoline, j);
    if (!f) {
        r = -errno;
        cio_event_free(ev);
        free(j);
        return r;
    }
    cio_future_unref(f); /* the job's end is reported through j->node */
    long res = wait_job(j);
    cio_event_free(ev);
    job_unref(j);
    return res;
}
