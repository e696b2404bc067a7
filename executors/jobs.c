/* The job engine (see jobs.h): submission batching, the cancel states,
 * completion on the loop's thread (with the profiling hook), closed-loop
 * orphans and the shutdown wait, for both pools. */
#include "jobs.h"
#include "bytes.h"
#include "fault.h"
#include "future.h"
#include "job.h"
#include "task.h"
#include "wait_thread.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FREE_JOBS_MAX 1024 /* recycled job records kept by the home loop */

/* ---- the pool's lifetime ---- */

static void on_flush(cio__flush *f);

void cio__jobs_init(cio__jobs *e, const cio_executor_ops *ex_ops, const cio__jobs_ops *ops) {
    e->base.ops = ex_ops;
    e->ops = ops;
    e->flush.fn = on_flush;
    atomic_init(&e->refs, 1);
    atomic_init(&e->shutdown, false);
    atomic_init(&e->home, NULL);
    pthread_mutex_init(&e->mu, NULL); /* cannot fail without attributes */
}

void cio__jobs_fini(cio__jobs *e) {
    pthread_mutex_destroy(&e->mu);
}

void cio__jobs_ref(cio__jobs *e) {
    atomic_fetch_add(&e->refs, 1);
}

void cio__jobs_unref(cio__jobs *e) {
    if (atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    while (e->free_jobs) {
        cio__job *j = e->free_jobs;
        e->free_jobs = j->next;
        free(j);
    }
    e->ops->free(e);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* ---- a job's end ---- */

/* drop_loop: nobody posted the job (a poster drops the loop reference right
 * after its post). on_loop: on the thread of j's loop. */
static void job_release(cio__job *j, bool drop_loop, bool on_loop) {
    cio__jobs *e = j->jobs;
    cio_loop *loop = j->loop;
    bool home = on_loop && loop == atomic_load_explicit(&e->home, memory_order_relaxed);
    cio_future_unref(j->fut);
    if (j->bytes)
        j->bytes->release(j->bytes);
    e->ops->release(j, home);
    if (home && e->nfree < FREE_JOBS_MAX) {
        j->next = e->free_jobs;
        e->free_jobs = j;
        e->nfree++;
    } else {
        free(j);
    }
    if (drop_loop)
        cio__loop_unref(loop);
    cio__jobs_unref(e);
}

/* A job whose loop is closed: nothing can complete its future any more, and
 * a late cancel must not find the job. */
static void release_closed(cio__job *j) {
    if (j->fut)
        cio__future_set_cancel(j->fut, NULL, NULL);
    job_release(j, true, false);
}

static void observe(const cio__job *j) {
    void (*observer)(cio_loop *, const cio__job_times *) = cio__job_observer;
    if (!observer || !j->started_ns) /* off since, or never started */
        return;
    cio__job_times t = {.executor = j->jobs->ops->name,
                        .fn = j->fn,
                        .future = j->fut,
                        .submitted_ns = j->submitted_ns,
                        .started_ns = j->started_ns,
                        .ended_ns = j->ended_ns,
                        .worker = j->worker};
    observer(j->loop, &t);
}

/* The completion, on the job's loop thread. */
static void job_done(cio__mpsc_node *n) {
    cio__job *j = (cio__job *)n;
    if (j->jobs->ops->settle)
        j->jobs->ops->settle(j);
    if (!j->cancelled && j->fut) {
        if (j->err) {
            cio__future_finish(j->fut, j->err, NULL);
        } else if (j->bytes) {
            cio__bytes_finish(j->fut, j->bytes);
            j->bytes = NULL;
        } else {
            cio__future_finish(j->fut, 0, j->result);
        }
        if (j->timed)
            observe(j);
    }
    job_release(j, false, true);
}

static void fail_jobs(cio__job *j, int err) {
    while (j) {
        cio__job *next = j->next;
        cio__future_finish(j->fut, err, NULL);
        job_release(j, true, true);
        j = next;
    }
}

void cio__jobs_post(cio__jobs *e, cio__job *j, bool locked) {
    cio_loop *loop = j->loop;
    if (cio__loop_post(loop, &j->node) == 0) {
        cio__loop_unref(loop);
        return;
    }
    /* Closed: the future belongs to that loop's thread. Once the owner has
     * let go, a job already detached from its future can go at once; any
     * other waits for the owner's destroy or shutdown(wait). The caller
     * holds a pool reference: this cannot be the last one. */
    if (!locked)
        pthread_mutex_lock(&e->mu);
    if (e->owner_gone && !j->fut)
        release_closed(j);
    else
        cio__job_list_append(&e->orphans, j);
    if (!locked)
        pthread_mutex_unlock(&e->mu);
}

static void release_orphans(cio__jobs *e) {
    pthread_mutex_lock(&e->mu);
    cio__job *j = e->orphans.head;
    e->orphans = (cio__job_list){0};
    pthread_mutex_unlock(&e->mu);
    for (cio__job *next; j; j = next) {
        next = j->next;
        release_closed(j);
    }
}

/* ---- cancellation (on the job's loop thread) ---- */

static bool job_cancel(cio_future *f, void *ctx) {
    cio__job *j = ctx;
    cio__jobs *e = j->jobs;
    bool never_ran = j->pending;
    if (never_ran) {
        j->pending = false;
        cio__job_list_unlink(&e->pending, j);
        e->npend--;
    } else {
        pthread_mutex_lock(&e->mu);
        never_ran = j->where == CIO__JOB_QUEUED;
        if (never_ran) {
            cio__job_list_unlink(&e->queue, j);
        } else {
            /* At a worker (about to start, running, or on its way back):
             * it never starts, or its outcome is dropped. The future's
             * reference goes now, on this thread, so that the job's late
             * return cannot outlive the loop holding it. */
            j->cancelled = true;
            if (j->where == CIO__JOB_HELD)
                e->ops->stop(j);
            j->fut = NULL;
        }
        pthread_mutex_unlock(&e->mu);
    }
    cio__future_finish(f, -ECANCELED, NULL);
    if (never_ran) {
        j->where = CIO__JOB_NOWHERE;
        job_release(j, true, true);
    } else {
        cio_future_unref(f);
    }
    return true;
}

/* ---- submission ---- */

/* Queues the jobs linked from head (n of them) and finds workers for them
 * (takes the lock). */
static int enqueue(cio__jobs *e, cio__job *head, unsigned n) {
    unsigned kick = 0;
    pthread_mutex_lock(&e->mu);
    int r = e->shutdown ? -ESHUTDOWN : e->ops->queued(e, n, &kick);
    if (r < 0) {
        pthread_mutex_unlock(&e->mu);
        return r;
    }
    for (cio__job *j = head, *next; j; j = next) {
        next = j->next;
        j->where = CIO__JOB_QUEUED;
        cio__job_list_append(&e->queue, j);
    }
    pthread_mutex_unlock(&e->mu);
    e->ops->kick(e, kick);
    return 0;
}

/* Once per loop iteration: this iteration's submissions join the queue. */
static void flush_pending(cio__jobs *e) {
    if (!e->npend)
        return;
    cio__job *head = e->pending.head;
    unsigned n = e->npend;
    for (cio__job *j = head; j; j = j->next)
        j->pending = false;
    e->pending = (cio__job_list){0};
    e->npend = 0;
    int r = enqueue(e, head, n);
    if (r < 0)
        fail_jobs(head, r);
}

static void on_flush(cio__flush *f) {
    flush_pending((cio__jobs *)((char *)f - offsetof(cio__jobs, flush)));
}

cio__job *cio__jobs_alloc(cio__jobs *e) {
    if (e->shutdown) { /* rechecked under the lock */
        errno = ESHUTDOWN;
        return NULL;
    }
    cio_loop *loop = cio__loop_running();
    if (!atomic_load_explicit(&e->home, memory_order_relaxed)) {
        cio_loop *none = NULL;
        atomic_compare_exchange_strong(&e->home, &none, loop);
    }
    cio__job *j = NULL;
    if (loop == atomic_load_explicit(&e->home, memory_order_relaxed) && e->free_jobs) {
        j = e->free_jobs;
        e->free_jobs = j->next;
        e->nfree--;
    } else if (!CIO__FAULT(CIO__FAULT_ALLOC)) {
        j = malloc(e->ops->job_size);
    }
    if (!j) {
        errno = ENOMEM;
        return NULL;
    }
    memset(j, 0, e->ops->job_size);
    j->timed = cio__job_observer != NULL; /* the one load per job when it is off */
    return j;
}

cio_future *cio__jobs_submit(cio__jobs *e, cio__job *j) {
    cio_loop *loop = cio__loop_running();
    cio_future *f = cio_loop_future_new(loop);
    if (!f) {
        if (j->bytes)
            j->bytes->release(j->bytes);
        e->ops->release(j, false);
        free(j);
        errno = ENOMEM;
        return NULL;
    }
    j->node.fn = job_done;
    j->jobs = e;
    j->loop = loop;
    j->fut = f;
    cio_future_ref(f); /* the job's own */
    cio__future_set_cancel(f, job_cancel, j);
    cio__loop_ref(loop);
    cio__jobs_ref(e);
    if (j->timed)
        j->submitted_ns = cio__job_now_ns();
    if (loop == atomic_load_explicit(&e->home, memory_order_relaxed)) {
        j->pending = true;
        cio__job_list_append(&e->pending, j);
        e->npend++;
        cio__loop_defer_flush(loop, &e->flush);
        return f;
    }
    j->next = NULL;
    int r = enqueue(e, j, 1);
    if (r < 0) {
        cio_future_unref(f);
        fail_jobs(j, r);
        errno = -r;
        return NULL;
    }
    return f;
}

/* ---- the worker side's queue ---- */

cio__job *cio__jobs_take(cio__jobs *e) {
    cio__job *j = e->queue.head;
    cio__job_list_unlink(&e->queue, j);
    j->where = CIO__JOB_HELD;
    return j;
}

void cio__jobs_requeue_front(cio__jobs *e, cio__job_list *l) {
    if (!l->head)
        return;
    for (cio__job *j = l->head; j; j = j->next)
        j->where = CIO__JOB_QUEUED;
    l->tail->next = e->queue.head;
    if (e->queue.head)
        e->queue.head->prev = l->tail;
    else
        e->queue.tail = l->tail;
    e->queue.head = l->head;
    *l = (cio__job_list){0};
}

/* ---- shutdown ---- */

/* Under the lock: a held job of loop ctx that never starts ends now. */
static void unstart_visit(cio__job *j, void *ctx) {
    if (j->loop != ctx || j->cancelled || !j->fut || !j->jobs->ops->unstart(j))
        return;
    j->cancelled = true;
    cio__future_finish(j->fut, -ECANCELED, NULL);
}

/* cancel_futures: what has not started ends cancelled, each on its own
 * loop's thread (a job of another loop is posted there). Held jobs not
 * started yet end too, those of this loop. */
static void cancel_queued(cio__jobs *e) {
    cio_loop *here = cio__loop_running();
    pthread_mutex_lock(&e->mu);
    cio__job *j = e->queue.head;
    for (cio__job *k = j; k; k = k->next)
        k->where = CIO__JOB_NOWHERE;
    e->queue = (cio__job_list){0};
    if (e->ops->unstart && here)
        e->ops->each_held(e, unstart_visit, here);
    pthread_mutex_unlock(&e->mu);
    for (cio__job *next; j; j = next) {
        next = j->next;
        if (j->loop == here) {
            cio__future_finish(j->fut, -ECANCELED, NULL);
            job_release(j, true, true);
        } else {
            j->err = -ECANCELED;
            cio__jobs_post(e, j, false);
        }
    }
}

static void wait_block(void *e) {
    ((cio__jobs *)e)->ops->wait(e);
}

static void wait_done(void *e) {
    cio__jobs_unref(e);
}

int cio__jobs_wait(cio__jobs *e) {
    if (!cio__task_current()) {
        e->ops->wait(e);
        return 0;
    }
    /* In a task the loop must go on meanwhile (completions arrive through
     * it). The waiting thread's reference: a cancelled waiter may free e. */
    cio__jobs_ref(e);
    return cio__wait_in_thread(wait_block, wait_done, e);
}

int cio__jobs_shutdown(cio_executor *ex, bool wait, bool cancel_futures) {
    cio__jobs *e = (cio__jobs *)ex;
    cio_loop *here = cio__loop_running();
    if (here == atomic_load(&e->home) || !here)
        flush_pending(e); /* submitted before shutdown: they run (or are cancelled below) */
    pthread_mutex_lock(&e->mu);
    e->shutdown = true;
    if (e->ops->stopping)
        e->ops->stopping(e);
    pthread_mutex_unlock(&e->mu);
    if (cancel_futures)
        cancel_queued(e);
    if (!wait)
        return 0;
    int r = cio__jobs_wait(e);
    if (r == 0)
        release_orphans(e);
    return r;
}

/* Under the lock, before the owner lets go: a held job whose loop has
 * closed gives up its future here, on the owner's thread. */
static void detach_visit(cio__job *j, void *ctx) {
    (void)ctx;
    if (!j->fut || !atomic_load(&j->loop->closed))
        return;
    cio__future_set_cancel(j->fut, NULL, NULL);
    cio_future_unref(j->fut);
    j->fut = NULL;
    j->cancelled = true;
}

void cio__jobs_destroy(cio_executor *ex) {
    cio__jobs *e = (cio__jobs *)ex;
    cio__jobs_shutdown(ex, false, false); /* flushes what is pending */
    cio_loop *home = atomic_load(&e->home);
    if (home && e->flush.queued) /* it would run after the pool is gone */
        cio__loop_cancel_flush(home, &e->flush);
    cio__job_list out = {0};
    pthread_mutex_lock(&e->mu);
    e->owner_gone = true;
    for (cio__job *j = e->queue.head, *next; j; j = next) {
        next = j->next;
        if (atomic_load(&j->loop->closed)) {
            cio__job_list_unlink(&e->queue, j);
            j->where = CIO__JOB_NOWHERE;
            cio__job_list_append(&out, j);
        }
    }
    e->ops->each_held(e, detach_visit, NULL);
    cio__job *orphans = e->orphans.head;
    e->orphans = (cio__job_list){0};
    pthread_mutex_unlock(&e->mu);
    if (e->ops->abandon)
        e->ops->abandon(e);
    for (cio__job *j = out.head, *next; j; j = next) {
        next = j->next;
        release_closed(j);
    }
    for (cio__job *next; orphans; orphans = next) {
        next = orphans->next;
        release_closed(orphans);
    }
    cio__jobs_unref(e);
}
