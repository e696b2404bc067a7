/* The thread pool (concurrent.futures.ThreadPoolExecutor), its loop side:
 * submission, cancellation, shutdown and the pool's end. Batching keeps
 * syscalls off the hot path: the home loop's submissions of one iteration
 * enter the queue under one lock with one wakeup per idle worker needed, and
 * a finished job posts its own node to its loop (no allocation; no syscall
 * while the loop is busy). Jobs of the home loop are recycled.
 *
 * Lifetime: the pool is freed when its owner has called destroy, every
 * worker has exited and no job is left (an atomic count of all three). */
#include "bytes.h"
#include "fault.h"
#include "future.h"
#include "loop.h"
#include "symbol.h"
#include "task.h"
#include "thread_pool.h"
#include "wait_thread.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IDLE_EXIT_SECONDS 60.0
#define IDLE_MAX_SECONDS 1e9 /* about 31 years: "never" */
#define FREE_JOBS_MAX 1024   /* recycled jobs kept by the home loop */

/* ---- a job's end ---- */

/* On the job's loop thread. drop_loop: the job never reached a worker (a
 * worker drops the loop reference itself, right after its post). */
static void job_release(cio__tp_job *j, bool drop_loop) {
    cio__thread_pool *p = j->pool;
    cio_loop *loop = j->loop;
    cio_future_unref(j->fut);
    if (j->bytes) {
        j->bytes->release(j->bytes);
        j->bytes = NULL;
    }
    if (loop == p->home && p->nfree < FREE_JOBS_MAX) {
        j->next = p->free_jobs;
        p->free_jobs = j;
        p->nfree++;
    } else {
        free(j);
    }
    if (drop_loop)
        cio__loop_unref(loop);
    cio__tp_pool_unref(p);
}

/* A job whose loop is closed: nothing can complete its future any more. */
static void release_closed(cio__tp_job *j) {
    cio__thread_pool *p = j->pool;
    cio_loop *loop = j->loop;
    cio_future_unref(j->fut);
    cio__tp_job_free(j);
    cio__loop_unref(loop);
    cio__tp_pool_unref(p);
}

static void job_done(cio__mpsc_node *n) {
    cio__tp_job *j = (cio__tp_job *)n;
    switch (atomic_load(&j->state)) {
    case CIO__TP_RUNNING:
        if (j->err) {
            cio__future_finish(j->fut, j->err, NULL);
        } else if (j->bytes) {
            cio__bytes_finish(j->fut, j->bytes);
            j->bytes = NULL;
        } else {
            cio__future_finish(j->fut, 0, j->result);
        }
        break;
    case CIO__TP_QUEUED: /* taken off the queue by a shutdown on another thread */
        cio__future_finish(j->fut, -ECANCELED, NULL);
        break;
    default: /* cancelled: the future ended already, the result is dropped */
        break;
    }
    job_release(j, false);
}

static void fail_jobs(cio__tp_job *j, int err) {
    while (j) {
        cio__tp_job *next = j->next;
        cio__future_finish(j->fut, err, NULL);
        job_release(j, true);
        j = next;
    }
}

/* ---- cancellation (on the job's loop thread) ---- */

static bool job_cancel(cio_future *f, void *ctx) {
    cio__tp_job *j = ctx;
    cio__thread_pool *p = j->pool;
    bool never_ran = j->in_pending;
    if (never_ran) {
        cio__tp_unlink(&p->pending, j);
        j->in_pending = false;
        p->npend--;
    } else {
        pthread_mutex_lock(&p->mu);
        never_ran = j->where == CIO__TP_IN_QUEUE;
        if (never_ran) {
            cio__tp_unlink(&p->queue, j);
            j->where = CIO__TP_NOWHERE;
        } else {
            /* In a worker's hands: about to start (then it never does) or
             * running (its result is dropped). The future ends now. */
            atomic_store(&j->state, CIO__TP_CANCELLED);
        }
        pthread_mutex_unlock(&p->mu);
    }
    cio__future_finish(f, -ECANCELED, NULL);
    if (never_ran)
        job_release(j, true);
    return true;
}

/* ---- submission ---- */

/* Queues the list and finds workers for it (takes the lock). */
static int enqueue(cio__thread_pool *p, cio__tp_job *head, unsigned n) {
    unsigned signals = 0;
    pthread_mutex_lock(&p->mu);
    int r = p->shutdown ? -ESHUTDOWN : cio__tp_wake_workers(p, n, &signals);
    if (r < 0) {
        pthread_mutex_unlock(&p->mu);
        return r;
    }
    for (cio__tp_job *j = head, *next; j; j = next) {
        next = j->next;
        j->where = CIO__TP_IN_QUEUE;
        cio__tp_append(&p->queue, j);
    }
    pthread_mutex_unlock(&p->mu);
    cio__tp_signal(p, signals);
    return 0;
}

static void flush_pending(cio__thread_pool *p) {
    if (!p->npend)
        return;
    cio__tp_job *head = p->pending.head;
    unsigned n = p->npend;
    for (cio__tp_job *j = head; j; j = j->next)
        j->in_pending = false;
    p->pending.head = p->pending.tail = NULL;
    p->npend = 0;
    int r = enqueue(p, head, n);
    if (r < 0)
        fail_jobs(head, r);
}

static void on_flush(cio__flush *f) {
    flush_pending((cio__thread_pool *)((char *)f - offsetof(cio__thread_pool, flush)));
}

static cio__tp_job *job_alloc(cio__thread_pool *p, cio_loop *loop) {
    if (loop == p->home && p->free_jobs) {
        cio__tp_job *j = p->free_jobs;
        p->free_jobs = j->next;
        p->nfree--;
        return j;
    }
    return CIO__FAULT(CIO__FAULT_ALLOC) ? NULL : malloc(sizeof(cio__tp_job));
}

/* job: fn and arg, or bfn and bytes (the job owns them from now on). */
static cio_future *submit(cio__thread_pool *p, cio__tp_job job) {
    cio_loop *loop = cio__loop_running();
    if (p->shutdown) { /* rechecked under the lock */
        if (job.bytes)
            job.bytes->release(job.bytes);
        errno = ESHUTDOWN;
        return NULL;
    }
    cio_loop *none = NULL;
    atomic_compare_exchange_strong(&p->home, &none, loop);
    cio__tp_job *j = job_alloc(p, loop);
    cio_future *f = j ? cio_loop_future_new(loop) : NULL;
    if (!f) {
        free(j);
        if (job.bytes)
            job.bytes->release(job.bytes);
        errno = ENOMEM;
        return NULL;
    }
    *j = job;
    j->node.fn = job_done;
    j->pool = p;
    j->loop = loop;
    j->fut = f;
    atomic_init(&j->state, CIO__TP_QUEUED);
    cio_future_ref(f); /* the job's own */
    cio__future_set_cancel(f, job_cancel, j);
    cio__loop_ref(loop);
    atomic_fetch_add(&p->refs, 1);
    if (loop == p->home) {
        j->in_pending = true;
        cio__tp_append(&p->pending, j);
        p->npend++;
        cio__loop_defer_flush(loop, &p->flush);
        return f;
    }
    int r = enqueue(p, j, 1);
    if (r < 0) {
        cio_future_unref(f);
        fail_jobs(j, r);
        errno = -r;
        return NULL;
    }
    return f;
}

static cio_future *tp_submit(cio_executor *ex, cio_fn fn, void *arg) {
    return submit((cio__thread_pool *)ex, (cio__tp_job){.fn = fn, .arg = arg});
}

/* The input is copied once, into the buffer that also takes the result. */
static cio_future *tp_submit_bytes(cio_executor *ex, cio_bytes_fn fn, const void *in, size_t in_len,
                                   size_t out_cap) {
    cio__bytes *b = cio__bytes_new_heap(out_cap, in, in_len);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    return submit((cio__thread_pool *)ex, (cio__tp_job){.bfn = fn, .bytes = b});
}

/* ---- shutdown ---- */

/* cancel_futures: what has not started ends cancelled, each on its own
 * loop's thread (a job of another loop is posted there, still queued). */
static void cancel_queued(cio__thread_pool *p) {
    pthread_mutex_lock(&p->mu);
    cio__tp_job *j = p->queue.head;
    for (cio__tp_job *k = j; k; k = k->next)
        k->where = CIO__TP_NOWHERE;
    p->queue.head = p->queue.tail = NULL;
    pthread_mutex_unlock(&p->mu);
    cio_loop *here = cio__loop_running();
    while (j) {
        cio__tp_job *next = j->next;
        cio_loop *loop = j->loop;
        if (loop == here) {
            cio__future_finish(j->fut, -ECANCELED, NULL);
            job_release(j, true);
        } else if (cio__loop_post(loop, &j->node) == 0) {
            cio__loop_unref(loop);
        } else {
            release_closed(j);
        }
        j = next;
    }
}

static void wait_workers(void *p) {
    cio__tp_wait_workers(p);
}

static void drop_pool(void *p) {
    cio__tp_pool_unref(p);
}

/* In a task the loop must go on meanwhile (completions arrive through it). */
static int wait_in_task(cio__thread_pool *p) {
    atomic_fetch_add(&p->refs, 1); /* the waiting thread's: a cancelled waiter may free p */
    return cio__wait_in_thread(wait_workers, drop_pool, p);
}

static int tp_shutdown(cio_executor *ex, bool wait, bool cancel_futures) {
    cio__thread_pool *p = (cio__thread_pool *)ex;
    cio_loop *here = cio__loop_running();
    if (here == p->home || !here)
        flush_pending(p); /* submitted before shutdown: they run (or are cancelled below) */
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    if (cancel_futures)
        cancel_queued(p);
    if (!wait)
        return 0;
    if (cio__task_current())
        return wait_in_task(p);
    cio__tp_wait_workers(p);
    return 0;
}

/* ---- the pool's end ---- */

/* Under the lock: jobs whose loop closed are set aside on `out` (queued and
 * dead ones), or orphaned (running: the worker frees the job when it ends). */
static void reap_closed(cio__thread_pool *p, cio__tp_list *out) {
    for (cio__tp_job *j = p->queue.head, *next; j; j = next) {
        next = j->next;
        if (atomic_load(&j->loop->closed)) {
            cio__tp_unlink(&p->queue, j);
            j->where = CIO__TP_NOWHERE;
            cio__tp_append(out, j);
        }
    }
    for (cio__tp_job *j = p->running.head; j; j = j->next) {
        if (!j->orphaned && atomic_load(&j->loop->closed)) {
            j->orphaned = true;
            cio_future_unref(j->fut);
            j->fut = NULL;
        }
    }
    while (p->dead.head) {
        cio__tp_job *j = p->dead.head;
        cio__tp_unlink(&p->dead, j);
        j->where = CIO__TP_NOWHERE;
        cio__tp_append(out, j);
    }
}

static void tp_destroy(cio_executor *ex) {
    cio__thread_pool *p = (cio__thread_pool *)ex;
    tp_shutdown(ex, false, false); /* flushes what is pending */
    cio_loop *home = p->home;
    if (home && p->flush.queued)
        cio__loop_cancel_flush(home, &p->flush);
    cio__tp_list out = {0};
    pthread_mutex_lock(&p->mu);
    reap_closed(p, &out);
    pthread_mutex_unlock(&p->mu);
    /* A completion in flight may be about to land on the dead list. */
    while (atomic_load(&p->transit))
        sched_yield();
    pthread_mutex_lock(&p->mu);
    reap_closed(p, &out);
    pthread_mutex_unlock(&p->mu);
    while (out.head) {
        cio__tp_job *j = out.head;
        cio__tp_unlink(&out, j);
        release_closed(j);
    }
    cio__tp_pool_unref(p);
}

/* ---- cio_run's bounded wait ---- */

/* Under the lock: up to `cap` bytes naming the jobs in workers' hands. */
static void running_names(cio__thread_pool *p, char *out, size_t cap) {
    size_t used = 0;
    unsigned n = 0;
    out[0] = '\0';
    for (cio__tp_job *j = p->running.head; j && n < 4; j = j->next, n++) {
        char name[128];
        const void *fn = j->bfn ? (const void *)j->bfn : (const void *)j->fn;
        cio__symbol_name(fn, name, sizeof name);
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
    tp_shutdown(ex, false, false);
    if (timeout < 0) {
        cio__tp_wait_workers(p);
        return 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    double whole = (double)(time_t)timeout;
    until.tv_sec += (time_t)whole;
    until.tv_nsec += (long)((timeout - whole) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    char names[600];
    pthread_mutex_lock(&p->mu);
    while (p->nworkers > 0 &&
           pthread_cond_clockwait(&p->gone, &p->mu, CLOCK_MONOTONIC, &until) != ETIMEDOUT)
        ;
    unsigned left = p->nworkers;
    if (left)
        running_names(p, names, sizeof names);
    pthread_mutex_unlock(&p->mu);
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
    .shutdown = tp_shutdown,
    .destroy = tp_destroy,
    .submit_bytes = tp_submit_bytes,
};

/* concurrent.futures' default: min(32, cpus + 4). */
static unsigned default_max_workers(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    n = n < 1 ? 5 : n + 4;
    return (unsigned)(n < 32 ? n : 32);
}

cio_executor *cio_thread_pool_new_with(const cio_thread_pool_options *opt) {
    cio_thread_pool_options o = opt ? *opt : (cio_thread_pool_options){0};
    if (!(o.idle_timeout >= 0)) { /* negative or NaN */
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
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* idle deadlines ignore clock jumps */
    p->base.ops = &thread_pool_ops;
    p->flush.fn = on_flush;
    p->max_workers = o.max_workers ? o.max_workers : default_max_workers();
    p->idle_timeout = o.idle_timeout > 0 ? o.idle_timeout : IDLE_EXIT_SECONDS;
    if (p->idle_timeout > IDLE_MAX_SECONDS) /* keeps the deadline within time_t */
        p->idle_timeout = IDLE_MAX_SECONDS;
    strncpy(p->name_prefix, o.thread_name_prefix ? o.thread_name_prefix : "cio-thread",
            sizeof p->name_prefix - 1);
    p->initializer = o.initializer;
    p->initarg = o.initarg;
    atomic_init(&p->refs, 1);
    atomic_init(&p->transit, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, &ca);
    pthread_cond_init(&p->gone, NULL);
    pthread_condattr_destroy(&ca);
    return &p->base;
}

cio_executor *cio_thread_pool_new(unsigned max_workers) {
    return cio_thread_pool_new_with(&(cio_thread_pool_options){.max_workers = max_workers});
}
