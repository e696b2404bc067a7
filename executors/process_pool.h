/* The process pool's state, shared by its loop side (process_pool.c) and
 * its I/O thread (process_pool_io.c). */
#ifndef CIO_PROCESS_POOL_H
#define CIO_PROCESS_POOL_H

#include "fork_server.h"
#include "future.h"
#include "loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define PP_PIPELINE 32 /* most jobs a worker holds */
#define PP_MAX_WORKERS 256
#define PP_SPAWN_TRIES 3 /* spawn failures in a row before queued jobs fail */

typedef struct pp_job {
    cio__mpsc_node node; /* first: the completion */
    struct pp_job *next, *prev;
    struct pp_pool *pool;
    cio_loop *loop;
    cio_future *fut; /* the job's own reference; NULL once dropped on cancel */
    pp_slot *slot;
    struct cio__bytes *bytes; /* a bytes job's buffer in cio_shm, until handed to fut */
    struct pp_worker *worker; /* NULL while queued in the pool */
    double sent;              /* when it went to the worker */
    pid_t grave;              /* in `dying`: the dead worker whose status it waits for */
    int err;
    bool queued;    /* in the pool's queue */
    bool pending;   /* submitted this iteration, not yet handed to the I/O thread */
    bool cancelled; /* its future ended already */
} pp_job;

typedef struct pp_worker {
    pid_t pid;
    int fd;              /* -1: no process in this place (one is asked for) */
    int pidfd;           /* -1: none (old kernel), kill by pid */
    pp_job *head, *tail; /* sent, not answered, in order */
    int nout;
    unsigned jobs_left; /* max_tasks_per_child budget (UINT_MAX: none) */
    unsigned long replies;
    pp_slot *stolen[PP_PIPELINE]; /* sent here, then given to another worker: */
    unsigned nstolen;             /* freed once this one has passed them */
    size_t partial;               /* bytes of a reply pointer already read */
    double last_reply;
    char rbuf[sizeof(void *)];
} pp_worker;

typedef struct pp_pool {
    cio_executor base;
    pthread_mutex_t mu; /* everything the I/O thread touches, below */
    pp_job *qhead, *qtail;
    pp_job *orphans; /* done after their loop closed; released by the owner */
    pp_job *dying;   /* jobs of a dead worker, ended once the server reports how it died */
    pp_worker workers[PP_MAX_WORKERS];
    unsigned nworkers;
    int ctl;
    pid_t server;
    int wake;        /* eventfd: the I/O thread has news */
    double job_time; /* moving average of a job's run time, seconds */
    fs_config cfg;
    unsigned want;        /* replacements not asked for yet */
    double spawn_at;      /* ...and not before this time (backoff) */
    unsigned spawn_fails; /* failed forks or deaths before any job, in a row */
    double steal_at;      /* when to look for a stuck worker again (0: no need) */
    pthread_t io;
    bool shutdown, stopping, debug;
    bool owner_gone;   /* freed without joining the I/O thread */
    bool io_claimed;   /* someone joins or has detached the I/O thread */
    _Atomic long refs; /* owner + live jobs + the I/O thread */
    /* Loop thread only: a submission pokes the I/O thread once per loop
     * iteration, and slots are reused without the shm allocator's lock. */
    cio__flush flush;
    pp_slot *free_slots;
    pp_job *phead, *ptail;
} pp_pool;

/* The I/O thread's body; returns when stopping and nothing is in flight,
 * after closing the channels and reaping the fork server. */
void cio__pp_io_main(pp_pool *p);
void cio__pp_unref(pp_pool *p);
/* Wakes the I/O thread. */
void cio__pp_poke(pp_pool *p);
/* A new worker in place w (its budget full). */
void cio__pp_worker_init(const pp_pool *p, pp_worker *w, pid_t pid, int fd, int pidfd);
/* Closes its descriptors; the place is empty again. */
void cio__pp_worker_close(pp_worker *w);

static inline void pp_list_append(pp_job **h, pp_job **t, pp_job *j) {
    j->next = NULL;
    j->prev = *t;
    if (*t)
        (*t)->next = j;
    else
        *h = j;
    *t = j;
}

static inline void pp_list_unlink(pp_job **h, pp_job **t, pp_job *j) {
    if (j->prev)
        j->prev->next = j->next;
    else
        *h = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        *t = j->prev;
    j->next = j->prev = NULL;
}

#endif
