/* The thread pool's workers: started on demand, idle ones reused first, gone
 * after idle_timeout without work. A worker takes the lock once per job: in
 * that one critical section it hands back the job it finished and takes the
 * next, and it posts the finished one's completion after unlocking. */
#include "bytes.h"
#include "fault.h"
#include "job.h"
#include "thread_pool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#define NS_PER_SECOND 1000000000L
#define THREAD_NAME_MAX 16 /* the kernel's limit, with the NUL */

void cio__tp_deadline(double secs, struct timespec *until) {
    clock_gettime(CLOCK_MONOTONIC, until);
    double whole = (double)(time_t)secs;
    until->tv_sec += (time_t)whole;
    until->tv_nsec += (long)((secs - whole) * 1e9);
    if (until->tv_nsec >= NS_PER_SECOND) {
        until->tv_sec++;
        until->tv_nsec -= NS_PER_SECOND;
    }
}

/* Under the lock: false when this worker should exit (idle too long, or
 * shut down with nothing left to run). */
static bool wait_for_work(cio__thread_pool *p) {
    struct timespec until;
    cio__tp_deadline(p->idle_timeout, &until);
    while (!p->jobs.queue.head) {
        if (p->jobs.shutdown)
            return false;
        p->idle++;
        int r = pthread_cond_timedwait(&p->work, &p->jobs.mu, &until);
        p->idle--;
        if (r == ETIMEDOUT && !p->jobs.queue.head)
            return false;
    }
    return true;
}

/* Under the lock. */
static cio__tp_job *take(cio__thread_pool *p) {
    cio__job *j = cio__jobs_take(&p->jobs);
    cio__job_list_append(&p->running, j);
    return (cio__tp_job *)j;
}

/* Under the lock: the job leaves the worker's hands. */
static void retire(cio__thread_pool *p, cio__tp_job *j) {
    cio__job_list_unlink(&p->running, &j->job);
    j->job.where = CIO__JOB_NOWHERE;
}

static void run(cio__tp_job *j, unsigned index) {
    int queued = CIO__TP_QUEUED;
    /* A job cancelled between take() and here never starts. */
    if (!atomic_compare_exchange_strong(&j->state, &queued, CIO__TP_RUNNING))
        return;
    if (j->job.timed) {
        j->job.worker = index;
        j->job.started_ns = cio__job_now_ns();
    }
    cio__job_fail_take();
    if (j->bfn) {
        j->job.err = cio__bytes_settle(j->job.bytes, cio__bytes_run(j->bfn, j->job.bytes));
    } else {
        j->job.result = j->fn(j->arg);
        j->job.err = cio__job_fail_take(); /* `return cio_fail(-EIO);` */
    }
    if (j->job.timed)
        j->job.ended_ns = cio__job_now_ns();
}

static unsigned worker_start(cio__thread_pool *p) {
    pthread_mutex_lock(&p->jobs.mu);
    unsigned index = p->started++;
    pthread_mutex_unlock(&p->jobs.mu);
    char name[32];
    snprintf(name, sizeof name, "%s_%u", p->name_prefix, index);
    name[THREAD_NAME_MAX - 1] = '\0'; /* a long prefix loses its tail */
    pthread_setname_np(pthread_self(), name);
    if (p->initializer)
        p->initializer(p->initarg);
    return index;
}

static void *worker(void *arg) {
    cio__thread_pool *p = arg;
    unsigned index = worker_start(p);
    cio__tp_job *done = NULL;
    pthread_mutex_lock(&p->jobs.mu);
    for (;;) {
        if (done)
            retire(p, done);
        cio__tp_job *next = p->jobs.queue.head ? take(p) : NULL;
        if (!done && !next) {
            if (!wait_for_work(p))
                break;
            continue;
        }
        /* With nothing to run next, this worker looks at the queue again
         * right after its post: a submission meanwhile needs no new thread. */
        bool returning = !next;
        p->returning += returning;
        pthread_mutex_unlock(&p->jobs.mu);
        if (done)
            cio__jobs_post(&p->jobs, &done->job, false);
        if (next)
            run(next, index);
        done = next;
        pthread_mutex_lock(&p->jobs.mu);
        p->returning -= returning;
    }
    p->nworkers--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->jobs.mu);
    cio__jobs_unref(&p->jobs);
    return NULL;
}

/* Under the lock. */
static int spawn_worker(cio__thread_pool *p) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    cio__jobs_ref(&p->jobs);
    /* Workers take no signals: they belong to the loop (signal handlers,
     * Ctrl-C), and a thread inherits the mask it is created with. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = CIO__FAULT(CIO__FAULT_THREAD) ? EAGAIN : pthread_create(&th, &attr, worker, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        atomic_fetch_sub(&p->jobs.refs, 1);
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
    pthread_mutex_lock(&p->jobs.mu);
    while (p->nworkers > 0)
        pthread_cond_wait(&p->gone, &p->jobs.mu);
    pthread_mutex_unlock(&p->jobs.mu);
}
