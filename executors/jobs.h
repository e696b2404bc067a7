/* The job engine: the loop side both pools share (the thread pool and the
 * process pool keep only how their workers run jobs).
 *
 * A job lives in one place at a time: its home loop's unflushed batch
 * (`pending`, that loop's thread only), the shared queue, a worker's hands
 * (the pool's business: `held`), on its way back to its loop (posted), or
 * `orphans` (its loop closed before the completion could be posted). The
 * home loop's submissions of one iteration enter the queue under one lock;
 * a finished job posts its own node to its loop (no allocation). Every job
 * holds a reference to its loop and to the pool until it is released, so a
 * posted completion never touches freed memory; the poster of a completion
 * drops the loop reference right after its post. */
#ifndef CIO_JOBS_H
#define CIO_JOBS_H

#include "cio.h"
#include "executor.h"
#include "list.h"
#include "loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum { CIO__JOB_NOWHERE, CIO__JOB_QUEUED, CIO__JOB_HELD }; /* cio__job.where */

typedef struct cio__job {
    cio__mpsc_node node; /* first: the completion */
    struct cio__job *prev, *next;
    struct cio__jobs *jobs;
    cio_loop *loop;
    cio_future *fut;          /* the job's reference; NULL once dropped early */
    const void *fn;           /* what it runs (names, the observer) */
    struct cio__bytes *bytes; /* a bytes job's buffer, until handed to fut */
    void *result;
    int err;        /* the job's error (0: result) */
    uint8_t where;  /* under the lock */
    bool pending;   /* the home loop's thread only: in its unflushed batch */
    bool cancelled; /* its future ended already; the outcome is dropped */
    bool timed;     /* an observer was on at submission: times are taken */
    long worker;    /* who ran it (thread index or pid), when timed */
    uint64_t submitted_ns, started_ns, ended_ns;
} cio__job;

typedef struct cio__job_list {
    cio__job *head, *tail;
} cio__job_list;

static inline void cio__job_list_append(cio__job_list *l, cio__job *j) {
    cio__dlist_append(l, j);
}

static inline void cio__job_list_unlink(cio__job_list *l, cio__job *j) {
    cio__dlist_unlink(l, j);
}

struct cio__jobs;

/* What a pool adds to the engine. Hooks marked optional may be NULL. */
typedef struct cio__jobs_ops {
    const char *name; /* the observer's executor name */
    size_t job_size;  /* the pool's job record, a cio__job first */
    /* Under the lock: n jobs joined the queue. *kick: what kick must do once
     * the lock is released. 0, or -errno when no worker can run them (they
     * fail with it). */
    int (*queued)(struct cio__jobs *e, unsigned n, unsigned *kick);
    void (*kick)(struct cio__jobs *e, unsigned kick);
    /* Under the lock: a worker holds j, whose future is ending cancelled:
     * it must not start, or its result is dropped. */
    void (*stop)(cio__job *j);
    /* Optional, under the lock: stops j if it has not started; whether it
     * never will (concurrent.futures' cancel_futures). */
    bool (*unstart)(cio__job *j);
    /* Optional, on j's loop thread as its completion arrives: brings the
     * outcome and times from where the worker left them into j. */
    void (*settle)(cio__job *j);
    /* Frees the pool's part of j (not j itself); home: on the thread of the
     * pool's home loop. */
    void (*release)(cio__job *j, bool home);
    /* Under the lock: visit(j, ctx) for every job a worker holds. */
    void (*each_held)(struct cio__jobs *e, void (*visit)(cio__job *j, void *ctx), void *ctx);
    /* Optional, under the lock: shutdown has begun (wake idle workers). */
    void (*stopping)(struct cio__jobs *e);
    /* shutdown(wait): blocks until the workers are gone. */
    void (*wait)(struct cio__jobs *e);
    /* Optional, at destroy: lets the workers wind down without a waiter. */
    void (*abandon)(struct cio__jobs *e);
    /* The last reference went: frees the pool's resources (not e). */
    void (*free)(struct cio__jobs *e);
} cio__jobs_ops;

/* The engine's state, first in each pool. */
typedef struct cio__jobs {
    cio_executor base;
    const cio__jobs_ops *ops;
    pthread_mutex_t mu; /* the queue, the orphans and the pool's shared state */
    cio__job_list queue;
    cio__job_list orphans; /* ended after their loop closed */
    bool owner_gone;       /* under the lock: destroy has run */
    _Atomic bool shutdown; /* read without the lock by submit's early check */
    _Atomic long refs;     /* owner + live jobs + the pool's threads */
    /* The first loop to submit; set once. Only its thread touches the
     * fields below, without the lock. */
    _Atomic(cio_loop *) home;
    cio__flush flush;
    cio__job_list pending;
    unsigned npend, nfree;
    cio__job *free_jobs; /* recycled records */
} cio__jobs;

/* Sets up e, zeroed, as an executor with ex_ops whose pool adds ops. */
void cio__jobs_init(cio__jobs *e, const cio_executor_ops *ex_ops, const cio__jobs_ops *ops);
/* Undoes init for a pool that never started (no job, no thread). */
void cio__jobs_fini(cio__jobs *e);
void cio__jobs_ref(cio__jobs *e);
/* The last one frees the pool (ops->free, then e). */
void cio__jobs_unref(cio__jobs *e);

/* On a loop thread: a zeroed record of ops->job_size bytes (timed when the
 * job observer is on), or NULL with errno (ESHUTDOWN, ENOMEM). */
cio__job *cio__jobs_alloc(cio__jobs *e);
/* On a loop thread: submits j (fn, bytes and the pool's part filled in; the
 * engine owns j and its bytes from now on). Its future, or NULL with errno
 * (ESHUTDOWN, ENOMEM, or why no worker could be had). */
cio_future *cio__jobs_submit(cio__jobs *e, cio__job *j);
/* A pool's cio_executor_ops.shutdown (ex: its cio__jobs): flush, stop
 * accepting, cancel_futures, wait. 0 or -ECANCELED (a waiting task). */
int cio__jobs_shutdown(cio_executor *ex, bool wait, bool cancel_futures);
/* Its cio_executor_ops.destroy: shutdown without waiting, closed loops'
 * jobs let go, the owner's reference dropped. */
void cio__jobs_destroy(cio_executor *ex);

/* Under the lock: the queue's head moves to a worker's hands. */
cio__job *cio__jobs_take(cio__jobs *e);
/* Under the lock: the held jobs on l go back to the queue's head, in order. */
void cio__jobs_requeue_front(cio__jobs *e, cio__job_list *l);
/* A worker's side: j, which the caller took out of its lists and set
 * NOWHERE under the lock, goes back to its loop (the loop reference is
 * dropped after the post). locked: the caller holds the lock. */
void cio__jobs_post(cio__jobs *e, cio__job *j, bool locked);

/* Blocks for shutdown(wait), keeping a task's loop running meanwhile. */
int cio__jobs_wait(cio__jobs *e);

#endif
