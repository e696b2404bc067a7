/* Futures: completion, references, done callbacks. */
#include "future.h"

#include "context.h"
#include "debug.h"
#include "exception.h"
#include "fault.h"
#include "loop.h"
#include "task.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static cio__cbnode *node_alloc(cio_loop *loop) {
    if (CIO__FAULT(CIO__FAULT_ALLOC))
        return NULL;
    cio__cbnode *n = loop->free_nodes;
    if (n) {
        loop->free_nodes = n->next;
        return n;
    }
    return malloc(sizeof *n);
}

static void node_free(cio_loop *loop, cio__cbnode *n) {
    n->next = loop->free_nodes;
    loop->free_nodes = n;
}

void cio__future_init(cio_future *f, cio_loop *loop, bool is_task) {
    memset(f, 0, sizeof *f);
    f->loop = loop;
    f->is_task = is_task;
    f->state = CIO__F_PENDING;
    atomic_init(&f->refs, 1);
    atomic_init(&f->sync, 0);
    cio__loop_ref(loop);
}

cio_future *cio_loop_future_new(cio_loop *loop) {
    if (!loop) {
        errno = EINVAL;
        return NULL;
    }
    cio__loop_check_thread(loop, __func__);
    cio_future *f = CIO__FAULT(CIO__FAULT_ALLOC) ? NULL : malloc(sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    cio__future_init(f, loop, false);
    return f;
}

cio_future *cio_future_new(void) {
    cio_loop *loop = cio__loop_running();
    if (!loop) {
        errno = EPERM;
        return NULL;
    }
    return cio_loop_future_new(loop);
}

cio_loop *cio_future_loop(const cio_future *f) {
    return f->loop;
}

/* Debug mode: a reference taken or dropped on a future that has none left
 * (its memory is still there: tasks are recycled and plain futures sit in
 * a quarantine first, see release_memory). */
static void check_alive(cio_future *f, const char *fn) {
    if (!f->loop->debug || atomic_load_explicit(&f->refs, memory_order_relaxed))
        return;
    cio_log(CIO_LOG_ERROR,
            "%s: %s %p has no reference left (released twice, or used after its last "
            "cio_future_unref)",
            fn, f->is_task ? "task" : "future", (void *)f);
    abort();
}

void cio_future_ref(cio_future *f) {
    check_alive(f, __func__);
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

static void report_unretrieved(cio_future *f) {
    cio__report_exception(f->loop, CIO_EXC_NEVER_RETRIEVED,
                          f->is_task ? "Task exception was never retrieved"
                                     : "Future exception was never retrieved",
                          f->err, f, NULL, NULL);
}

/* Debug mode keeps the memory of the last QUARANTINE plain futures released,
 * so that one more unref finds refs == 0 instead of reused memory (tasks are
 * recycled by their loop, which gives them the same grace). Process-wide and
 * reachable from a global: never reported as a leak. */
enum { QUARANTINE = 256 };
static _Atomic(cio_future *) quarantine[QUARANTINE];
static _Atomic unsigned quarantine_pos;

static void release_memory(cio_future *f, bool debug) {
    if (!debug) {
        free(f);
        return;
    }
    unsigned i = atomic_fetch_add_explicit(&quarantine_pos, 1, memory_order_relaxed);
    free(atomic_exchange(&quarantine[i % QUARANTINE], f));
}

/* The cb nodes go back to the loop's pool, unless the loop is gone. */
static void destroy(cio_future *f, bool on_loop) {
    cio_loop *loop = f->loop;
    if (f->state == CIO__F_ERROR && !f->retrieved)
        report_unretrieved(f);
    if (f->state == CIO__F_RESULT && f->dtor)
        f->dtor(f->result);
    if (f->ctx_job)
        cio__context_job_release(f->ctx_job, atomic_load(&loop->closed));
    for (cio__cbnode *n = f->cb_head, *next; n; n = next) {
        next = n->next;
        if (n->task)
            continue;
        if (on_loop)
            node_free(loop, n);
        else
            free(n);
    }
    if (f->is_task && on_loop) {
        cio__task_free((cio__task *)f);
    } else if (f->is_task) {
        free(((cio__task *)f)->name);
        free(f);
    } else {
        release_memory(f, loop->debug);
    }
    cio__loop_unref(loop);
}

/* The loop's thread (running it, or owning it between runs) may touch its
 * pools; any other thread posts. */
static bool owned_here(const cio_loop *loop) {
    cio_loop *running = cio__loop_running();
    return running == loop || (!running && pthread_equal(loop->thread, pthread_self()));
}

static void destroy_posted(cio__mpsc_node *n) {
    destroy((cio_future *)((char *)n - offsetof(cio_future, release_node)), true);
}

void cio_future_unref(cio_future *f) {
    if (!f)
        return;
    check_alive(f, __func__);
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    cio_loop *loop = f->loop;
    if (loop->debug && f->is_task && f->state == CIO__F_PENDING) {
        cio_log(CIO_LOG_ERROR,
                "cio_future_unref: task '%s' released more often than referenced (the loop "
                "still holds it)",
                cio_task_name(f));
        abort();
    }
    if (owned_here(loop)) {
        destroy(f, true);
        return;
    }
    /* Another thread: the loop's pools are the loop thread's. */
    f->release_node.fn = destroy_posted;
    cio__loop_ref(loop); /* the node may release the loop before the post returns */
    if (cio__loop_post(loop, &f->release_node) < 0)
        destroy(f, false); /* closed: nothing touches its pools but loop_destroy */
    cio__loop_unref(loop);
}

/* The handle callback for a user's done callback. */
static void run_node(void *arg) {
    cio__cbnode *n = arg;
    cio_future *f = n->f;
    n->fn(f, n->arg);
    node_free(f->loop, n);
    cio_future_unref(f);
}

/* Loop close: a scheduled done callback that will never run. */
bool cio__future_drop_scheduled(cio__handle *h) {
    if (h->cb != run_node)
        return false;
    cio__cbnode *n = h->arg;
    if (n->always) {
        run_node(n);
        return true;
    }
    cio_future *f = n->f;
    node_free(f->loop, n);
    cio_future_unref(f);
    return true;
}

static void schedule_node(cio_future *f, cio__cbnode *n) {
    if (n->task) {
        cio__task_wake(n->task, 0);
        return;
    }
    cio__handle *h = cio__handle_alloc(&f->loop->handles);
    if (!h) {
        /* Out of memory: running it late beats never running it. */
        cio_future_ref(f);
        n->f = f;
        run_node(n);
        return;
    }
    cio_future_ref(f);
    n->f = f;
    h->cb = run_node;
    h->arg = n;
    cio__loop_ready(f->loop, h);
}

int cio__future_finish(cio_future *f, int err, void *result) {
    if (f->state != CIO__F_PENDING)
        return -EINVAL;
    if (err == 0) {
        f->state = CIO__F_RESULT;
        f->result = result;
    } else {
        f->state = err == -ECANCELED ? CIO__F_CANCELLED : CIO__F_ERROR;
        f->err = err;
    }
    /* One atomic exchange per completion: threads in cio_future_wait see it,
     * and the futex is woken only when one of them sleeps on it. */
    if (atomic_exchange(&f->sync, CIO__SYNC_DONE) & CIO__SYNC_WAITER)
        syscall(SYS_futex, &f->sync, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    cio__cbnode *n = f->cb_head;
    f->cb_head = f->cb_tail = NULL;
    while (n) {
        cio__cbnode *next = n->next;
        schedule_node(f, n);
        n = next;
    }
    return 0;
}

void cio__future_set_cancel(cio_future *f, cio__cancel_fn fn, void *ctx) {
    f->cancel_fn = fn;
    f->cancel_ctx = ctx;
}

void cio__future_add_node(cio_future *f, cio__cbnode *n) {
    n->next = NULL;
    if (f->cb_tail)
        f->cb_tail->next = n;
    else
        f->cb_head = n;
    f->cb_tail = n;
}

bool cio__future_remove_node(cio_future *f, cio__cbnode *n) {
    cio__cbnode *prev = NULL;
    for (cio__cbnode *c = f->cb_head; c; prev = c, c = c->next) {
        if (c != n)
            continue;
        if (prev)
            prev->next = c->next;
        else
            f->cb_head = c->next;
        if (f->cb_tail == c)
            f->cb_tail = prev;
        return true;
    }
    return false;
}

static int add_done(cio_future *f, void (*cb)(cio_future *, void *), void *arg, bool always) {
    if (!f || !cb)
        return -EINVAL;
    cio__loop_check_thread(f->loop, __func__);
    cio__cbnode *n = node_alloc(f->loop);
    if (!n)
        return -ENOMEM;
    *n = (cio__cbnode){.fn = cb, .arg = arg, .always = always};
    if (f->state != CIO__F_PENDING)
        schedule_node(f, n);
    else
        cio__future_add_node(f, n);
    return 0;
}

int cio_future_add_done_callback(cio_future *f, void (*cb)(cio_future *, void *), void *arg) {
    return add_done(f, cb, arg, false);
}

int cio__future_add_done_always(cio_future *f, void (*cb)(cio_future *, void *), void *arg) {
    return add_done(f, cb, arg, true);
}

int cio_future_remove_done_callback(cio_future *f, void (*cb)(cio_future *, void *), void *arg) {
    int removed = 0;
    cio__cbnode *c = f->cb_head;
    while (c) {
        cio__cbnode *next = c->next;
        if (!c->task && c->fn == cb && c->arg == arg) {
            cio__future_remove_node(f, c);
            node_free(f->loop, c);
            removed++;
        }
        c = next;
    }
    return removed;
}

bool cio_cancel(cio_future *f) {
    if (!f || f->state != CIO__F_PENDING)
        return false;
    cio__loop_check_thread(f->loop, __func__);
    if (f->cancel_fn)
        return f->cancel_fn(f, f->cancel_ctx);
    cio__future_finish(f, -ECANCELED, NULL);
    return true;
}

int cio_future_set_result(cio_future *f, void *result) {
    if (!f || f->is_task)
        return -EINVAL;
    cio__loop_check_thread(f->loop, __func__);
    return cio__future_finish(f, 0, result);
}

int cio_future_set_error(cio_future *f, int err) {
    if (!f || f->is_task || err >= 0)
        return -EINVAL;
    cio__loop_check_thread(f->loop, __func__);
    return cio__future_finish(f, err, NULL);
}

void cio_future_set_result_dtor(cio_future *f, void (*dtor)(void *result)) {
    f->dtor = dtor;
}

bool cio_future_done(const cio_future *f) {
    return f && f->state != CIO__F_PENDING;
}

bool cio_future_cancelled(const cio_future *f) {
    return f && f->state == CIO__F_CANCELLED;
}

int cio_future_result(cio_future *f, void **result) {
    if (!f)
        return -EINVAL;
    switch (f->state) {
    case CIO__F_PENDING:
        return -EAGAIN;
    case CIO__F_RESULT:
        if (result)
            *result = f->result;
        return 0;
    default:
        f->retrieved = true;
        return f->err;
    }
}

int cio_future_error(cio_future *f) {
    if (!f || f->state == CIO__F_PENDING || f->state == CIO__F_RESULT)
        return 0;
    f->retrieved = true;
    return f->err;
}

bool cio_future_is_task(const cio_future *f) {
    return f && f->is_task;
}
