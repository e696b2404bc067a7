/* The thread pool's state, shared by its loop side (thread_pool.c) and its
 * workers (thread_pool_worker.c).
 *
 * A job lives in one place at a time: the home loop's unflushed batch
 * (`pending`, loop thread only), the shared queue, a worker's hands
 * (`running`), on its way to its loop (`transit` counts those), or the
 * `dead` list (its loop closed before the completion could be posted).
 * Every job holds a reference to its loop and to the pool until it is
 * released, so a posted completion never touches freed memory. */
#ifndef CIO_THREAD_POOL_H
#define CIO_THREAD_POOL_H

#include "cio.h"
#include "handle.h"
#include "mpsc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

enum { CIO__TP_QUEUED, CIO__TP_RUNNING, CIO__TP_CANCELLED }; /* job state */
enum { CIO__TP_NOWHERE, CIO__TP_IN_QUEUE, CIO__TP_IN_RUNNING, CIO__TP_IN_DEAD };

typedef struct cio__tp_job {
    cio__mpsc_node node; /* first: the completion */
    struct cio__tp_job *prev, *next;
    bool in_pending; /* loop thread only */
    uint8_t where;   /* under the lock */
    bool orphaned;   /* under the lock: its loop closed, the future was released */
    struct cio__thread_pool *pool;
    cio_loop *loop;
    cio_future *fut;
    cio_fn fn;
    void *arg;
    void *result;
    cio_bytes_fn bfn;         /* a bytes job: bfn on `bytes` instead of fn(arg) */
    struct cio__bytes *bytes; /* owned by the job until handed to its future */
    int err;                  /* the job's error (0: result) */
    _Atomic int state;
} cio__tp_job;

typedef struct cio__tp_list {
    cio__tp_job *head, *tail;
} cio__tp_list;

typedef struct cio__thread_pool {
    cio_executor base;
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job is queued, or shutdown */
    pthread_cond_t gone; /* a worker exited */
    cio__tp_list queue, running, dead;
    unsigned max_workers, nworkers, idle, started;
    unsigned returning;       /* workers delivering a completion, then back to the queue */
    _Atomic bool shutdown;    /* read without the lock by submit's early check */
    _Atomic long refs;        /* owner + workers + live jobs */
    _Atomic unsigned transit; /* completions between a worker and its loop */
    double idle_timeout;
    char name_prefix[16];
    void (*initializer)(void *);
    void *initarg;
    /* The first loop to submit; set once. Only its thread touches the
     * fields below, without the lock: the iteration's submissions, recycled jobs. */
    _Atomic(cio_loop *) home;
    cio__flush flush;
    cio__tp_list pending;
    unsigned npend, nfree;
    cio__tp_job *free_jobs;
} cio__thread_pool;

static inline void cio__tp_append(cio__tp_list *l, cio__tp_job *j) {
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static inline void cio__tp_unlink(cio__tp_list *l, cio__tp_job *j) {
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
}

void cio__tp_pool_unref(cio__thread_pool *p);
/* Frees a job and the bytes buffer it still owns. */
void cio__tp_job_free(cio__tp_job *j);
/* Under the lock: workers for n new jobs, idle ones first (*signals: how
 * many to wake with cio__tp_signal once the lock is released, so a woken
 * worker does not sleep again on the lock still held); 0, or the error of
 * creating a thread when no worker at all exists to run them. */
int cio__tp_wake_workers(cio__thread_pool *p, unsigned n, unsigned *signals);
static inline void cio__tp_signal(cio__thread_pool *p, unsigned signals) {
    while (signals-- > 0)
        pthread_cond_signal(&p->work);
}
/* Blocks until no worker is left (takes the lock). */
void cio__tp_wait_workers(cio__thread_pool *p);
/* Whether ex is a thread pool. */
bool cio__tp_is(const cio_executor *ex);
/* cio_run's end: shuts p down and waits at most timeout seconds (< 0: no
 * limit) for its workers; then logs a warning naming the jobs still
 * running. 0 or -ETIMEDOUT. */
int cio__tp_shutdown_within(cio_executor *ex, double timeout);

#endif
