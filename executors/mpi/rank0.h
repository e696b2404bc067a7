/* Rank 0's side of cio-mpi: the executor (loop thread, mpi_executor.c) and
 * the progress thread that makes every MPI call (progress.c).
 *
 * A job is in one place at a time: this loop iteration's submissions
 * (`pending`, loop thread only), or under `mu`: the queue (not sent yet), a
 * rank's in-flight list (sent, in the order that rank runs them), the done
 * list (its result is in, waiting for the loop), or nowhere (delivered or
 * cancelled off the queue). Only the loop thread (or cio_mpi_main once the
 * loop is gone) frees a job: its loop-side refs are the owner's and the done
 * callback's. One lock: `mu`. */
#ifndef CIO_MPI_RANK0_H
#define CIO_MPI_RANK0_H

#include "cio.h"
#include "list.h"
#include "wire.h"

#include <pthread.h>
#include <stdbool.h>

#define CIO__MPI_COSTS 64

enum { CIO__MPI_NOWHERE, CIO__MPI_PENDING, CIO__MPI_QUEUED, CIO__MPI_SENT, CIO__MPI_DONE };

typedef struct cio__mpi_job {
    struct cio__mpi_job *next, *prev;         /* under mu: queue / in-flight / done */
    struct cio__mpi_job *all_next, *all_prev; /* loop thread: every live job */
    struct cio__mpi_exec *x;
    cio_future *fut; /* the job's own reference */
    uint64_t id;
    uint32_t kind;     /* CIO__MPI_W_SCALAR or _BYTES */
    uint64_t fn;       /* its offset in the image */
    int refs;          /* loop thread */
    int where;         /* under mu */
    int rank;          /* under mu: where it was sent */
    long long sent_ns; /* under mu: when */
    /* The record to send (header + payload): owned by the queue until sent. */
    cio__mpi_wire_job *msg;
    size_t msg_len;
    /* Its result, written by the progress thread before the job is done. */
    int err;
    uint64_t value;
    void *res_buf; /* a bytes job's result (cio_bytes_alloc), out_len bytes */
    size_t out_len;
} cio__mpi_job;

typedef struct cio__mpi_list {
    cio__mpi_job *head, *tail;
    unsigned n;
} cio__mpi_list;

typedef struct cio__mpi_rank {
    cio__mpi_list inflight;
    bool bye; /* progress thread: its last record came */
} cio__mpi_rank;

typedef struct cio__mpi_exec {
    cio_executor base;
    cio_loop *loop; /* rank 0's loop, set before main starts */
    /* A future of that loop, held until the progress thread has ended: the
     * loop's memory stays valid while the thread may still post to it. */
    cio_future *keepalive;
    int nranks; /* MPI ranks, rank 0 included */
    pthread_t progress;
    /* MPI calls, one thread at a time (MPI_THREAD_SERIALIZED): the progress
     * thread holds it but while it sleeps; the loop thread tries it to send
     * new jobs at once. It guards `prog`, the progress thread's state (NULL
     * before that thread starts and once it ends). Taken before `mu`. */
    pthread_mutex_t mpi_mu;
    struct prog *prog;
    pthread_mutex_t mu;
    pthread_cond_t idle; /* nothing queued or in flight (shutdown waits outside a task) */
    cio__mpi_list queue, done;
    cio__mpi_rank *ranks; /* [nranks]; [0] unused */
    /* Run time of each job function seen (a moving average; direct-mapped
     * by offset): how many of its jobs a rank may hold. */
    struct {
        uint64_t fn;
        double avg_ns;
    } costs[CIO__MPI_COSTS];
    /* How long a result takes to reach rank 0 and new jobs a rank (wake-ups
     * included; long on a loaded machine): a moving average that rises fast
     * and falls slowly. A rank holds enough jobs to cover it. */
    double latency_ns;
    unsigned sent_total;   /* jobs sent and not answered yet */
    bool posted;           /* a delivery is scheduled on the loop */
    bool stopping;         /* rank 0's main returned: stop the ranks */
    uint64_t next_id;      /* loop thread */
    cio__mpi_list pending; /* loop thread: submitted this iteration */
    bool flush_scheduled;  /* loop thread: a callback moves `pending` to the queue */
    bool shutdown;         /* loop thread: no more submissions */
    unsigned live;         /* loop thread: submitted, not delivered/cancelled */
    cio_future *drained;   /* loop thread: a task waits in shutdown */
    cio__mpi_job *all;     /* loop thread: every live job */
} cio__mpi_exec;

static inline void cio__mpi_list_append(cio__mpi_list *l, cio__mpi_job *j) {
    cio__dlist_append(l, j);
    l->n++;
}

static inline void cio__mpi_list_unlink(cio__mpi_list *l, cio__mpi_job *j) {
    cio__dlist_unlink(l, j);
    l->n--;
}

/* The executor for a run of nranks ranks (on rank 0, before its loop). */
int cio__mpi_exec_init(cio__mpi_exec *x, int nranks);
/* Starts the progress thread; 0 or a negative errno. */
int cio__mpi_progress_start(cio__mpi_exec *x);
/* After rank 0's loop is gone: stops every rank and joins the progress
 * thread (progress.c). */
void cio__mpi_progress_stop(cio__mpi_exec *x);
/* Then: frees every job left and the executor's state. */
void cio__mpi_exec_release(cio__mpi_exec *x);
/* On the loop thread: a job of kind (CIO__MPI_W_SCALAR or _BYTES); NULL and
 * errno (EPERM, ESHUTDOWN, EINVAL, ENOMEM). */
cio_future *cio__mpi_submit(cio__mpi_exec *x, uint32_t kind, const void *fn, uint64_t arg,
                            const void *in, size_t in_len, size_t out_cap);
/* The progress thread has work (rings rank 0's bell). */
void cio__mpi_progress_kick(cio__mpi_exec *x);
/* On the loop thread, after queueing: sends queued jobs to ranks with room
 * at once if MPI is free, else kicks the progress thread. */
void cio__mpi_progress_send(cio__mpi_exec *x);
/* On the loop thread: jobs whose results came in. */
void cio__mpi_deliver(void *arg);
/* Frees a job whose every reference is gone. */
void cio__mpi_job_free(cio__mpi_job *j);

#endif
