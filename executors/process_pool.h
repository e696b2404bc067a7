/* The process pool's state, shared by its loop side (process_pool.c) and
 * its I/O thread (process_pool_io.c). The job engine (jobs.h) does the loop
 * side's bookkeeping; a job a worker holds is on that worker's list (or on
 * `dying`), linked through its cio__job's prev/next. */
#ifndef CIO_PROCESS_POOL_H
#define CIO_PROCESS_POOL_H

#include "fork_server.h"
#include "jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define CIO__PP_PIPELINE 32 /* most jobs a worker holds */
#define CIO__PP_MAX_WORKERS 256
#define CIO__PP_SPAWN_TRIES 3 /* spawn failures in a row before queued jobs fail */

typedef struct cio__pp_job {
    cio__job job; /* first */
    cio__pp_slot *slot;
    struct cio__pp_worker *worker; /* NULL while queued in the pool */
    double sent;                   /* when it went to the worker */
    pid_t grave;                   /* in `dying`: the dead worker whose status it waits for */
} cio__pp_job;

typedef struct cio__pp_worker {
    pid_t pid;
    int fd;             /* -1: no process in this place (one is asked for) */
    int pidfd;          /* -1: none (old kernel), kill by pid */
    cio__job_list held; /* sent, not answered, in order */
    int nout;
    unsigned jobs_left; /* max_tasks_per_child budget (UINT_MAX: none) */
    unsigned long replies;
    cio__pp_slot *stolen[CIO__PP_PIPELINE]; /* sent here, then given to another worker: */
    unsigned nstolen;                       /* freed once this one has passed them */
    size_t partial;                         /* bytes of a reply pointer already read */
    double last_reply;
    char rbuf[sizeof(void *)];
} cio__pp_worker;

typedef struct cio__pp_pool {
    cio__jobs jobs;  /* first; its lock guards everything the I/O thread touches */
    cio__job *dying; /* jobs of a dead worker, ended once the server reports how it died */
    cio__pp_worker workers[CIO__PP_MAX_WORKERS];
    unsigned nworkers;
    int ctl;
    pid_t server;
    int wake;        /* eventfd: the I/O thread has news */
    double job_time; /* moving average of a job's run time, seconds */
    cio__fs_config cfg;
    unsigned want;        /* replacements not asked for yet */
    double spawn_at;      /* ...and not before this time (backoff) */
    unsigned spawn_fails; /* failed forks or deaths before any job, in a row */
    double steal_at;      /* when to look for a stuck worker again (0: no need) */
    pthread_t io;
    bool stopping, debug;
    bool io_claimed; /* someone joins or has detached the I/O thread */
    /* The home loop's thread only: slots reused without the shm allocator's lock. */
    cio__pp_slot *free_slots;
} cio__pp_pool;

static inline cio__pp_job *cio__pp_job_of(cio__job *j) {
    return (cio__pp_job *)j;
}

/* The I/O thread's body; returns when stopping and nothing is in flight,
 * after closing the channels and reaping the fork server. */
void cio__pp_io_main(cio__pp_pool *p);
/* Wakes the I/O thread. */
void cio__pp_poke(cio__pp_pool *p);
/* Asks the fork server for n workers (a spawn request byte each). */
int cio__pp_ask_spawn(cio__pp_pool *p, unsigned n);
/* A new worker in place w (its budget full). */
void cio__pp_worker_init(const cio__pp_pool *p, cio__pp_worker *w, pid_t pid, int fd, int pidfd);
/* Closes its descriptors; the place is empty again. */
void cio__pp_worker_close(cio__pp_worker *w);

#endif
