/* The epoll backend, for hosts where io_uring is blocked or missing.
 *
 * A request is tried as the plain non-blocking syscall (MSG_DONTWAIT,
 * RWF_NOWAIT) when the loop next runs; if the fd is not ready the request
 * parks on the fd until epoll says it is, then is tried again. Each fd is
 * registered once, edge-triggered for in and out (as mio does), and the
 * backend remembers what it knows of the fd's readiness, so that a socket
 * that just said "empty" is not asked again before an edge comes. File
 * operations epoll cannot wait for go to a few threads (backend_epoll_pool.c).
 *
 * An fd closed behind cio's back (close(2), not cio_close) leaves a stale
 * registration behind; a number reused afterwards would then never get an
 * event. So before a request parks on an fd whose lifetime cio does not own
 * (fd_owned: streams, servers, signalfd, the wakeup), the registration is
 * re-checked with EPOLL_CTL_MOD (ENOENT: add it again). */
#include "backend_epoll.h"

#include "fault.h"
#include "vec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { ACCEPT_BATCH = 64 }; /* multishot accepts per readiness, then others run */
#define POOL_KEY UINT64_MAX /* epoll data of the pool's eventfd */
#define EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET)

typedef struct ep {
    cio__backend base;
    int epfd;
    cio__ep_fd *fds;
    size_t nfds;
    cio__list sub;  /* submitted, not tried yet */
    cio__list done; /* ended outside run(): done() runs in run() */
    unsigned inflight;
    bool pool_on;
    cio__ep_pool pool;
} ep;

static const cio__backend_ops ep_ops;

/* ---- bookkeeping ---- */

static cio__ep_fd *state(ep *e, int fd) {
    if (fd < 0)
        return NULL;
    size_t cap = e->nfds;
    if (cio__vec_reserve(e->fds, &cap, (size_t)fd + 1, 64) < 0)
        return NULL;
    for (; e->nfds < cap; e->nfds++)
        e->fds[e->nfds] = (cio__ep_fd){.nonblock = EP_UNKNOWN, .ready = EP_IN | EP_OUT};
    return &e->fds[fd];
}

static bool counted(const cio__req *r) {
    return !(r->flags & CIO__REQ_BACKGROUND);
}

/* The request's last done(): it is the owner's again from here on. */
static void finish(ep *e, cio__req *r, int res) {
    r->bstate = 0;
    if (counted(r))
        e->inflight--;
    r->done(r, res, 0);
}

/* Ends r where done() must not run yet (cancel, fd_closing): run() calls it. */
static void finish_later(ep *e, cio__req *r, int res) {
    r->bres = res;
    r->bstate = EP_DONE;
    cio__list_push_back(&e->done, &r->blink);
}

/* Registers fd (edge-triggered, in and out) or re-checks a registration cio
 * does not own. 0, -EPERM for a file epoll cannot watch, or another error. */
static int watch(ep *e, cio__ep_fd *f, int fd) {
    struct epoll_event ev = {.events = EVENTS, .data.u64 = (uint64_t)f->gen << 32 | (uint32_t)fd};
    if (f->registered && f->owned)
        return 0;
    if (f->registered && epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    /* EEXIST: registered in an earlier life of the state; MOD brings its
     * data up to this generation. */
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 &&
        (errno != EEXIST || epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) < 0))
        return -errno;
    if (!f->registered)
        f->nonblock = EP_UNKNOWN; /* a new registration: maybe a new file */
    f->registered = true;
    return 0;
}

static void park(cio__ep_fd *f, cio__req *r, int dir) {
    EP_SET_STATE(r, EP_PARKED);
    r->bres = dir;
    cio__list_push_back(&f->waiters, &r->blink);
}

static void to_pool(ep *e, cio__req *r) {
    if (!e->pool_on) {
        int err = cio__ep_pool_init(&e->pool);
        if (err < 0) {
            finish(e, r, err);
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = POOL_KEY};
        if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->pool.efd, &ev) < 0) {
            err = -errno;
            cio__ep_pool_destroy(&e->pool);
            finish(e, r, err);
            return;
        }
        e->pool_on = true;
    }
    r->bstate = EP_POOL;
    int err = cio__ep_pool_submit(&e->pool, r);
    if (err < 0)
        finish(e, r, err);
}

/* A short read or write of a byte stream emptied (filled) the socket: the
 * next request parks at once instead of asking again. Not after a hang-up:
 * its edge may have come with the data just read, and the EOF behind it
 * would never be asked for. */
static void note_result(cio__ep_fd *f, const cio__req *r, long k) {
    if (!f || !f->owned || k < 0)
        return;
    if ((r->op == CIO__OP_RECV || r->op == CIO__OP_READ) && (uint32_t)k < r->len && !f->hup)
        f->ready &= ~EP_IN;
    else if ((r->op == CIO__OP_SEND || r->op == CIO__OP_WRITE) && (uint32_t)k < r->len)
        f->ready &= ~EP_OUT;
}

static bool multishot(const cio__req *r) {
    return r->flags & CIO__REQ_MULTISHOT;
}

/* An owned byte stream that said "empty" is not asked again before an edge
 * (nor polled for input). */
static bool known_empty(const cio__ep_fd *f, const cio__req *r) {
    if (!f || !f->registered || !f->owned || (f->ready & EP_IN))
        return false;
    return r->op == CIO__OP_RECV || r->op == CIO__OP_READ ||
           (r->op == CIO__OP_POLL && !(r->len & POLLOUT) && !(r->bstate & EP_HAVE_EVENTS));
}

/* Waits for fd's readiness, or for a thread when epoll cannot watch it. */
static void wait_for(ep *e, cio__ep_fd *f, cio__req *r, int dir) {
    f->ready &= (uint8_t)~dir;
    int w = watch(e, f, r->fd);
    if (w == -EPERM && r->op <= CIO__OP_WRITEV)
        to_pool(e, r); /* a regular file that missed the page cache */
    else if (w < 0)
        finish(e, r, w);
    else
        park(f, r, dir);
}

/* Tries r, in run(): ends it, parks it or hands it to a thread. A multishot
 * accept takes a batch, then waits its turn behind the other requests. */
static void attempt(ep *e, cio__req *r) {
    EP_SET_STATE(r, EP_ACTIVE);
    for (int batch = 0; batch < ACCEPT_BATCH; batch++) {
        cio__ep_fd *f = r->op != CIO__OP_NOP && r->op <= CIO__OP_POLL ? state(e, r->fd) : NULL;
        int dir = EP_IN;
        bool pool = false;
        long k = known_empty(f, r) ? -EAGAIN : cio__ep_try(f, r, &dir, &pool);
        if (k == -EAGAIN && pool) {
            to_pool(e, r);
            return;
        }
        if (k == -EAGAIN && dir) {
            if (f)
                wait_for(e, f, r, dir);
            else
                finish(e, r, -ENOMEM);
            return;
        }
        note_result(f, r, k);
        if (multishot(r) && k >= 0) {
            r->done(r, (int)k, CIO__MORE);
            if (!(r->bstate & EP_DROP))
                continue;
            k = -ECANCELED; /* its owner cancelled it meanwhile */
        }
        finish(e, r, k > INT32_MAX ? INT32_MAX : (int)k);
        return;
    }
    EP_SET_STATE(r, EP_SUBMITTED); /* the rest of the queue next time round */
    cio__list_push_back(&e->sub, &r->blink);
}

/* ---- the table ---- */

static int ep_submit(cio__backend *b, cio__req *r) {
    ep *e = (ep *)b;
    if (CIO__FAULT(CIO__FAULT_SQE))
        return -EBUSY;
    r->bstate = EP_SUBMITTED | (r->flags & CIO__REQ_POLL_FIRST ? EP_FIRST_WAIT : 0);
    cio__list_push_back(&e->sub, &r->blink);
    if (counted(r))
        e->inflight++;
    return 0;
}

static void unpark(ep *e, cio__req *r) {
    cio__list_remove(&e->fds[r->fd].waiters, &r->blink);
}

static int ep_cancel(cio__backend *b, cio__req *r) {
    ep *e = (ep *)b;
    switch (EP_STATE(r)) {
    case EP_ACTIVE:
        r->bstate |= EP_DROP;
        break;
    case EP_SUBMITTED:
        cio__list_remove(&e->sub, &r->blink);
        finish_later(e, r, -ECANCELED);
        break;
    case EP_PARKED:
        unpark(e, r);
        finish_later(e, r, -ECANCELED);
        break;
    case EP_POOL:
        if (cio__ep_pool_cancel(&e->pool, r))
            finish_later(e, r, -ECANCELED);
        break; /* started: it ends by itself, with its real result */
    }
    return 0;
}

static void ep_cancel_all(cio__backend *b) {
    ep *e = (ep *)b;
    while (e->sub.head)
        ep_cancel(b, CIO__EP_REQ(e->sub.head));
    for (size_t fd = 0; fd < e->nfds; fd++)
        while (e->fds[fd].waiters.head)
            ep_cancel(b, CIO__EP_REQ(e->fds[fd].waiters.head));
    if (!e->pool_on)
        return;
    cio__list queued = {0};
    cio__ep_pool_cancel_all(&e->pool, &queued);
    for (cio__list_node *x; (x = cio__list_pop_front(&queued));)
        finish_later(e, CIO__EP_REQ(x), -ECANCELED);
}

static void ep_fd_closing(cio__backend *b, int fd) {
    ep *e = (ep *)b;
    if (fd < 0 || (size_t)fd >= e->nfds)
        return;
    cio__ep_fd *f = &e->fds[fd];
    for (cio__list_node *x; (x = cio__list_pop_front(&f->waiters));)
        finish_later(e, CIO__EP_REQ(x), -EBADF);
    cio__list_each(&e->sub, it, next) {
        cio__req *r = CIO__EP_REQ(it);
        if (r->fd == fd && r->op != CIO__OP_NOP && r->op <= CIO__OP_POLL) {
            cio__list_remove(&e->sub, it);
            finish_later(e, r, -EBADF);
        }
    }
    if (f->registered)
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
    *f = (cio__ep_fd){.gen = f->gen + 1, .nonblock = EP_UNKNOWN, .ready = EP_IN | EP_OUT};
}

/* A fresh life for the fd: whatever the state knew may be of a file that
 * had this number before (closed with close(2) behind cio's back). */
static void ep_fd_owned(cio__backend *b, int fd) {
    cio__ep_fd *f = state((ep *)b, fd);
    if (!f)
        return;
    *f = (cio__ep_fd){.gen = f->gen + 1,
                      .owned = true,
                      .nonblock = EP_UNKNOWN,
                      .ready = EP_IN | EP_OUT,
                      .waiters = f->waiters};
}

static unsigned ep_inflight(const cio__backend *b) {
    return ((const ep *)b)->inflight;
}

/* ---- running ---- */

static int start_submitted(ep *e) {
    cio__list batch = e->sub; /* what done() submits waits for the next run */
    int n = 0;
    e->sub = (cio__list){0};
    for (cio__list_node *x; (x = cio__list_pop_front(&batch));) {
        attempt(e, CIO__EP_REQ(x));
        n++;
    }
    return n;
}

/* epoll's readiness for fd: the parked requests it may help go back to the
 * queue of requests to try (so that a done() that cancels one finds it in a
 * list it knows). */
static void ready_fd(ep *e, uint64_t key, uint32_t events) {
    int fd = (int)(uint32_t)key;
    if ((size_t)fd >= e->nfds || e->fds[fd].gen != (uint32_t)(key >> 32))
        return; /* a registration of an earlier life of this fd number */
    cio__ep_fd *f = &e->fds[fd];
    uint8_t dir = 0;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLERR | EPOLLHUP))
        dir |= EP_IN;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        dir |= EP_OUT;
    f->ready |= dir;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        f->hup = true;
    cio__list_each(&f->waiters, it, next) { /* oldest first: the order they parked in */
        cio__req *r = CIO__EP_REQ(it);
        if (!(r->bres & dir))
            continue;
        unpark(e, r);
        EP_SET_STATE(r, EP_SUBMITTED);
        if (r->op == CIO__OP_POLL) {
            r->bres = (int)events;
            r->bstate |= EP_HAVE_EVENTS;
        }
        cio__list_push_back(&e->sub, &r->blink);
    }
}

static void pool_done(ep *e) {
    cio__list done = {0};
    cio__ep_pool_take_done(&e->pool, &done);
    for (cio__list_node *x; (x = cio__list_pop_front(&done));)
        finish(e, CIO__EP_REQ(x), CIO__EP_REQ(x)->bres);
}

static int run_done(ep *e) {
    int n = 0;
    for (cio__list_node *x; (x = cio__list_pop_front(&e->done));) {
        finish(e, CIO__EP_REQ(x), CIO__EP_REQ(x)->bres);
        n++;
    }
    return n;
}

static int wait_events(ep *e, struct epoll_event *evs, int max, double timeout) {
    if (timeout < 0)
        return epoll_wait(e->epfd, evs, max, -1);
    struct timespec ts = {.tv_sec = (time_t)timeout,
                          .tv_nsec = (long)((timeout - (double)(time_t)timeout) * 1e9)};
    int n = epoll_pwait2(e->epfd, evs, max, &ts, NULL);
    if (n < 0 && errno == ENOSYS) /* before Linux 5.11: milliseconds, rounded up */
        n = epoll_wait(e->epfd, evs, max, (int)(timeout * 1000 + 0.999));
    return n;
}

static int ep_run(cio__backend *b, double timeout) {
    ep *e = (ep *)b;
    int handled = run_done(e) + start_submitted(e);
    if (handled || e->done.head || e->sub.head)
        timeout = 0;
    if (timeout == 0 && !e->inflight)
        return handled; /* busy, and nothing waits in the kernel: no syscall */
    struct epoll_event evs[128];
    int n = wait_events(e, evs, 128, timeout);
    if (n < 0)
        return errno == EINTR ? handled : -errno;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == POOL_KEY)
            pool_done(e);
        else
            ready_fd(e, evs[i].data.u64, evs[i].events);
    }
    return handled + start_submitted(e) + run_done(e);
}

static void ep_destroy(cio__backend *b) {
    ep *e = (ep *)b;
    if (e->pool_on)
        cio__ep_pool_destroy(&e->pool);
    close(e->epfd);
    free(e->fds);
    free(e);
}

cio__backend *cio__backend_epoll_new(unsigned entries, const char **why) {
    (void)entries;
    ep *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0) {
        int err = errno;
        free(e);
        if (why)
            *why = "epoll_create1 failed";
        errno = err;
        return NULL;
    }
    e->base.ops = &ep_ops;
    e->base.kind = CIO_BACKEND_EPOLL;
    return &e->base;
}

static const cio__backend_ops ep_ops = {
    .name = "epoll",
    .submit = ep_submit,
    .cancel = ep_cancel,
    .cancel_all = ep_cancel_all,
    .fd_closing = ep_fd_closing,
    .fd_owned = ep_fd_owned,
    .run = ep_run,
    .inflight = ep_inflight,
    .destroy = ep_destroy,
};
