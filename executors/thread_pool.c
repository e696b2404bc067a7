/* The thread pool (concurrent.futures.ThreadPoolExecutor): workers start on
 * demand up to max_workers, idle ones first, and leave after a minute idle.
 * Batching keeps syscalls off the hot path: the home loop's submissions of
 * one iteration enter the queue under one lock with one wakeup per idle
 * worker needed; a finished
 * job posts its own node to the loop (no allocation, and no syscall while
 * the loop is busy).
 *
 * Lifetime: the pool is freed when its owner has called destroy, every
 * worker has exited and no job is left (an atomic count of all three). */
#include "fault.h"
#include "future.h"
#include "loop.h"
#include "task.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define IDLE_EXIT_SECONDS 60

enum { JOB_QUEUED, JOB_RUNNING, JOB_CANCELLED };

typedef struct tp_job {
    cio__mpsc_node node; /* first: the completion */
    struct tp_job *prev, *next;
    bool in_queue;   /* in the shared queue (under the lock) */
    bool in_pending; /* in the home loop's not yet flushed batch */
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
    unsigned queued;
    unsigned max_workers, nworkers, idle;
    bool shutdown;
    _Atomic long refs; /* owner + workers + live jobs */
    /* Home loop only, no lock: submissions waiting for the iteration's flush. */
    cio_loop *home;
    cio__flush flush;
    tp_job *pend_head, *pend_tail;
    unsigned npend;
} thread_pool;

static void pool_unref(thread_pool *p) {
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->gone);
    free(p);
}

static void list_unlink(tp_job **head, tp_job **tail, tp_job *j) {
    if (j->prev)
        j->prev->next = j->next;
    else
        *head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        *tail = j->prev;
    j->prev = j->next = NULL;
}

static void list_append(tp_job **head, tp_job **tail, tp_job *j) {
    j->next = NULL;
    j->prev = *tail;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void unqueue(thread_pool *p, tp_job *j) {
    list_unlink(&p->head, &p->tail, j);
    j->in_queue = false;
    p->queued--;
}

/* Loop thread: the job is over. A job that reached a worker had its loop and
 * pool references dropped by that worker, right after its post. */
static void job_release(tp_job *j, bool never_ran) {
    thread_pool *p = j->pool;
    cio_loop *loop = j->loop;
    cio_future_unref(j->fut);
    free(j);
    if (never_ran) {
        cio__loop_unref(loop);
        pool_unref(p);
    }
}

static void job_done(cio__mpsc_node *n) {
    tp_job *j = (tp_job *)n;
    /* A cancelled job already ended its future: drop the result, if any. */
    if (atomic_load(&j->state) != JOB_CANCELLED)
        cio__future_finish(j->fut, 0, j->result);
    job_release(j, false);
}

/* ---- workers ---- */

/* Under the lock: the next job, or NULL when this worker should exit. */
static tp_job *take_job(thread_pool *p) {
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
    if (j)
        unqueue(p, j);
    return j;
}

static void run_job(thread_pool *p, tp_job *j) {
    int queued = JOB_QUEUED;
    if (atomic_compare_exchange_strong(&j->state, &queued, JOB_RUNNING))
        j->result = j->fn(j->arg);
    /* Once posted, j belongs to the loop thread; the references keep the
     * loop (its eventfd) and the pool alive until the post has returned. */
    cio_loop *loop = j->loop;
    if (cio__loop_post(loop, &j->node) < 0)
        free(j); /* closed: its future belongs to the loop thread, only the job goes */
    cio__loop_unref(loop);
    pool_unref(p);
}

static void *worker(void *arg) {
    thread_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    tp_job *j;
    while ((j = take_job(p))) {
        pthread_mutex_unlock(&p->mu);
        run_job(p, j);
        pthread_mutex_lock(&p->mu);
    }
    p->nworkers--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->mu);
    pool_unref(p);
    return NULL;
}

static int spawn_worker(thread_pool *p) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    atomic_fetch_add(&p->refs, 1);
    /* Workers take no signals: they belong to the loop (signal handlers,
     * Ctrl-C), and a worker inherits the mask it is created with. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = CIO__FAULT(CIO__FAULT_THREAD) ? EAGAIN : pthread_create(&th, &attr, worker, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        atomic_fetch_sub(&p->refs, 1);
        return -r;
    }
    p->nworkers++;
    return 0;
}

/* Under the lock: workers for n new jobs, idle ones first. Fails only when
 * no worker at all can run them. */
static int wake_workers(thread_pool *p, unsigned n) {
    for (unsigned woken = 0; woken < n && woken < p->idle; woken++)
        pthread_cond_signal(&p->work);
    unsigned want = n > p->idle ? n - p->idle : 0;
    int r = 0;
    while (want-- > 0 && p->nworkers < p->max_workers)
        if ((r = spawn_worker(p)) < 0)
            break;
    return p->nworkers ? 0 : r;
}

/* ---- the loop side ---- */

static bool job_cancel(cio_future *f, void *ctx) {
    tp_job *j = ctx;
    thread_pool *p = j->pool;
    bool never_ran = false;
    if (j->in_pending) {
        list_unlink(&p->pend_head, &p->pend_tail, j);
        j->in_pending = false;
        p->npend--;
        never_ran = true;
    } else {
        pthread_mutex_lock(&p->mu);
        if (j->in_queue) {
            unqueue(p, j);
            never_ran = true;
        }
        pthread_mutex_unlock(&p->mu);
    }
    /* Taken by a worker: about to start (it will skip it) or running (its
     * result is dropped). Either way the future ends now. */
    if (!never_ran)
        atomic_store(&j->state, JOB_CANCELLED);
    cio__future_finish(f, -ECANCELED, NULL);
    if (never_ran)
        job_release(j, true);
    return true;
}

/* Under the lock: queue the jobs and find workers; on failure the caller
 * gets the error for every job of the list. */
static int enqueue(thread_pool *p, tp_job *head, unsigned n) {
    int r = p->shutdown ? -ESHUTDOWN : wake_workers(p, n);
    if (r < 0)
        return r;
    for (tp_job *j = head, *next; j; j = next) {
        next = j->next;
        j->in_queue = true;
        list_append(&p->head, &p->tail, j);
    }
    p->queued += n;
    return 0;
}

static void fail_jobs(tp_job *j, int err) {
    while (j) {
        tp_job *next = j->next;
        cio__future_finish(j->fut, err, NULL);
        job_release(j, true);
        j = next;
    }
}

static void flush_pending(thread_pool *p) {
    if (!p->npend)
        return;
    tp_job *head = p->pend_head;
    unsigned n = p->npend;
    for (tp_job *j = head; j; j = j->next)
        j->in_pending = false;
    p->pend_head = p->pend_tail = NULL;
    p->npend = 0;
    pthread_mutex_lock(&p->mu);
    int r = enqueue(p, head, n);
    pthread_mutex_unlock(&p->mu);
    if (r < 0)
        fail_jobs(head, r);
}

static void on_flush(cio__flush *f) {
    flush_pending((thread_pool *)((char *)f - offsetof(thread_pool, flush)));
}

static cio_future *tp_submit(cio_executor *ex, cio_fn fn, void *arg) {
    thread_pool *p = (thread_pool *)ex;
    cio_loop *loop = cio__loop_running();
    if (p->shutdown) { /* racy read is fine: rechecked under the lock */
        errno = ESHUTDOWN;
        return NULL;
    }
    tp_job *j = CIO__FAULT(CIO__FAULT_ALLOC) ? NULL : malloc(sizeof *j);
    cio_future *f = j ? cio_loop_future_new(loop) : NULL;
    if (!f) {
        free(j);
        errno = ENOMEM;
        return NULL;
    }
    *j = (tp_job){.node.fn = job_done, .pool = p, .loop = loop, .fut = f, .fn = fn, .arg = arg};
    atomic_init(&j->state, JOB_QUEUED);
    cio_future_ref(f); /* the job's own */
    cio__future_set_cancel(f, job_cancel, j);
    cio__loop_ref(loop);
    atomic_fetch_add(&p->refs, 1);
    if (!p->home)
        p->home = loop;
    if (loop == p->home) {
        j->in_pending = true;
        list_append(&p->pend_head, &p->pend_tail, j);
        p->npend++;
        cio__loop_defer_flush(loop, &p->flush);
        return f;
    }
    pthread_mutex_lock(&p->mu);
    int r = enqueue(p, j, 1);
    pthread_mutex_unlock(&p->mu);
    if (r < 0) {
        cio_future_unref(f);
        fail_jobs(j, r);
        errno = -r;
        return NULL;
    }
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
    if (cio__loop_running() == p->home || !cio__loop_running())
        flush_pending(p); /* submitted before shutdown: they run (or are cancelled below) */
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
    tp_shutdown(ex, false, false); /* flushes what is pending */
    if (p->flush.queued && p->home)
        cio__loop_cancel_flush(p->home, &p->flush);
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
    p->flush.fn = on_flush;
    p->max_workers = max_workers ? max_workers : default_max_workers();
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->gone, NULL);
    return &p->base;
}
