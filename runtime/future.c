/* Futures: completion, references, done callbacks. */
#include "future.h"

#include "debug.h"
#include "fault.h"
#include "loop.h"
#include "task.h"

#include <errno.h>
#include <stdlib.h>

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
    *f = (cio_future){.loop = loop, .refs = 1, .state = CIO__F_PENDING, .is_task = is_task};
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

void cio_future_ref(cio_future *f) {
    f->refs++;
}

static void report_unretrieved(cio_future *f) {
    if (f->is_task)
        cio_log(CIO_LOG_ERROR, "Task exception was never retrieved: task '%s' failed: %s",
                cio_task_name(f), cio_strerror(f->err));
    else
        cio_log(CIO_LOG_ERROR, "Future exception was never retrieved: future %p failed: %s",
                (void *)f, cio_strerror(f->err));
}

void cio_future_unref(cio_future *f) {
    if (!f || --f->refs)
        return;
    cio_loop *loop = f->loop;
    if (f->state == CIO__F_ERROR && !f->retrieved)
        report_unretrieved(f);
    if (f->state == CIO__F_RESULT && f->dtor)
        f->dtor(f->result);
    for (cio__cbnode *n = f->cb_head, *next; n; n = next) {
        next = n->next;
        if (!n->task)
            node_free(loop, n);
    }
    if (f->is_task)
        cio__task_free((cio__task *)f);
    else
        free(f);
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

int cio_future_add_done_callback(cio_future *f, void (*cb)(cio_future *, void *), void *arg) {
    if (!f || !cb)
        return -EINVAL;
    cio__loop_check_thread(f->loop, __func__);
    cio__cbnode *n = node_alloc(f->loop);
    if (!n)
        return -ENOMEM;
    *n = (cio__cbnode){.fn = cb, .arg = arg};
    if (f->state != CIO__F_PENDING)
        schedule_node(f, n);
    else
        cio__future_add_node(f, n);
    return 0;
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
