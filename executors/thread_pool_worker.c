/* The thread pool's workers: started on demand, idle ones reused first, gone
 * after idle_timeout without work. A worker takes the lock once per job: in
 * that one critical section it hands back the job it finished and takes the
 * next, and it posts the finished one's completion after unlocking. */
#include "bytes.h"
#include "fault.h"
#include "job.h"
#include "loop.h"
#include "thread_pool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void cio__tp_job_free(cio__tp_job *j) {
    if (j->bytes)
        j->bytes->release(j->bytes);
    free(j);
}

void cio__tp_pool_unref(cio__thread_pool *p) {
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    while (p->free_jobs) {
        cio__tp_job *j = p->free_jobs;
        p->free_jobs = j->next;
        free(j);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->gone);
    free(p);
}

/* Under the lock: false when this worker should exit (idle too long, or
 * shut down with nothing left to run). */
static bool wait_for_work(cio__thread_pool *p) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    double whole = (double)(time_t)p->idle_timeout;
    until.tv_sec += (time_t)whole;
    until.tv_nsec += (long)((p->idle_timeout - whole) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!p->queue.head) {
        if (p->shutdown)
            return false;
        p->idle++;
        int r = pthread_cond_timedwait(&p->work, &p->mu, &until);
        p->idle--;
        if (r == ETIMEDOUT && !p->queue.head)
            return false;
    }
    return true;
}

/* Under the lock. */
static cio__tp_job *take(cio__thread_pool *p) {
    cio__tp_job *j = p->queue.head;
    cio__tp_unlink(&p->queue, j);
    j->where = CIO__TP_IN_RUNNING;
    cio__tp_append(&p->running, j);
    return j;
}

/* Under the lock: the job leaves the worker's hands; true if orphaned (its
 * loop closed and the pool's destroy already released its future). */
static bool retire(cio__thread_pool *p, cio__tp_job *j) {
    cio__tp_unlink(&p->running, j);
    j->where = CIO__TP_NOWHERE;
    atomic_fetch_add(&p->transit, 1);
    return j->orphaned;
}

static void run(cio__tp_job *j) {
    int queued = CIO__TP_QUEUED;
    /* A job cancelled between take() and here never starts. */
    if (!atomic_compare_exchange_strong(&j->state, &queued, CIO__TP_RUNNING))
        return;
    cio__job_fail_take();
    if (j->bfn) {
        j->err = cio__bytes_settle(j->bytes, cio__bytes_run(j->bfn, j->bytes));
    } else {
        j->result = j->fn(j->arg);
        j->err = cio__job_fail_take(); /* `return cio_fail(-EIO);` */
    }
}

/* Once posted, j belongs to its loop thread; the job's loop reference is
 * dropped only after the post returned (it may still write the eventfd). */
static void deliver(cio__thread_pool *p, cio__tp_job *j, bool orphaned) {
    cio_loop *loop = j->loop;
    if (orphaned) {
        cio__tp_job_free(j);
        cio__loop_unref(loop);
        cio__tp_pool_unref(p); /* the job's; the worker's own keeps p alive */
    } else if (cio__loop_post(loop, &j->node) == 0) {
        cio__loop_unref(loop);
    } else {
        /* Closed: the future belongs to that loop's thread; destroy releases it. */
        pthread_mutex_lock(&p->mu);
        j->where = CIO__TP_IN_DEAD;
        cio__tp_append(&p->dead, j);
        pthread_mutex_unlock(&p->mu);
    }
    atomic_fetch_sub(&p->transit, 1);
}

static void worker_start(cio__thread_pool *p) {
    pthread_mutex_lock(&p->mu);
    unsigned index = p->started++;
    pthread_mutex_unlock(&p->mu);
    char name[32];
    snprintf(name, sizeof name, "%s_%u", p->name_prefix, index);
    name[15] = '\0'; /* the kernel's limit: a long prefix loses its tail */
    pthread_setname_np(pthread_self(), name);
    if (p->initializer)
        p->initializer(p->initarg);
}

static void *worker(void *arg) {
    cio__thread_pool *p = arg;
    worker_start(p);
    cio__tp_job *done = NULL;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        bool orphaned = done && retire(p, done);
        cio__tp_job *next = p->queue.head ? take(p) : NULL;
        if (!done && !next) {
            if (!wait_for_work(p))
                break;
            continue;
        }
        /* With nothing to run next, this worker looks at the queue again
         * right after its post: a submission meanwhile needs no new thread. */
        bool returning = !next;
        p->returning += returning;
        pthread_mutex_unlock(&p->mu);
        if (done)
            deliver(p, done, orphaned);
        if (next)
            run(next);
        done = next;
        pthread_mutex_lock(&p->mu);
        p->returning -= returning;
    }
    p->nworkers--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->mu);
    cio__tp_pool_unref(p);
    return NULL;
}

/* Under the lock. */
static int spawn_worker(cio__thread_pool *p) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    atomic_fetch_add(&p->refs, 1);
    /* Workers take no signals: they belong to the loop (signal handlers,
     * Ctrl-C), and a thread inherits the mask it is created with. */
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

int cio__tp_wake_workers(cio__thread_pool *p, unsigned n, unsigned *signals) {
    *signals = n < p->idle ? n : p->idle;
    unsigned spare = p->idle + p->returning;
    unsigned want = n > spare ? n - spare : 0;
    int r = 0;
    while (want-- > 0 && p->nworkers < p->max_workers)
        if ((r = spawn_worker(p)) < 0)
            break;
    return p->nworkers ? 0 : r;
}

void cio__tp_wait_workers(cio__thread_pool *p) {
    pthread_mutex_lock(&p->mu);
    while (p->nworkers > 0)
        pthread_cond_wait(&p->gone, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
