/* The epoll backend's parts: the backend (backend_epoll.c: registration,
 * parking, the run), its attempts (backend_epoll_try.c: each operation as
 * the non-blocking syscall) and its threads for file operations that would
 * block (backend_epoll_pool.c), as libuv does. Loop thread only, except where a
 * function says otherwise. */
#ifndef CIO_BACKEND_EPOLL_H
#define CIO_BACKEND_EPOLL_H

#include "backend.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum { EP_IN = 1, EP_OUT = 2 }; /* directions a request waits in */
enum { EP_UNKNOWN = -1 };       /* cio__ep_fd.nonblock before it is read */

/* bstate of a request the backend holds. */
enum { EP_SUBMITTED = 1, EP_PARKED, EP_POOL, EP_DONE, EP_ACTIVE /* being tried */ };
#define EP_STATE(r) ((r)->bstate & 0xffu)
#define EP_SET_STATE(r, s) ((r)->bstate = ((r)->bstate & ~0xffu) | (s))
#define EP_CONNECTING (1u << 8)   /* CONNECT: connect(2) said EINPROGRESS */
#define EP_FIRST_WAIT (1u << 9)   /* SEND with POLL_FIRST: park before trying */
#define EP_HAVE_EVENTS (1u << 10) /* POLL: bres holds the events epoll reported */
#define EP_DROP (1u << 11)        /* cancelled while EP_ACTIVE (a multishot's done() did it) */

typedef struct cio__ep_fd {
    uint32_t gen;      /* a new life of the fd number: stale events are dropped */
    bool registered;   /* in the epoll set (in this life, as far as we know) */
    bool owned;        /* cio closes it (fd_closing): no re-check before parking */
    int8_t nonblock;   /* O_NONBLOCK, or EP_UNKNOWN */
    uint8_t ready;     /* EP_IN/EP_OUT: not known to be empty (cleared on EAGAIN) */
    bool hup;          /* the peer hung up: EOF follows the data, with no edge of its own */
    cio__list waiters; /* parked requests (blink), oldest first */
} cio__ep_fd;

/* Tries r's operation as the non-blocking syscall (backend_epoll_try.c). f is
 * the fd's state for operations on an fd (NULL otherwise). The result, or
 * -EAGAIN: park for *dir (0: the caller asked not to wait, MSG_DONTWAIT, so
 * -EAGAIN is the result), or hand it to a thread (*pool). */
long cio__ep_try(cio__ep_fd *f, cio__req *r, int *dir, bool *pool);

/* Requests run to completion on a few threads. Lock order: only pool->mu. */
typedef struct cio__ep_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cio__list queue; /* waiting for a thread (cio__req.blink) */
    cio__list done;  /* finished, for the loop */
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
/* Queues r; its blocking syscall's result lands in r->bres (the pool touches
 * nothing else of r: bstate stays the loop's). 0 or -errno. */
int cio__ep_pool_submit(cio__ep_pool *p, cio__req *r);
/* Takes r back if no thread has started it (true), else false. */
bool cio__ep_pool_cancel(cio__ep_pool *p, cio__req *r);
/* Moves every request no thread has started to the end of *out. */
void cio__ep_pool_cancel_all(cio__ep_pool *p, cio__list *out);
/* Moves the finished requests to the end of *out (the eventfd is read). */
void cio__ep_pool_take_done(cio__ep_pool *p, cio__list *out);
/* The request linked by node. */
#define CIO__EP_REQ(node) cio__list_entry(node, cio__req, blink)
/* Runs r's operation as a blocking syscall (any thread). */
int cio__ep_blocking(cio__req *r);

#endif
