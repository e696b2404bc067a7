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

enum { IN = 1, OUT = 2 };             /* directions a request waits in */
enum { UNKNOWN = -1 };                /* fd_state.nonblock before it is read */
enum { ACCEPT_BATCH = 64 };           /* multishot accepts per readiness, then others run */
#define POOL_KEY UINT64_MAX           /* epoll data of the pool's eventfd */
#define EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET)

/* bstate of a request the backend holds. */
enum { S_SUBMITTED = 1, S_PARKED, S_POOL, S_DONE, S_ACTIVE /* being tried */ };
#define STATE(r) ((r)->bstate & 0xffu)
#define SET_STATE(r, s) ((r)->bstate = ((r)->bstate & ~0xffu) | (s))
#define CONNECTING (1u << 8) /* CONNECT: connect(2) said EINPROGRESS */
#define FIRST_WAIT (1u << 9) /* SEND with POLL_FIRST: park before trying */
#define HAVE_EVENTS (1u << 10) /* POLL: bres holds the events epoll reported */
#define DROP (1u << 11)        /* cancelled while S_ACTIVE (a multishot's done() did it) */

typedef struct fd_state {
    uint32_t gen;       /* a new life of the fd number: stale events are dropped */
    bool registered;    /* in the epoll set (in this life, as far as we know) */
    bool owned;         /* cio closes it (fd_closing): no re-check before parking */
    int8_t nonblock;    /* O_NONBLOCK, or UNKNOWN */
    uint8_t ready;      /* IN/OUT: not known to be empty (cleared on EAGAIN) */
    cio__req *waiters;  /* parked requests, linked by bnext/bprev */
} fd_state;

typedef struct ep {
    cio__backend base;
    int epfd;
    fd_state *fds;
    size_t nfds;
    cio__req *sub_head, *sub_tail;   /* submitted, not tried yet */
    cio__req *done_head, *done_tail; /* ended outside run(): done() runs in run() */
    unsigned inflight;
    bool pool_on;
    cio__ep_pool pool;
} ep;

static const cio__backend_ops ep_ops;

/* ---- bookkeeping ---- */

static void list_append(cio__req **head, cio__req **tail, cio__req *r) {
    r->bnext = NULL;
    r->bprev = *tail;
    if (*tail)
        (*tail)->bnext = r;
    else
        *head = r;
    *tail = r;
}

static void list_remove(cio__req **head, cio__req **tail, cio__req *r) {
    if (r->bprev)
        r->bprev->bnext = r->bnext;
    else
        *head = r->bnext;
    if (r->bnext)
        r->bnext->bprev = r->bprev;
    else if (tail)
        *tail = r->bprev;
    r->bnext = r->bprev = NULL;
}

static fd_state *state(ep *e, int fd) {
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= e->nfds) {
        size_t n = e->nfds ? e->nfds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        fd_state *nf = realloc(e->fds, n * sizeof *nf);
        if (!nf)
            return NULL;
        for (size_t i = e->nfds; i < n; i++)
            nf[i] = (fd_state){.nonblock = UNKNOWN, .ready = IN | OUT};
        e->fds = nf;
        e->nfds = n;
    }
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
    r->bstate = S_DONE;
    list_append(&e->done_head, &e->done_tail, r);
}

/* ---- trying a request ---- */

/* What poll(2) says of fd now (0: nothing of events). */
static int poll_now(int fd, int events) {
    struct pollfd p = {.fd = fd, .events = (short)events};
    if (poll(&p, 1, 0) < 0)
        return -errno;
    return p.revents & POLLNVAL ? -EBADF : p.revents;
}

static int nonblocking(fd_state *f, int fd) {
    if (f->nonblock == UNKNOWN) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return -errno;
        f->nonblock = (fl & O_NONBLOCK) != 0;
    }
    return f->nonblock;
}

/* An fd without RWF_NOWAIT support (a tty, inotify): a plain read or write
 * once poll(2) says it will not block. A file (procfs, some file systems)
 * goes to a thread: poll(2) says "ready" of files that can still block. */
static long rw_plain(ep *e, cio__req *r, const struct iovec *iov, int n, bool rd, bool *pool) {
    struct stat st;
    if (fstat(r->fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
        *pool = true;
        return -EAGAIN;
    }
    fd_state *f = state(e, r->fd);
    int nb = f ? nonblocking(f, r->fd) : 0;
    if (nb < 0)
        return nb;
    if (!nb) {
        int ev = poll_now(r->fd, rd ? POLLIN : POLLOUT);
        if (ev < 0)
            return ev;
        if (!ev)
            return -EAGAIN;
    }
    long k;
    if (r->off == CIO__OFF_CUR)
        k = rd ? readv(r->fd, iov, n) : writev(r->fd, iov, n);
    else
        k = rd ? preadv(r->fd, iov, n, (off_t)r->off) : pwritev(r->fd, iov, n, (off_t)r->off);
    return k < 0 ? -errno : k;
}

static long try_rw(ep *e, cio__req *r, bool *pool) {
    bool rd = r->op == CIO__OP_READ || r->op == CIO__OP_READV;
    bool vec = r->op == CIO__OP_READV || r->op == CIO__OP_WRITEV;
    struct iovec one = {r->addr, r->len};
    const struct iovec *iov = vec ? r->addr : &one;
    int n = vec ? (int)r->len : 1;
    off_t off = r->off == CIO__OFF_CUR ? -1 : (off_t)r->off;
    long k = rd ? preadv2(r->fd, iov, n, off, RWF_NOWAIT) : pwritev2(r->fd, iov, n, off, RWF_NOWAIT);
    if (k >= 0)
        return k;
    if (errno == EOPNOTSUPP || errno == EINVAL) /* no RWF_NOWAIT here (a directory says EINVAL) */
        return rw_plain(e, r, iov, n, rd, pool);
    return -errno;
}

static int try_accept(ep *e, cio__req *r) {
    fd_state *f = state(e, r->fd);
    int nb = f ? nonblocking(f, r->fd) : 0;
    if (nb < 0)
        return nb;
    /* accept(2) has no per-call MSG_DONTWAIT: a blocking listener is asked
     * only once poll(2) says a connection waits. */
    if (!nb) {
        int ev = poll_now(r->fd, POLLIN);
        if (ev <= 0)
            return ev < 0 ? ev : -EAGAIN;
    }
    int fd = accept4(r->fd, r->addr, r->addr2, SOCK_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* connect(2) on a blocking socket would block the loop: it is made
 * non-blocking for the call only, then waited for with EPOLLOUT. */
static int try_connect(cio__req *r) {
    if (r->bstate & CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        return -err;
    }
    int fl = fcntl(r->fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK))
        fcntl(r->fd, F_SETFL, fl | O_NONBLOCK);
    int k = connect(r->fd, r->addr, r->len);
    int err = k < 0 ? errno : 0;
    if (!(fl & O_NONBLOCK))
        fcntl(r->fd, F_SETFL, fl);
    if (err == EINPROGRESS) {
        r->bstate |= CONNECTING;
        return -EAGAIN;
    }
    return -err;
}

/* Events epoll reported (woken requests) save a poll(2). */
static int poll_try(cio__req *r) {
    unsigned want = r->len | POLLERR | POLLHUP;
    int ev = r->bstate & HAVE_EVENTS ? (int)((unsigned)r->bres & want) : poll_now(r->fd, (int)r->len);
    r->bstate &= ~HAVE_EVENTS;
    return ev == 0 ? -EAGAIN : ev;
}

static int poll_dir(unsigned events) {
    int dir = (events & (POLLIN | POLLPRI | POLLRDHUP) ? IN : 0) | (events & POLLOUT ? OUT : 0);
    return dir ? dir : IN | OUT;
}

/* The result, or -EAGAIN: park for *dir (0: the caller asked not to wait,
 * MSG_DONTWAIT, so -EAGAIN is the result), or hand it to a thread (*pool). */
static long try_op(ep *e, cio__req *r, int *dir, bool *pool) {
    long k;
    *dir = IN;
    *pool = false;
    switch (r->op) {
    case CIO__OP_NOP:
        return 0;
    case CIO__OP_READ:
    case CIO__OP_READV:
        return try_rw(e, r, pool);
    case CIO__OP_WRITE:
    case CIO__OP_WRITEV:
        *dir = OUT;
        return try_rw(e, r, pool);
    case CIO__OP_RECV:
        k = recv(r->fd, r->addr, r->len, r->arg | MSG_DONTWAIT);
        break;
    case CIO__OP_RECVMSG:
        k = recvmsg(r->fd, r->addr, r->arg | MSG_DONTWAIT);
        break;
    case CIO__OP_SEND:
        *dir = OUT;
        if (r->bstate & FIRST_WAIT) {
            r->bstate &= ~FIRST_WAIT;
            return -EAGAIN;
        }
        k = send(r->fd, r->addr, r->len, r->arg | MSG_DONTWAIT);
        break;
    case CIO__OP_SENDMSG:
        *dir = OUT;
        k = sendmsg(r->fd, r->addr, r->arg | MSG_DONTWAIT);
        break;
    case CIO__OP_ACCEPT:
        return try_accept(e, r);
    case CIO__OP_CONNECT:
        *dir = OUT;
        return try_connect(r);
    case CIO__OP_SHUTDOWN:
        return shutdown(r->fd, r->arg) < 0 ? -errno : 0;
    case CIO__OP_POLL:
        *dir = poll_dir(r->len);
        return poll_try(r);
    case CIO__OP_CLOSE:
        return close(r->fd) < 0 ? -errno : 0;
    default: /* open, stat, fsync, unlink, rename, mkdir: epoll cannot wait for them */
        *pool = true;
        return -EAGAIN;
    }
    if (k < 0 && errno == EAGAIN && (r->arg & MSG_DONTWAIT))
        *dir = 0;
    return k < 0 ? -errno : k;
}

/* Registers fd (edge-triggered, in and out) or re-checks a registration cio
 * does not own. 0, -EPERM for a file epoll cannot watch, or another error. */
static int watch(ep *e, fd_state *f, int fd) {
    struct epoll_event ev = {.events = EVENTS, .data.u64 = (uint64_t)f->gen << 32 | (uint32_t)fd};
    if (f->registered && f->owned)
        return 0;
    if (f->registered && epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST)
        return -errno;
    if (!f->registered)
        f->nonblock = UNKNOWN; /* a new registration: maybe a new file */
    f->registered = true;
    return 0;
}

static void park(fd_state *f, cio__req *r, int dir) {
    SET_STATE(r, S_PARKED);
    r->bres = dir;
    r->bprev = NULL;
    r->bnext = f->waiters;
    if (f->waiters)
        f->waiters->bprev = r;
    f->waiters = r;
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
    r->bstate = S_POOL;
    int err = cio__ep_pool_submit(&e->pool, r);
    if (err < 0)
        finish(e, r, err);
}

/* A short read or write of a byte stream emptied (filled) the socket: the
 * next request parks at once instead of asking again. */
static void note_result(fd_state *f, const cio__req *r, long k) {
    if (!f || !f->owned || k < 0)
        return;
    if ((r->op == CIO__OP_RECV || r->op == CIO__OP_READ) && (uint32_t)k < r->len)
        f->ready &= ~IN;
    else if ((r->op == CIO__OP_SEND || r->op == CIO__OP_WRITE) && (uint32_t)k < r->len)
        f->ready &= ~OUT;
}

static bool multishot(const cio__req *r) {
    return r->flags & CIO__REQ_MULTISHOT;
}

/* An owned byte stream that said "empty" is not asked again before an edge
 * (nor polled for input). */
static bool known_empty(const fd_state *f, const cio__req *r) {
    if (!f || !f->registered || !f->owned || (f->ready & IN))
        return false;
    return r->op == CIO__OP_RECV || r->op == CIO__OP_READ ||
           (r->op == CIO__OP_POLL && !(r->len & POLLOUT) && !(r->bstate & HAVE_EVENTS));
}

/* Waits for fd's readiness, or for a thread when epoll cannot watch it. */
static void wait_for(ep *e, fd_state *f, cio__req *r, int dir) {
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
    SET_STATE(r, S_ACTIVE);
    for (int batch = 0; batch < ACCEPT_BATCH; batch++) {
        fd_state *f = r->op != CIO__OP_NOP && r->op <= CIO__OP_POLL ? state(e, r->fd) : NULL;
        int dir = IN;
        bool pool = false;
        long k = known_empty(f, r) ? -EAGAIN : try_op(e, r, &dir, &pool);
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
            if (!(r->bstate & DROP))
                continue;
            k = -ECANCELED; /* its owner cancelled it meanwhile */
        }
        finish(e, r, k > INT32_MAX ? INT32_MAX : (int)k);
        return;
    }
    SET_STATE(r, S_SUBMITTED); /* the rest of the queue next time round */
    list_append(&e->sub_head, &e->sub_tail, r);
}

/* ---- the table ---- */

static int ep_submit(cio__backend *b, cio__req *r) {
    ep *e = (ep *)b;
    if (CIO__FAULT(CIO__FAULT_SQE))
        return -EBUSY;
    r->bstate = S_SUBMITTED | (r->flags & CIO__REQ_POLL_FIRST ? FIRST_WAIT : 0);
    list_append(&e->sub_head, &e->sub_tail, r);
    if (counted(r))
        e->inflight++;
    return 0;
}

static void unpark(ep *e, cio__req *r) {
    fd_state *f = &e->fds[r->fd];
    if (r->bprev)
        r->bprev->bnext = r->bnext;
    else
        f->waiters = r->bnext;
    if (r->bnext)
        r->bnext->bprev = r->bprev;
    r->bnext = r->bprev = NULL;
}

static int ep_cancel(cio__backend *b, cio__req *r) {
    ep *e = (ep *)b;
    switch (STATE(r)) {
    case S_ACTIVE:
        r->bstate |= DROP;
        break;
    case S_SUBMITTED:
        list_remove(&e->sub_head, &e->sub_tail, r);
        finish_later(e, r, -ECANCELED);
        break;
    case S_PARKED:
        unpark(e, r);
        finish_later(e, r, -ECANCELED);
        break;
    case S_POOL:
        if (cio__ep_pool_cancel(&e->pool, r))
            finish_later(e, r, -ECANCELED);
        break; /* started: it ends by itself, with its real result */
    }
    return 0;
}

static void ep_cancel_all(cio__backend *b) {
    ep *e = (ep *)b;
    while (e->sub_head)
        ep_cancel(b, e->sub_head);
    for (size_t fd = 0; fd < e->nfds; fd++)
        while (e->fds[fd].waiters)
            ep_cancel(b, e->fds[fd].waiters);
    if (e->pool_on)
        for (cio__req *r = cio__ep_pool_cancel_all(&e->pool), *next; r; r = next) {
            next = r->bnext;
            finish_later(e, r, -ECANCELED);
        }
}

static void ep_fd_closing(cio__backend *b, int fd) {
    ep *e = (ep *)b;
    if (fd < 0 || (size_t)fd >= e->nfds)
        return;
    fd_state *f = &e->fds[fd];
    while (f->waiters) {
        cio__req *r = f->waiters;
        unpark(e, r);
        finish_later(e, r, -EBADF);
    }
    for (cio__req *r = e->sub_head, *next; r; r = next) {
        next = r->bnext;
        if (r->fd == fd && r->op != CIO__OP_NOP && r->op <= CIO__OP_POLL) {
            list_remove(&e->sub_head, &e->sub_tail, r);
            finish_later(e, r, -EBADF);
        }
    }
    if (f->registered)
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
    *f = (fd_state){.gen = f->gen + 1, .nonblock = UNKNOWN, .ready = IN | OUT};
}

static void ep_fd_owned(cio__backend *b, int fd) {
    fd_state *f = state((ep *)b, fd);
    if (f)
        f->owned = true;
}

static unsigned ep_inflight(const cio__backend *b) {
    return ((const ep *)b)->inflight;
}

/* ---- running ---- */

static int start_submitted(ep *e) {
    cio__req *head = e->sub_head;
    int n = 0;
    e->sub_head = e->sub_tail = NULL; /* what done() submits waits for the next run */
    while (head) {
        cio__req *r = head;
        head = r->bnext;
        r->bnext = r->bprev = NULL;
        attempt(e, r);
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
    fd_state *f = &e->fds[fd];
    uint8_t dir = 0;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLERR | EPOLLHUP))
        dir |= IN;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        dir |= OUT;
    f->ready |= dir;
    cio__req *woken = NULL;
    for (cio__req *r = f->waiters, *next; r; r = next) {
        next = r->bnext;
        if (!(r->bres & dir))
            continue;
        unpark(e, r);
        r->bnext = woken;
        woken = r;
    }
    while (woken) { /* reversed twice: the order they parked in */
        cio__req *r = woken;
        woken = r->bnext;
        SET_STATE(r, S_SUBMITTED);
        if (r->op == CIO__OP_POLL) {
            r->bres = (int)events;
            r->bstate |= HAVE_EVENTS;
        }
        list_append(&e->sub_head, &e->sub_tail, r);
    }
}

static void pool_done(ep *e) {
    for (cio__req *r = cio__ep_pool_take_done(&e->pool), *next; r; r = next) {
        next = r->bnext;
        finish(e, r, r->bres);
    }
}

static int run_done(ep *e) {
    int n = 0;
    while (e->done_head) {
        cio__req *r = e->done_head;
        list_remove(&e->done_head, &e->done_tail, r);
        finish(e, r, r->bres);
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
    if (handled || e->done_head || e->sub_head)
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
