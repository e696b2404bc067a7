/* The thread pool (concurrent.futures.ThreadPoolExecutor): workers start on
 * demand up to max_workers, idle ones first, and leave after a minute idle.
 * A finished job posts its own node to the loop: no allocation and, while
 * the loop is busy, no syscall per completion.
 *
 * Lifetime: the pool is freed when its owner has called destroy, every
 * worker has exited and no job is left (an atomic count of all three). */
#include "future.h"
#include "loop.h"
#include "task.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define IDLE_EXIT_SECONDS 60

enum { JOB_QUEUED, JOB_RUNNING, JOB_CANCELLED };

typedef struct tp_job {
    cio__mpsc_node node; /* first: the completion */
    struct tp_job *prev, *next;
    struct thread_pool *pool;
    cio_loop *loop;
    cio_future *fut;
    cio_fn fn;
    void *arg;
    void *result;
    _Atomic int state;
} tp_job;

typedef struct thread_pool {
    cio_executor base;
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job is queued, or shutdown */
    pthread_cond_t gone; /* a worker exited */
    tp_job *head, *tail;
    unsigned max_workers, nworkers, idle;
    bool shutdown;
    _Atomic long refs; /* owner + workers + live jobs */
} thread_pool;

static void pool_unref(thread_pool *p) {
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->gone);
    free(p);
}

static void unlink_job(thread_pool *p, tp_job *j) {
    if (j->prev)
        j->prev->next = j->next;
    else
        p->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        p->tail = j->prev;
    j->prev = j->next = NULL;
}

/* Loop thread: the job is over for the loop (completed or dropped). */
static void job_release(tp_job *j) {
    thread_pool *p = j->pool;
    cio_loop *loop = j->loop;
    cio_future_unref(j->fut);
    free(j);
    cio__loop_unref(loop);
    pool_unref(p);
}

static void job_done(cio__mpsc_node *n) {
    tp_job *j = (tp_job *)n;
    /* A job cancelled while running already ended its future: drop the result. */
    if (atomic_load(&j->state) != JOB_CANCELLED)
        cio__future_finish(j->fut, 0, j->result);
    job_release(j);
}

/* ---- workers ---- */

static tp_job *next_job(thread_pool *p) {
    while (!p->head && !p->shutdown) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += IDLE_EXIT_SECONDS;
        p->idle++;
        int r = pthread_cond_timedwait(&p->work, &p->mu, &until);
        p->idle--;
        if (r == ETIMEDOUT && !p->head)
            return NULL;
    }
    tp_job *j = p->head;
    if (j) {
        unlink_job(p, j);
        atomic_store(&j->state, JOB_RUNNING);
    }
    return j;
}

static void *worker(void *arg) {
    thread_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    tp_job *j;
    while ((j = next_job(p))) {
        pthread_mutex_unlock(&p->mu);
        j->result = j->fn(j->arg);
        if (cio__loop_post(j->loop, &j->node) < 0) {
            /* The loop is closed: nobody can take the result. Its future
             * belongs to the loop thread, so only the job goes. */
            cio_loop *loop = j->loop;
            free(j);
            cio__loop_unref(loop);
            pool_unref(p);
        }
        pthread_mutex_lock(&p->mu);
    }
    p->nworkers--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->mu);
    pool_unref(p);
    return NULL;
}

/* Under the lock: a worker for a new job, reusing an idle one first. */
static int wake_or_spawn(thread_pool *p) {
    if (p->idle > 0) {
        pthread_cond_signal(&p->work);
        return 0;
    }
    if (p->nworkers >= p->max_workers)
        return 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    atomic_fetch_add(&p->refs, 1);
    int r = pthread_create(&th, &attr, worker, p);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        atomic_fetch_sub(&p->refs, 1);
        return p->nworkers ? 0 : -r; /* the running workers will get to it */
    }
    p->nworkers++;
    return 0;
}

/* ---- the loop side ---- */

static bool job_cancel(cio_future *f, void *ctx) {
    tp_job *j = ctx;
    thread_pool *p = j->pool;
    pthread_mutex_lock(&p->mu);
    bool queued = atomic_load(&j->state) == JOB_QUEUED;
    if (queued)
        unlink_job(p, j);
    else
        atomic_store(&j->state, JOB_CANCELLED);
    pthread_mutex_unlock(&p->mu);
    cio__future_finish(f, -ECANCELED, NULL);
    if (queued)
        job_release(j); /* it never ran */
    return true;
}

static cio_future *tp_submit(cio_executor *ex, cio_fn fn, void *arg) {
    thread_pool *p = (thread_pool *)ex;
    cio_loop *loop = cio__loop_running();
    tp_job *j = calloc(1, sizeof *j);
    cio_future *f = j ? cio_loop_future_new(loop) : NULL;
    if (!f) {
        free(j);
        errno = ENOMEM;
        return NULL;
    }
    *j = (tp_job){.node.fn = job_done, .pool = p, .loop = loop, .fut = f, .fn = fn, .arg = arg};
    cio_future_ref(f); /* the job's own */
    cio__future_set_cancel(f, job_cancel, j);
    pthread_mutex_lock(&p->mu);
    int r = p->shutdown ? -ESHUTDOWN : wake_or_spawn(p);
    if (r == 0) {
        j->prev = p->tail;
        if (p->tail)
            p->tail->next = j;
        else
            p->head = j;
        p->tail = j;
    }
    pthread_mutex_unlock(&p->mu);
    if (r < 0) {
        cio_future_unref(f);
        cio_future_unref(f);
        free(j);
        errno = -r;
        return NULL;
    }
    cio__loop_ref(loop);
    atomic_fetch_add(&p->refs, 1);
    return f;
}

/* Cancels what has not started (cancel_futures). Loop thread. */
static void cancel_queued(thread_pool *p) {
    for (;;) {
        pthread_mutex_lock(&p->mu);
        tp_job *j = p->head;
        pthread_mutex_unlock(&p->mu);
        if (!j)
            return;
        job_cancel(j->fut, j);
    }
}

static void wait_workers(thread_pool *p) {
    pthread_mutex_lock(&p->mu);
    while (p->nworkers > 0)
        pthread_cond_wait(&p->gone, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void *wait_workers_job(void *arg) {
    wait_workers(arg);
    return NULL;
}

static int tp_shutdown(cio_executor *ex, bool wait, bool cancel_futures) {
    thread_pool *p = (thread_pool *)ex;
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    if (cancel_futures)
        cancel_queued(p);
    if (!wait)
        return 0;
    if (!cio__task_current()) {
        wait_workers(p);
        return 0;
    }
    /* In a task the loop must go on (completions arrive through it): a
     * throwaway thread does the blocking wait. */
    thread_pool *helper = (thread_pool *)cio_thread_pool_new(1);
    if (!helper) {
        wait_workers(p);
        return 0;
    }
    cio_future *f = tp_submit(&helper->base, wait_workers_job, p);
    int r = f ? cio_await(f, NULL) : -errno;
    cio_future_unref(f);
    cio_executor_shutdown(&helper->base, false, false);
    cio_executor_free(&helper->base);
    if (r < 0)
        wait_workers(p); /* cancelled while waiting: finish the promise anyway */
    return 0;
}

static void tp_destroy(cio_executor *ex) {
    thread_pool *p = (thread_pool *)ex;
    tp_shutdown(ex, false, false);
    pool_unref(p);
}

static const cio_executor_ops thread_pool_ops = {
    .name = "thread_pool",
    .submit = tp_submit,
    .shutdown = tp_shutdown,
    .destroy = tp_destroy,
};

/* concurrent.futures' default: min(32, cpus + 4). */
static unsigned default_max_workers(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    n = n < 1 ? 5 : n + 4;
    return (unsigned)(n < 32 ? n : 32);
}

cio_executor *cio_thread_pool_new(unsigned max_workers) {
    thread_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->base.ops = &thread_pool_ops;
    p->max_workers = max_workers ? max_workers : default_max_workers();
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->gone, NULL);
    return &p->base;
}
