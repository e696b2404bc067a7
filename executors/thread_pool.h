/* The thread pool's state, shared by its loop side (thread_pool.c) and its
 * workers (thread_pool_worker.c). The job engine (jobs.h) does the loop
 * side's bookkeeping; a job a worker holds is on `running`. */
#ifndef CIO_THREAD_POOL_H
#define CIO_THREAD_POOL_H

#include "cio.h"
#include "jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

enum { CIO__TP_QUEUED, CIO__TP_RUNNING, CIO__TP_CANCELLED }; /* cio__tp_job.state */

typedef struct cio__tp_job {
    cio__job job; /* first */
    cio_fn fn;
    void *arg;
    cio_bytes_fn bfn; /* a bytes job: bfn on job.bytes instead of fn(arg) */
    _Atomic int state;
} cio__tp_job;

typedef struct cio__thread_pool {
    cio__jobs jobs;      /* first; its lock guards what follows */
    pthread_cond_t work; /* a job is queued, or shutdown */
    pthread_cond_t gone; /* a worker exited */
    cio__job_list running;
    unsigned max_workers, nworkers, idle, started;
    unsigned returning; /* workers delivering a completion, then back to the queue */
    double idle_timeout;
    char name_prefix[16];
    void (*initializer)(void *);
    void *initarg;
} cio__thread_pool;

/* Under the lock: workers for n new jobs, idle ones first (*signals: how
 * many to wake with cio__tp_signal once the lock is released, so a woken
 * worker does not sleep again on the lock still held); 0, or the error of
 * creating a thread when no worker at all exists to run them. */
int cio__tp_wake_workers(cio__thread_pool *p, unsigned n, unsigned *signals);
static inline void cio__tp_signal(cio__thread_pool *p, unsigned signals) {
    while (signals-- > 0)
        pthread_cond_signal(&p->work);
}
/* CLOCK_MONOTONIC's now + secs. */
void cio__tp_deadline(double secs, struct timespec *until);
/* Blocks until no worker is left (takes the lock). */
void cio__tp_wait_workers(cio__thread_pool *p);
/* Whether ex is a thread pool. */
bool cio__tp_is(const cio_executor *ex);
/* cio_run's end: shuts p down and waits at most timeout seconds (< 0: no
 * limit) for its workers; then logs a warning naming the jobs still
 * running. 0 or -ETIMEDOUT. */
int cio__tp_shutdown_within(cio_executor *ex, double timeout);

#endif
