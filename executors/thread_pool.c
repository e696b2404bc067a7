/* The thread pool (concurrent.futures.ThreadPoolExecutor), its loop side:
 * the job engine's hooks for threads, cio_run's bounded wait and the pool's
 * creation. The engine (jobs.c) batches submissions, cancels, completes
 * futures and handles closed loops; thread_pool_worker.c runs the jobs.
 *
 * Lifetime: the pool is freed when its owner has called destroy, every
 * worker has exited and no job is left (the engine's reference count). */
#include "bytes.h"
#include "context.h"
#include "executor.h"
#include "symbol.h"
#include "thread_pool.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_EXIT_SECONDS 60.0
#define IDLE_MAX_SECONDS 1e9 /* about 31 years: "never" */
#define RUNNING_NAMES_MAX 4  /* jobs named in the shutdown warning */

/* ---- the engine's hooks ---- */

static int tp_queued(cio__jobs *e, unsigned n, unsigned *kick) {
    return cio__tp_wake_workers((cio__thread_pool *)e, n, kick);
}

static void tp_kick(cio__jobs *e, unsigned kick) {
    cio__tp_signal((cio__thread_pool *)e, kick);
}

/* About to start (then it never does) or running (its result is dropped). */
static void tp_stop(cio__job *j) {
    atomic_store(&((cio__tp_job *)j)->state, CIO__TP_CANCELLED);
}

static void tp_release(cio__job *j, bool home) {
    (void)j, (void)home; /* nothing of the pool's own */
}

static void tp_each_held(cio__jobs *e, void (*visit)(cio__job *j, void *ctx), void *ctx) {
    for (cio__job *j = ((cio__thread_pool *)e)->running.head; j; j = j->next)
        visit(j, ctx);
}

static void tp_stopping(cio__jobs *e) {
    pthread_cond_broadcast(&((cio__thread_pool *)e)->work);
}

static void tp_wait(cio__jobs *e) {
    cio__tp_wait_workers((cio__thread_pool *)e);
}

static void tp_free(cio__jobs *e) {
    cio__thread_pool *p = (cio__thread_pool *)e;
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->gone);
}

static const cio__jobs_ops tp_jobs_ops = {
    .name = "thread pool",
    .job_size = sizeof(cio__tp_job),
    .queued = tp_queued,
    .kick = tp_kick,
    .stop = tp_stop,
    .release = tp_release,
    .each_held = tp_each_held,
    .stopping = tp_stopping,
    .wait = tp_wait,
    .free = tp_free,
};

/* ---- the executor ---- */

/* fn and arg, or bfn on bytes (the job owns them from now on). */
static cio_future *submit(cio_executor *ex, cio_fn fn, void *arg, cio_bytes_fn bfn,
                          cio__bytes *bytes) {
    cio__thread_pool *p = (cio__thread_pool *)ex;
    cio__tp_job *j = (cio__tp_job *)cio__jobs_alloc(&p->jobs);
    if (!j) {
        if (bytes)
            bytes->release(bytes);
        return NULL;
    }
    /* the user's function, not a context carrier's (names, the observer) */
    j->job.fn = bfn ? (const void *)bfn : (const void *)cio__context_job_fn(fn, arg);
    j->job.bytes = bytes;
    j->fn = fn;
    j->arg = arg;
    j->bfn = bfn;
    atomic_init(&j->state, CIO__TP_QUEUED);
    return cio__jobs_submit(&p->jobs, &j->job);
}

static cio_future *tp_submit(cio_executor *ex, cio_fn fn, void *arg) {
    return submit(ex, fn, arg, NULL, NULL);
}

/* The input is copied once, into the buffer that also takes the result. */
static cio_future *tp_submit_bytes(cio_executor *ex, cio_bytes_fn fn, const void *in, size_t in_len,
                                   size_t out_cap) {
    if (((cio__thread_pool *)ex)->jobs.shutdown) {
        errno = ESHUTDOWN;
        return NULL;
    }
    cio__bytes *b = cio__bytes_new_heap(out_cap, in, in_len);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    return submit(ex, NULL, NULL, fn, b);
}

/* ---- cio_run's bounded wait ---- */

/* Under the lock: up to `cap` bytes naming the jobs in workers' hands. */
static void running_names(cio__thread_pool *p, char *out, size_t cap) {
    size_t used = 0;
    unsigned n = 0;
    out[0] = '\0';
    for (cio__job *j = p->running.head; j && n < RUNNING_NAMES_MAX; j = j->next, n++) {
        char name[128];
        cio__symbol_name(j->fn, name, sizeof name);
        int k = snprintf(out + used, cap - used, "%s%s", n ? ", " : "", name);
        if (k < 0 || (size_t)k >= cap - used)
            break;
        used += (size_t)k;
    }
}

bool cio__tp_is(const cio_executor *ex) {
    return ex && ex->ops->submit == tp_submit;
}

int cio__tp_shutdown_within(cio_executor *ex, double timeout) {
    cio__thread_pool *p = (cio__thread_pool *)ex;
    cio__jobs_shutdown(ex, false, false);
    if (timeout < 0) {
        cio__tp_wait_workers(p);
        return 0;
    }
    struct timespec until;
    cio__tp_deadline(timeout, &until);
    char names[600];
    pthread_mutex_lock(&p->jobs.mu);
    while (p->nworkers > 0 &&
           pthread_cond_clockwait(&p->gone, &p->jobs.mu, CLOCK_MONOTONIC, &until) != ETIMEDOUT)
        ;
    unsigned left = p->nworkers;
    if (left)
        running_names(p, names, sizeof names);
    pthread_mutex_unlock(&p->jobs.mu);
    if (!left)
        return 0;
    cio_log(CIO_LOG_WARNING,
            "cio_run: the default executor's jobs did not finish within %g s after main "
            "ended (cio_options.shutdown_timeout); not waiting for: %s",
            timeout, names[0] ? names : "(a job being delivered)");
    return -ETIMEDOUT;
}

static const cio_executor_ops thread_pool_ops = {
    .name = "thread_pool",
    .submit = tp_submit,
    .shutdown = cio__jobs_shutdown,
    .destroy = cio__jobs_destroy,
    .submit_bytes = tp_submit_bytes,
};

cio_executor *cio_thread_pool_new_with(const cio_thread_pool_options *opt) {
    cio_thread_pool_options o = opt ? *opt : (cio_thread_pool_options){0};
    if (isnan(o.idle_timeout)) {
        errno = EINVAL;
        return NULL;
    }
    cio__thread_pool *p = calloc(1, sizeof *p);
    pthread_condattr_t ca;
    if (!p || pthread_condattr_init(&ca) != 0) {
        free(p);
        errno = ENOMEM;
        return NULL;
    }
    cio__jobs_init(&p->jobs, &thread_pool_ops, &tp_jobs_ops);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* idle deadlines ignore clock jumps */
    p->max_workers = o.max_workers ? o.max_workers : cio__default_workers(true);
    p->idle_timeout = o.idle_timeout > 0 ? o.idle_timeout : IDLE_EXIT_SECONDS;
    if (o.idle_timeout < 0 || p->idle_timeout > IDLE_MAX_SECONDS) /* no limit; time_t-safe */
        p->idle_timeout = IDLE_MAX_SECONDS;
    strncpy(p->name_prefix, o.thread_name_prefix ? o.thread_name_prefix : "cio-thread",
            sizeof p->name_prefix - 1);
    p->initializer = o.initializer;
    p->initarg = o.initarg;
    pthread_cond_init(&p->work, &ca);
    pthread_cond_init(&p->gone, NULL);
    pthread_condattr_destroy(&ca);
    return &p->jobs.base;
}

cio_executor *cio_thread_pool_new(unsigned max_workers) {
    return cio_thread_pool_new_with(&(cio_thread_pool_options){.max_workers = max_workers});
}
