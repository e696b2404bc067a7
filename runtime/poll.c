/* Readiness: cio_poll waits in a task until an fd is ready, so that other
 * libraries' sockets can be driven from a task; add_reader / add_writer
 * are asyncio's fd callbacks.
 *
 * add_reader / add_writer are level-triggered, as epoll-based loops behave:
 * a one-shot poll request is re-submitted after each callback, so an fd the
 * callback does not drain fires again, and one that stays ready costs one
 * CQE per iteration, never a flood. (A multishot poll reports wake-ups, not
 * states: an fd left undrained would go quiet and the callback never come.) */
#include "loop.h"
#include "timearg.h"
#include "task.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

/* ---- cio_poll ---- */

/* The deadline is a loop timer, not a kernel timeout linked to the request:
 * every backend has timers, and a poll that lost its timeout would never
 * return. */
typedef struct poll_wait {
    cio__task *task;
    bool expired;
    cio_handle timer;
} poll_wait;

static void poll_expire(void *arg) {
    poll_wait *p = arg;
    if (!p->task->io_pending)
        return; /* the poll ended first: its result stands */
    p->expired = true;
    cio__io_drop(p->task);
}

/* timeout 0: a plain poll(2), nothing to wait for. */
static int poll_now(int fd, int events) {
    struct pollfd pfd = {.fd = fd, .events = (short)events};
    int r = poll(&pfd, 1, 0);
    if (r < 0)
        return -errno;
    return pfd.revents & POLLNVAL ? -EBADF : pfd.revents;
}

int cio_poll(int fd, int events, double timeout) {
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    if (fd < 0 || events == 0 || cio__time_nan(timeout))
        return -EINVAL;
    if (timeout == 0)
        return poll_now(fd, events);
    cio__task *t = cio__task_current();
    poll_wait pw = {.task = t};
    if (!cio__time_unlimited(timeout)) {
        pw.timer = cio_call_later(timeout, poll_expire, &pw);
        if (!pw.timer.p)
            return -ENOMEM;
    }
    int asked = t->cancel_requests;
    r = cio__io(&(cio__req){.op = CIO__OP_POLL, .fd = fd, .len = (uint32_t)events});
    cio_handle_cancel(pw.timer); /* pw leaves scope: the timer must not outlive it */
    if (r == -ECANCELED && pw.expired && t->cancel_requests == asked)
        return 0; /* the deadline passed and nobody cancelled us */
    return r;
}

/* ---- add_reader / add_writer ---- */

typedef struct watcher {
    cio__req req;
    cio_loop *loop;
    struct watcher *next;
    int fd;
    unsigned events; /* POLLIN or POLLOUT */
    cio_cb cb;
    void *arg;
    bool in_kernel; /* a poll request is in the ring */
    bool removed;   /* freed when its request comes back */
} watcher;

static void fire(void *arg);

static void arm(watcher *w) {
    if (cio__backend_submit(w->loop->backend, &w->req) < 0) {
        /* no room now: run the callback (a spurious wakeup) and re-arm after it */
        cio_loop_call_soon(w->loop, fire, w);
        return;
    }
    w->in_kernel = true;
}

static void watchers_close(cio_loop *loop, void *state);

/* The loop's watchers: a list in the loop's CIO__SLOT_WATCHERS. */
static watcher **watchers(cio_loop *loop) {
    return (watcher **)&loop->slots[CIO__SLOT_WATCHERS].state;
}

static void unlink_watcher(cio_loop *loop, watcher *w) {
    for (watcher **p = watchers(loop); *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

static void fire(void *arg) {
    watcher *w = arg;
    if (w->removed) {
        free(w);
        return;
    }
    w->cb(w->arg);
    if (!w->removed && !w->in_kernel)
        arm(w);
    else if (w->removed && !w->in_kernel)
        free(w);
}

static void poll_done(cio__req *req, int res, unsigned flags) {
    (void)flags;
    watcher *w = req->ctx;
    w->in_kernel = false;
    if (w->removed) {
        free(w);
        return;
    }
    if (res == -ECANCELED || res < 0) {
        /* a closed fd (EBADF) or a torn-down ring: asyncio keeps the reader
         * until removed; let the callback see the error on its next read */
        if (res != -ECANCELED)
            cio_loop_call_soon(w->loop, fire, w);
        return;
    }
    cio__handle *h = cio__handle_alloc(&w->loop->handles);
    if (!h) {
        arm(w);
        return;
    }
    h->cb = fire;
    h->arg = w;
    cio__loop_ready(w->loop, h);
}

static watcher *find(cio_loop *loop, int fd, unsigned events) {
    for (watcher *w = *watchers(loop); w; w = w->next)
        if (w->fd == fd && w->events == events)
            return w;
    return NULL;
}

static int add(cio_loop *loop, int fd, unsigned events, cio_cb cb, void *arg) {
    if (!loop)
        return -EPERM;
    if (fd < 0 || !cb)
        return -EINVAL;
    cio__loop_check_thread(loop, events == POLLIN ? "cio_add_reader" : "cio_add_writer");
    watcher *w = find(loop, fd, events);
    if (w) { /* asyncio replaces the callback */
        w->cb = cb;
        w->arg = arg;
        return 0;
    }
    w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    *w =
        (watcher){.req = {.done = poll_done, .ctx = w, .op = CIO__OP_POLL, .fd = fd, .len = events},
                  .loop = loop,
                  .fd = fd,
                  .events = events,
                  .cb = cb,
                  .arg = arg,
                  .next = *watchers(loop)};
    cio__loop_slot_set(loop, CIO__SLOT_WATCHERS, w, watchers_close);
    arm(w);
    return 0;
}

static bool del(cio_loop *loop, int fd, unsigned events) {
    watcher *w = loop ? find(loop, fd, events) : NULL;
    if (!w)
        return false;
    unlink_watcher(loop, w);
    w->removed = true;
    /* Freed when its request comes back, or by the fire() already scheduled. */
    if (w->in_kernel)
        cio__backend_cancel(loop->backend, &w->req);
    return true;
}

int cio_loop_add_reader(cio_loop *loop, int fd, cio_cb cb, void *arg) {
    return add(loop, fd, POLLIN, cb, arg);
}

int cio_add_reader(int fd, cio_cb cb, void *arg) {
    return add(cio__loop_running(), fd, POLLIN, cb, arg);
}

bool cio_loop_remove_reader(cio_loop *loop, int fd) {
    return del(loop, fd, POLLIN);
}

bool cio_remove_reader(int fd) {
    return del(cio__loop_running(), fd, POLLIN);
}

int cio_loop_add_writer(cio_loop *loop, int fd, cio_cb cb, void *arg) {
    return add(loop, fd, POLLOUT, cb, arg);
}

int cio_add_writer(int fd, cio_cb cb, void *arg) {
    return add(cio__loop_running(), fd, POLLOUT, cb, arg);
}

bool cio_loop_remove_writer(cio_loop *loop, int fd) {
    return del(loop, fd, POLLOUT);
}

bool cio_remove_writer(int fd) {
    return del(cio__loop_running(), fd, POLLOUT);
}

/* Loop close: requests are gone with the backend; free what is left. */
static void watchers_close(cio_loop *loop, void *state) {
    (void)loop;
    for (watcher *w = state, *next; w; w = next) {
        next = w->next;
        free(w);
    }
}
