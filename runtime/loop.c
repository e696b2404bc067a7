/* The event loop: lifecycle, the ready queue, one iteration, cross-thread
 * posting. One iteration, in order:
 *   1. hand the backend what was submitted and wait for completions, or the
 *      nearest timer, or nothing if callbacks are ready (one syscall, often
 *      none);
 *   2. run the done() of every completed request and of every node posted by
 *      other threads (these only make things ready);
 *   3. move expired timers to the ready queue;
 *   4. run the callbacks that were ready when this step began (FIFO); those
 *      they schedule run in the next iteration. */
#include "loop.h"

#include "debug.h"
#include "fault.h"
#include "future.h"
#include "profile.h"
#include "timearg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* initial-exec: a plain %fs load, not a __tls_get_addr call per access (-fPIC). */
static __thread cio_loop *tls_running __attribute__((tls_model("initial-exec")));

cio_loop *cio__loop_running(void) {
    return tls_running;
}

cio_loop *cio_get_running_loop(void) {
    return tls_running;
}

/* ---- references: the struct lives until the last future and executor are gone ---- */

void cio__loop_ref(cio_loop *loop) {
    atomic_fetch_add_explicit(&loop->refs, 1, memory_order_relaxed);
}

static void loop_destroy(cio_loop *loop) {
    /* Closed only now: a thread inside cio__loop_post may still write it. */
    close(loop->wake_fd);
    while (loop->free_nodes) {
        cio__cbnode *n = loop->free_nodes;
        loop->free_nodes = n->next;
        free(n);
    }
    for (cio__list_node *x; (x = cio__list_pop_front(&loop->free_tasks));)
        free(CIO__TASK_OF(x));
    free(loop);
}

void cio__loop_unref(cio_loop *loop) {
    if (atomic_fetch_sub_explicit(&loop->refs, 1, memory_order_acq_rel) == 1)
        loop_destroy(loop);
}

/* ---- the wakeup: an eventfd read kept in the backend ---- */

static int arm_wakeup(cio_loop *loop) {
    int r = cio__backend_submit(loop->backend, &loop->wake_req);
    if (r < 0)
        return r;
    loop->wake_armed = true;
    return 0;
}

static void wake_done(cio__req *req, int res, unsigned flags) {
    (void)flags;
    cio_loop *loop = req->ctx;
    loop->wake_armed = false;
    atomic_store(&loop->wake_pending, 0);
    if (res >= 0 && !atomic_load(&loop->closed))
        arm_wakeup(loop); /* if that fails, run_once retries and polls meanwhile */
}

int cio__loop_post(cio_loop *loop, cio__mpsc_node *n) {
    if (atomic_load(&loop->closed))
        return -ESHUTDOWN;
    cio__mpsc_push(&loop->inbox, n);
    /* Only a sleeping loop needs the syscall; a busy one drains the inbox
     * every iteration. seq_cst on both sides: either we see `sleeping`, or
     * the loop sees our node before it blocks. */
    if (atomic_load(&loop->sleeping) && !atomic_exchange(&loop->wake_pending, 1)) {
        uint64_t one = 1;
        if (write(loop->wake_fd, &one, sizeof one) < 0)
            atomic_store(&loop->wake_pending, 0);
    }
    return 0;
}

static void run_threadsafe(cio__mpsc_node *n) {
    cio__ts_call *c = (cio__ts_call *)n;
    cio_cb cb = c->cb;
    void *arg = c->arg;
    if (c->slot >= 0)
        cio__ts_release(&c->loop->ts_calls, c);
    else
        free(c);
    cb(arg);
}

/* A preallocated slot first: no allocation and no lock, so a signal handler
 * may call this while fewer than CIO__TS_SLOTS calls are pending. */
int cio_call_soon_threadsafe(cio_loop *loop, cio_cb cb, void *arg) {
    if (!loop || !cb)
        return -EINVAL;
    cio__ts_call *c = cio__ts_claim(&loop->ts_calls);
    int slot = c ? (int)(c - loop->ts_calls.calls) : -1;
    if (!c && !(c = CIO__FAULT(CIO__FAULT_ALLOC) ? NULL : malloc(sizeof *c)))
        return -ENOMEM;
    *c =
        (cio__ts_call){.node.fn = run_threadsafe, .cb = cb, .arg = arg, .loop = loop, .slot = slot};
    /* The call may make the loop end and close at once: it must not be
     * freed while this thread is still inside cio__loop_post. */
    cio__loop_ref(loop);
    int r = cio__loop_post(loop, &c->node);
    if (r < 0 && slot >= 0)
        cio__ts_release(&loop->ts_calls, c);
    else if (r < 0)
        free(c);
    cio__loop_unref(loop);
    return r;
}

/* ---- creation ---- */

static void apply_options(cio_loop *loop, const cio_options *opt) {
    cio_options o = opt ? *opt : (cio_options){0};
    loop->debug = o.debug || cio__env_debug();
    loop->slow_callback = o.slow_callback_duration > 0 ? o.slow_callback_duration : 0.1;
    loop->opts = o;
    loop->stack_size = o.stack_size;
    /* The environment wins, so that a whole test suite can run trimmed. */
    double trim = o.stack_trim_after;
    const char *env = getenv("CIO_STACK_TRIM_AFTER");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        if (!*end && v == v)
            trim = v;
    }
    loop->trim_after = trim == 0 ? 1.0 : trim;
}

static void log_backend(const cio_loop *loop, cio_backend asked, const char *why) {
    if (!loop->debug)
        return;
    if (!loop->backend)
        cio_log(CIO_LOG_ERROR, "cio: no backend can start: %s", why ? why : "unknown reason");
    else if (why)
        cio_log(CIO_LOG_INFO, "cio: backend %s (%s)", loop->backend->ops->name, why);
    else if (asked == CIO_BACKEND_AUTO)
        cio_log(CIO_LOG_INFO, "cio: backend %s", loop->backend->ops->name);
}

/* Whether opt's time fields follow the rule (NaN: EINVAL). */
bool cio__options_valid(const cio_options *opt) {
    return !opt || !(cio__time_nan(opt->slow_callback_duration) ||
                     cio__time_nan(opt->shutdown_timeout) || cio__time_nan(opt->stack_trim_after));
}

cio_loop *cio_loop_new(const cio_options *opt) {
    if (!cio__options_valid(opt)) {
        errno = EINVAL;
        return NULL;
    }
    unsigned entries = opt && opt->ring_entries ? opt->ring_entries : 256;
    cio_backend asked = opt ? opt->backend : CIO_BACKEND_AUTO;
    cio_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    apply_options(loop, opt);
    const char *why = NULL;
    loop->backend = cio__backend_new(asked, entries, &why);
    int e = errno;
    log_backend(loop, asked, why);
    if (!loop->backend) {
        free(loop);
        errno = e;
        return NULL;
    }
    loop->wake_fd = eventfd(0, EFD_CLOEXEC);
    loop->wake_req = (cio__req){.done = wake_done,
                                .ctx = loop,
                                .op = CIO__OP_READ,
                                .flags = CIO__REQ_BACKGROUND,
                                .fd = loop->wake_fd,
                                .addr = &loop->wake_buf,
                                .len = sizeof loop->wake_buf,
                                .off = CIO__OFF_CUR};
    if (loop->wake_fd >= 0)
        cio__loop_fd_owned(loop, loop->wake_fd);
    if (loop->wake_fd < 0 || arm_wakeup(loop) < 0) {
        e = loop->wake_fd < 0 ? errno : EBUSY;
        if (loop->wake_fd >= 0)
            close(loop->wake_fd);
        loop->backend->ops->destroy(loop->backend);
        free(loop);
        errno = e;
        return NULL;
    }
    cio__mpsc_init(&loop->inbox);
    cio__stacks_init(&loop->stacks, loop->stack_size);
    atomic_init(&loop->refs, 1);
    loop->thread = pthread_self();
    cio__prof_open(loop);
    return loop;
}

const char *cio_loop_backend_name(const cio_loop *loop) {
    return loop && loop->backend ? loop->backend->ops->name : NULL;
}

bool cio_loop_debug(const cio_loop *loop) {
    return loop && loop->debug;
}

bool cio_loop_get_debug(const cio_loop *loop) {
    return cio_loop_debug(loop);
}

double cio_loop_time(cio_loop *loop) {
    (void)loop;
    return cio__now();
}

void cio__loop_check_thread(const cio_loop *loop, const char *fn) {
    if (!loop->debug || !loop->running || pthread_equal(loop->thread, pthread_self()))
        return;
    cio_log(CIO_LOG_ERROR,
            "%s: called from a thread that does not run this loop "
            "(only cio_call_soon_threadsafe may be)",
            fn);
    abort();
}

/* ---- the ready queue and callbacks ---- */

void cio__loop_ready(cio_loop *loop, cio__handle *h) {
    h->state = CIO__H_READY;
    h->next = NULL;
    if (loop->ready_tail)
        loop->ready_tail->next = h;
    else
        loop->ready_head = h;
    loop->ready_tail = h;
    loop->nready++;
}

static cio__handle *ready_pop(cio_loop *loop) {
    cio__handle *h = loop->ready_head;
    loop->ready_head = h->next;
    if (!loop->ready_head)
        loop->ready_tail = NULL;
    loop->nready--;
    return h;
}

static cio_handle handle_of(cio__handle *h) {
    return (cio_handle){.p = h, .gen = h->gen};
}

/* A record for cb(arg) on an open loop, checked like every public entry. */
static cio__handle *new_handle(cio_loop *loop, cio_cb cb, void *arg, const char *fn) {
    if (!loop || !cb || atomic_load(&loop->closed)) {
        errno = !cb ? EINVAL : !loop ? EPERM : ESHUTDOWN;
        return NULL;
    }
    cio__loop_check_thread(loop, fn);
    cio__handle *h = cio__handle_alloc(&loop->handles);
    if (!h) {
        errno = ENOMEM;
        return NULL;
    }
    h->cb = cb;
    h->arg = arg;
    return h;
}

cio_handle cio_loop_call_soon(cio_loop *loop, cio_cb cb, void *arg) {
    cio__handle *h = new_handle(loop, cb, arg, __func__);
    if (!h)
        return (cio_handle){0};
    cio__loop_ready(loop, h);
    return handle_of(h);
}

cio_handle cio_call_soon(cio_cb cb, void *arg) {
    return cio_loop_call_soon(tls_running, cb, arg);
}

cio_handle cio_loop_call_at(cio_loop *loop, double when, cio_cb cb, void *arg) {
    if (cio__time_nan(when)) {
        errno = EINVAL;
        return (cio_handle){0};
    }
    cio__handle *h = new_handle(loop, cb, arg, __func__);
    if (!h)
        return (cio_handle){0};
    h->when = when;
    h->state = CIO__H_TIMER;
    if (cio__timers_push(&loop->timers, h) < 0) {
        cio__handle_release(&loop->handles, h);
        return (cio_handle){0};
    }
    return handle_of(h);
}

cio_handle cio_call_at(double when, cio_cb cb, void *arg) {
    return cio_loop_call_at(tls_running, when, cb, arg);
}

cio_handle cio_call_later(double delay, cio_cb cb, void *arg) {
    return cio_loop_call_later(tls_running, delay, cb, arg);
}

bool cio_handle_cancel(cio_handle handle) {
    cio__handle *h = handle.p;
    if (!h || h->gen != handle.gen || h->embedded)
        return false;
    cio_loop *loop = tls_running;
    if (h->state == CIO__H_TIMER && loop) {
        cio__timers_remove(&loop->timers, h);
        cio__handle_release(&loop->handles, h);
        return true;
    }
    if (h->state == CIO__H_READY || h->state == CIO__H_TIMER) {
        h->state = CIO__H_CANCELLED; /* skipped and released when popped */
        return true;
    }
    return false;
}

/* ---- one iteration ---- */

/* The longest the backend is asked to sleep: farther timers are looked at
 * again after it (the seconds stay far inside time_t). */
#define MAX_WAIT 86400.0

static double poll_timeout(cio_loop *loop) {
    if (loop->nready || loop->stopping || loop->flushes)
        return 0;
    cio__handle *top = cio__timers_top(&loop->timers);
    double t = top ? top->when - cio__now() : -1;
    if (top && t < 0)
        t = 0;
    if (t > MAX_WAIT) /* infinity: a timer that never fires */
        t = t == INFINITY ? -1 : MAX_WAIT;
    /* Without its wakeup armed (no SQE could be had) the loop must not sleep
     * long: other threads' posts would wait for it. */
    if (!loop->wake_armed && arm_wakeup(loop) < 0 && (t < 0 || t > 1e-3))
        t = 1e-3;
    return t;
}

static void drain_inbox(cio_loop *loop) {
    cio__mpsc_node *n;
    while ((n = cio__mpsc_pop(&loop->inbox)))
        n->fn(n);
}

static void expire_timers(cio_loop *loop) {
    if (!loop->timers.n)
        return; /* spares a clock read per iteration of a busy loop */
    /* Fire what is due within the clock's resolution, as asyncio does. */
    double end = cio__now() + 1e-6;
    cio__handle *h;
    while ((h = cio__timers_top(&loop->timers)) && h->when <= end) {
        cio__timers_remove(&loop->timers, h);
        if (h->state == CIO__H_CANCELLED)
            cio__handle_release(&loop->handles, h);
        else
            cio__loop_ready(loop, h);
    }
}

static void warn_slow(cio_loop *loop, cio_cb cb, void *arg, double took) {
    if (cb == cio__task_step)
        cio_log(CIO_LOG_WARNING,
                "Executing task '%s' took %.3f seconds (a blocking call in a task?)",
                cio_task_name(arg), took);
    else
        cio_log(CIO_LOG_WARNING, "Executing callback %p(%p) took %.3f seconds", (void *)cb, arg,
                took);
    (void)loop;
}

static void run_ready(cio_loop *loop) {
    for (size_t n = loop->nready; n > 0; n--) {
        cio__handle *h = ready_pop(loop);
        cio_cb cb = h->cb;
        void *arg = h->arg;
        bool cancelled = h->state == CIO__H_CANCELLED;
        cio__handle_release(&loop->handles, h);
        if (cancelled)
            continue;
        if (!loop->debug) {
            cb(arg);
            continue;
        }
        double t0 = cio__now();
        cb(arg);
        double took = cio__now() - t0;
        if (took >= loop->slow_callback)
            warn_slow(loop, cb, arg, took);
    }
}

void cio__loop_defer_flush(cio_loop *loop, cio__flush *f) {
    if (f->queued)
        return;
    f->queued = true;
    f->next = loop->flushes;
    loop->flushes = f;
}

void cio__loop_cancel_flush(cio_loop *loop, cio__flush *f) {
    if (!f->queued)
        return;
    for (cio__flush **p = &loop->flushes; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    f->queued = false;
}

static void run_flushes(cio_loop *loop) {
    while (loop->flushes) {
        cio__flush *f = loop->flushes;
        loop->flushes = f->next;
        f->queued = false;
        f->fn(f);
    }
}

static int run_once(cio_loop *loop) {
    run_flushes(loop);
    double timeout = poll_timeout(loop);
    bool idle = timeout != 0;
    if (idle)
        timeout = cio__trim_timeout(loop, timeout);
    if (timeout != 0) {
        atomic_store(&loop->sleeping, 1);
        if (!cio__mpsc_empty(&loop->inbox))
            timeout = 0;
    }
    int r = timeout != 0 && loop->prof ? cio__prof_poll(loop, timeout)
                                       : cio__backend_run(loop->backend, timeout);
    atomic_store_explicit(&loop->sleeping, 0, memory_order_relaxed);
    if (r < 0)
        return r;
    drain_inbox(loop);
    expire_timers(loop);
    run_ready(loop);
    cio__trim_check(loop, idle);
    return 0;
}

/* ---- running ---- */

int cio_loop_run_forever(cio_loop *loop) {
    if (!loop)
        return -EINVAL;
    if (tls_running)
        return -EBUSY;
    if (atomic_load(&loop->closed))
        return -ESHUTDOWN;
    if (loop->running)
        return -EBUSY;
    tls_running = loop;
    loop->running = true;
    loop->thread = pthread_self();
    if (loop->debug)
        cio__debug_install_overflow_handler();
    if (loop->prof)
        cio__prof_mark(loop);
    int r = 0;
    do {
        r = run_once(loop);
    } while (r >= 0 && !loop->stopping);
    if (r < 0)
        cio_log(CIO_LOG_ERROR, "cio: the loop stopped on a %s error: %s", loop->backend->ops->name,
                cio_strerror(r));
    loop->stopping = false;
    loop->running = false;
    tls_running = NULL;
    return r < 0 ? r : 0;
}

void cio_loop_stop(cio_loop *loop) {
    if (loop)
        loop->stopping = true;
}

static void stop_on_done(cio_future *f, void *arg) {
    (void)f;
    cio_loop_stop(arg);
}

int cio_loop_run_until_complete(cio_loop *loop, cio_future *f) {
    if (!loop || !f || f->loop != loop)
        return -EINVAL;
    if (!cio_future_done(f)) {
        int r = cio_future_add_done_callback(f, stop_on_done, loop);
        if (r < 0)
            return r;
        r = cio_loop_run_forever(loop);
        cio_future_remove_done_callback(f, stop_on_done, loop);
        if (r < 0)
            return r;
        if (!cio_future_done(f))
            return -EAGAIN; /* stopped before f completed */
    }
    return cio_future_error(f);
}

/* ---- closing ---- */

/* Requests still in the kernel may write into task stacks: cancel them all and
 * see them end before any stack is unmapped. */
static void cancel_inflight(cio_loop *loop) {
    cio__backend *b = loop->backend;
    b->ops->cancel_all(b);
    double deadline = cio__now() + 1.0;
    while (b->ops->inflight(b) && cio__now() < deadline)
        if (cio__backend_run(b, 0.05) < 0)
            break;
}

static void drop_ready(cio_loop *loop) {
    while (loop->nready) {
        cio__handle *h = ready_pop(loop);
        if (h->state != CIO__H_CANCELLED)
            cio__future_drop_scheduled(h);
        cio__handle_release(&loop->handles, h);
    }
}

static void close_slots(cio_loop *loop, bool executors) {
    for (int i = 0; i < CIO__SLOTS; i++) {
        cio__slot sl = loop->slots[i];
        if ((i == CIO__SLOT_EXECUTOR) != executors || !sl.state)
            continue;
        loop->slots[i] = (cio__slot){0};
        if (sl.close)
            sl.close(loop, sl.state);
    }
}

int cio_loop_close(cio_loop *loop) {
    if (!loop)
        return -EINVAL;
    if (loop->running)
        return -EBUSY;
    if (atomic_exchange(&loop->closed, 1))
        return 0;
    if (loop->prof)
        cio__prof_close(loop);
    run_flushes(loop);
    close_slots(loop, true); /* executors: their jobs' completions still come in */
    drain_inbox(loop);
    cancel_inflight(loop);
    drop_ready(loop);
    while (loop->all_tasks.head)
        cio__task_abandon(CIO__TASK_OF(loop->all_tasks.head));
    drop_ready(loop);
    while (loop->timers.n) {
        cio__handle *h = cio__timers_top(&loop->timers);
        cio__timers_remove(&loop->timers, h);
        cio__handle_release(&loop->handles, h);
    }
    loop->backend->ops->destroy(loop->backend);
    loop->backend = NULL;
    close_slots(loop, false);
    drain_inbox(loop); /* posts that raced with `closed` */
    drop_ready(loop);
    cio__stacks_destroy(&loop->stacks);
    cio__timers_destroy(&loop->timers);
    cio__handles_destroy(&loop->handles);
    cio__loop_unref(loop);
    return 0;
}

/* In a child forked from a loop's thread (the process pool's fork server):
 * the parent's loop, and the task it was running, are not this process's. */
void cio__loop_forget_after_fork(void) {
    tls_running = NULL;
}
