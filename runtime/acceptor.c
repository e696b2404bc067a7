/* Multishot accept: one request in the backend accepts connection after
 * connection; the accepted fds queue here until the server's task takes
 * them. A terminating CQE (EMFILE, an error, a cancel) ends the request; the
 * next cio__acceptor_next reports the error once and then arms it again. */
#include "acceptor.h"

#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct cio__acceptor {
    cio__req req;
    cio_loop *loop;
    int lfd;
    int *fds; /* a ring of accepted fds */
    size_t head, count, cap;
    int error;  /* from the CQE that ended the request; reported once */
    bool armed; /* the multishot request is in the backend */
    bool freed; /* free the struct when the request comes back */
    cio__task *waiter;
};

static void release(cio__acceptor *a) {
    while (a->count) {
        close(a->fds[a->head]);
        a->head = (a->head + 1) % a->cap;
        a->count--;
    }
    free(a->fds);
    free(a);
}

static int push(cio__acceptor *a, int fd) {
    if (a->count == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        int *n = malloc(cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        for (size_t i = 0; i < a->count; i++)
            n[i] = a->fds[(a->head + i) % a->cap];
        free(a->fds);
        a->fds = n;
        a->cap = cap;
        a->head = 0;
    }
    a->fds[(a->head + a->count++) % a->cap] = fd;
    return 0;
}

static void accepted(cio__req *req, int res, unsigned flags) {
    cio__acceptor *a = req->ctx;
    if (!(flags & CIO__MORE))
        a->armed = false;
    if (a->freed) {
        if (res >= 0)
            close(res);
        if (!a->armed)
            release(a);
        return;
    }
    if (res >= 0 && push(a, res) < 0) {
        close(res); /* no memory to queue it: the peer sees a reset */
        res = -ENOMEM;
    }
    if (res < 0 && !a->armed)
        a->error = res;
    if (a->waiter && (a->count || a->error)) {
        cio__task *t = a->waiter;
        a->waiter = NULL;
        cio__task_wake(t, 0);
    }
}

cio__acceptor *cio__acceptor_new(cio_loop *loop, int lfd) {
    cio__acceptor *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->req = (cio__req){
        .done = accepted, .ctx = a, .op = CIO__OP_ACCEPT, .flags = CIO__REQ_MULTISHOT, .fd = lfd};
    a->loop = loop;
    a->lfd = lfd;
    return a;
}

static int arm(cio__acceptor *a) {
    int r = cio__backend_submit(a->loop->backend, &a->req);
    if (r == 0)
        a->armed = true;
    return r;
}

static void forget_waiter(cio__task *t, void *ctx) {
    ((cio__acceptor *)ctx)->waiter = NULL;
    cio__task_wake(t, -ECANCELED);
}

int cio__acceptor_next(cio__acceptor *a) {
    for (;;) {
        if (a->count) {
            int fd = a->fds[a->head];
            a->head = (a->head + 1) % a->cap;
            a->count--;
            return fd;
        }
        if (a->error) {
            int e = a->error;
            a->error = 0;
            return e;
        }
        if (!a->armed) {
            int r = arm(a);
            if (r < 0)
                return r;
        }
        a->waiter = cio__task_current();
        /* Whoever wakes us clears a->waiter first; after an error wake-up a
         * may be gone (freed under us), so it is not touched again. */
        int r = cio__task_park(forget_waiter, a);
        if (r < 0)
            return r;
    }
}

void cio__acceptor_free(cio__acceptor *a) {
    if (!a)
        return;
    a->freed = true;
    if (a->waiter) { /* a task parked in cio__acceptor_next: it must not wait forever */
        cio__task *t = a->waiter;
        a->waiter = NULL;
        cio__task_wake(t, CIO_ESHUTDOWN);
    }
    if (!a->armed) {
        release(a);
        return;
    }
    /* Without room for the cancel, closing the listener ends the request too
     * (the server does so right after, through cio__loop_fd_closing). */
    cio__backend_cancel(a->loop->backend, &a->req);
}
