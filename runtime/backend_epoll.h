/* The epoll backend's parts: the backend (backend_epoll.c, readiness and the
 * plain syscall) and its threads for file operations that would block
 * (backend_epoll_pool.c), as libuv does. Loop thread only, except where a
 * function says otherwise. */
#ifndef CIO_BACKEND_EPOLL_H
#define CIO_BACKEND_EPOLL_H

#include "backend.h"
#include <pthread.h>
#include <stdbool.h>

/* Requests run to completion on a few threads. Lock order: only pool->mu. */
typedef struct cio__ep_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cio__req *queue_head, *queue_tail; /* waiting for a thread */
    cio__req *done_head, *done_tail;   /* finished, for the loop */
    pthread_t threads[4];
    unsigned nthreads, idle;
    bool stop;
    int efd; /* eventfd: written when done goes from empty to not */
} cio__ep_pool;

/* 0 or a negative errno (no eventfd). */
int cio__ep_pool_init(cio__ep_pool *p);
/* Waits for the running requests to end (their results are dropped: loop
 * close only comes here once nothing may wait for them), then frees all. */
void cio__ep_pool_destroy(cio__ep_pool *p);
/* Queues r; its blocking syscall's result lands in r->bres. 0 or -errno. */
int cio__ep_pool_submit(cio__ep_pool *p, cio__req *r);
/* Takes r back if no thread has started it (true), else false. */
bool cio__ep_pool_cancel(cio__ep_pool *p, cio__req *r);
/* Takes every request no thread has started, as a list linked by bnext. */
cio__req *cio__ep_pool_cancel_all(cio__ep_pool *p);
/* The finished requests, as a list linked by bnext (the eventfd is read). */
cio__req *cio__ep_pool_take_done(cio__ep_pool *p);
/* Runs r's operation as a blocking syscall (any thread). */
int cio__ep_blocking(cio__req *r);

#endif
