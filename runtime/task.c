/* Tasks: stackful coroutines scheduled by the loop. A task runs until it
 * parks (await, sleep, I/O, a sync primitive) and is resumed by its step
 * handle; every switch goes through the loop's own stack. */
#include "task.h"
#include "timearg.h"

#include "context.h"
#include "debug.h"
#include "exception.h"
#include "fault.h"
#include "loop.h"
#include "profile.h"
#include "stack.h"
#include "switch.h"
#include "symbol.h" /* executors/: cio__symbol_name */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define CIO_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#include <sanitizer/tsan_interface.h>
#define CIO_TSAN 1
#endif

cio__task *cio__task_current(void) {
    cio_loop *loop = cio__loop_running();
    return loop ? loop->current : NULL;
}

cio_future *cio_current_task(void) {
    cio__task *t = cio__task_current();
    return t ? &t->fut : NULL;
}

int cio__task_require(const char *fn) {
    if (cio__task_current())
        return 0;
    cio_loop *loop = cio__loop_running();
    CIO__DEBUG(loop, "%s called outside a task", fn);
    if (!loop && cio__env_debug())
        cio_log(CIO_LOG_WARNING, "%s called outside a task (no running loop)", fn);
    return -EPERM;
}

/* ---- switching (sanitizer annotations sit beside the switch itself) ---- */

static void switch_to_task(cio_loop *loop, cio__task *t) {
#ifdef CIO_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, t->stack->lo, t->stack->size);
#endif
#ifdef CIO_TSAN
    loop->sched_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(t->fiber, 0);
#endif
    cio__switch(&loop->sched_sp, t->sp, t);
#ifdef CIO_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

static void switch_to_loop(cio__task *t, bool finishing) {
    cio_loop *loop = t->fut.loop;
#ifdef CIO_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(finishing ? NULL : &fake, loop->sched_stack_lo,
                                   loop->sched_stack_size);
#else
    (void)finishing;
#endif
#ifdef CIO_TSAN
    __tsan_switch_to_fiber(loop->sched_fiber, 0);
#endif
    cio__switch(&t->sp, loop->sched_sp, NULL);
#ifdef CIO_ASAN
    __sanitizer_finish_switch_fiber(fake, &loop->sched_stack_lo, &loop->sched_stack_size);
#endif
}

/* ---- lifecycle ---- */

static void task_finish(cio__task *t, void *result) {
    int err = t->fail_err;
    cio__future_finish(&t->fut, err, err ? NULL : result);
}

static void task_entry(void *val) {
    cio__task *t = val;
#ifdef CIO_ASAN
    cio_loop *loop = t->fut.loop;
    __sanitizer_finish_switch_fiber(NULL, &loop->sched_stack_lo, &loop->sched_stack_size);
#endif
    void *r = t->fn(t->arg);
    task_finish(t, r);
    t->tstate = CIO__T_DONE;
    switch_to_loop(t, true);
    abort(); /* a finished task is never resumed */
}

static void unlink_task(cio_loop *loop, cio__task *t) {
    cio__list_remove(&loop->all_tasks, &t->all_link);
}

/* After the last switch out of a finished task: its stack and the loop's
 * reference go back. */
static void task_retire(cio_loop *loop, cio__task *t) {
    cio__task_idle_del(t);
    if (t->stack) {
        cio__stack_put(&loop->stacks, t->stack);
        t->stack = NULL;
    }
#ifdef CIO_TSAN
    if (t->fiber) {
        __tsan_destroy_fiber(t->fiber);
        t->fiber = NULL;
    }
#endif
    cio__context_drop(&t->ctx);
    unlink_task(loop, t);
    cio_future_unref(&t->fut);
}

static int task_start(cio_loop *loop, cio__task *t) {
    t->stack = cio__stack_get(&loop->stacks, t->stack_size);
    if (!t->stack)
        return -ENOMEM;
    cio__debug_overflow_reporter(); /* once per thread */
    t->sp = cio__ctx_make(t->stack->lo, t->stack->size, task_entry);
#ifdef CIO_TSAN
    t->fiber = __tsan_create_fiber(0);
#endif
    return 0;
}

static inline void run_step(cio_loop *loop, cio__task *t) {
    t->tstate = CIO__T_RUNNING;
    loop->current = t;
    switch_to_task(loop, t);
    loop->current = NULL;
}

void cio__task_step(void *arg) {
    cio__task *t = arg;
    cio_loop *loop = t->fut.loop;
    if (t->tstate == CIO__T_DONE)
        return;
    if (!t->stack) {
        int r = t->must_cancel ? -ECANCELED : task_start(loop, t);
        if (r < 0) {
            /* Cancelled before it started: the body never runs. */
            t->fail_err = r;
            task_finish(t, NULL);
            t->tstate = CIO__T_DONE;
            task_retire(loop, t);
            return;
        }
    }
    if (t->trimmed)
        cio__task_untrim(t);
    if (__builtin_expect(loop->prof != NULL, 0)) {
        cio__prof_resume(loop, t);
        run_step(loop, t);
        cio__prof_suspend(loop, t);
    } else
        run_step(loop, t);
    if (t->tstate == CIO__T_DONE)
        task_retire(loop, t);
    else if (loop->eager_tasks.n >= CIO__TRIM_BATCH)
        cio__trim_eager(loop); /* while their pages are still warm */
}

/* ---- parking ---- */

void cio__task_wake(cio__task *t, int val) {
    if (t->tstate != CIO__T_PARKED)
        return;
    t->wake_val = val;
    t->tstate = CIO__T_READY;
    t->park_cancel = NULL;
    if (t->trimmed)
        cio__task_woke_trimmed(t);
    else
        cio__task_idle_del(t);
    cio__loop_ready(t->fut.loop, &t->step);
}

void cio__task_wake_cancelled(cio__task *t, void *ctx) {
    (void)ctx;
    cio__task_wake(t, -ECANCELED);
}

int cio__task_park(cio__park_cancel_fn on_cancel, void *ctx) {
    cio__task *t = cio__task_current();
    if (t->must_cancel) {
        t->must_cancel = false;
        return -ECANCELED;
    }
    t->park_cancel = on_cancel ? on_cancel : cio__task_wake_cancelled;
    t->park_ctx = ctx;
    t->tstate = CIO__T_PARKED;
    cio__task_idle_add(t);
    switch_to_loop(t, false);
    return t->wake_val;
}

void cio__task_suspend(cio__task *t) {
    switch_to_loop(t, false);
}

/* Soft suspension points (yield, sleep, await) deliver a cancellation that
 * arrived while the task was ready to run: nothing is lost by it. */
static int deliver_cancel(cio__task *t, int r) {
    if (t->must_cancel) {
        t->must_cancel = false;
        return -ECANCELED;
    }
    return r;
}

static bool task_cancel(cio_future *f, void *ctx) {
    (void)ctx;
    cio__task *t = (cio__task *)f;
    t->cancel_requests++;
    if (t->tstate == CIO__T_PARKED) {
        if (t->trimmed) /* park_ctx often points into the stack: spare the fault */
            cio__task_untrim(t);
        t->park_cancel(t, t->park_ctx);
        return true;
    }
    /* Already woken by an earlier cancellation: that one covers this one. */
    if (!(t->tstate == CIO__T_READY && t->wake_val == -ECANCELED))
        t->must_cancel = true;
    return true;
}

int cio_yield(void) {
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    cio__task *t = cio__task_current();
    if (t->must_cancel) {
        t->must_cancel = false;
        return -ECANCELED;
    }
    t->wake_val = 0;
    t->tstate = CIO__T_READY;
    cio__loop_ready(t->fut.loop, &t->step);
    switch_to_loop(t, false);
    return deliver_cancel(t, 0);
}

static void sleep_fire(void *arg) {
    cio__task_wake(arg, 0);
}

static void sleep_cancel(cio__task *t, void *ctx) {
    cio_handle_cancel(*(cio_handle *)ctx);
    cio__task_wake(t, -ECANCELED);
}

int cio_sleep(double seconds) {
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    if (cio__time_nan(seconds))
        return -EINVAL;
    if (!(seconds > 0))
        return cio_yield();
    cio__task *t = cio__task_current();
    cio_loop *loop = t->fut.loop;
    cio_handle h = cio_loop_call_at(loop, cio_loop_time(loop) + seconds, sleep_fire, t);
    if (!h.p)
        return -ENOMEM;
    t->wait_kind = CIO__WAIT_SLEEP;
    t->trim_eager = loop->trim_after >= 0 && seconds >= loop->trim_after;
    r = cio__task_park(sleep_cancel, &h);
    t->trim_eager = false;
    if (r < 0) {
        cio_handle_cancel(h);
        return r;
    }
    return deliver_cancel(t, r);
}

/* ---- await ---- */

static void await_cancel(cio__task *t, void *ctx) {
    cio_future *f = ctx;
    /* asyncio: cancelling a task cancels what it awaits; if that refuses
     * (done already, or it handles cancellation itself), wake with -ECANCELED. */
    if (cio_cancel(f) || t->tstate != CIO__T_PARKED)
        return;
    cio__future_remove_node(f, &t->await_node);
    cio__task_wake(t, -ECANCELED);
}

/* A future of another loop is completed on that loop's thread, which never
 * wakes a task of this one: waiting would hang (or race, across threads). */
static int foreign_future(const cio__task *t, const cio_future *f) {
    CIO__DEBUG(t->fut.loop,
               "cio_await: task '%s' on loop %p awaits a future that belongs to loop %p: "
               "refused with CIO_ELOOP (cross loops with cio_call_soon_threadsafe)",
               cio_task_name(&t->fut), (void *)t->fut.loop, (void *)f->loop);
    return CIO_ELOOP;
}

int cio_await(cio_future *f, void **result) {
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    if (!f)
        return -EINVAL;
    cio__task *t = cio__task_current();
    if (f == &t->fut)
        return -EDEADLK;
    if (f->loop != t->fut.loop)
        return foreign_future(t, f);
    if (f->state == CIO__F_PENDING) {
        t->await_node = (cio__cbnode){.task = t};
        cio__future_add_node(f, &t->await_node);
        cio_future_ref(f);
        t->awaiting = f;
        r = cio__task_park(await_cancel, f);
        t->awaiting = NULL;
        if (f->state == CIO__F_PENDING)
            cio__future_remove_node(f, &t->await_node);
        cio_future_unref(f);
        if (r < 0 && f->state == CIO__F_PENDING)
            return r;
    }
    return cio_future_result(f, result);
}

/* Outside a task (an executor's job): the error waits here for the worker. */
static __thread int job_fail_err;

void *cio_fail(int err) {
    cio__task *t = cio__task_current();
    if (err >= 0)
        return NULL;
    if (t)
        t->fail_err = err;
    else
        job_fail_err = err;
    return NULL;
}

int cio__job_fail_take(void) {
    int err = job_fail_err;
    job_fail_err = 0;
    return err;
}

/* ---- creation and bookkeeping ---- */

static cio__task *task_alloc(cio_loop *loop) {
    if (CIO__FAULT(CIO__FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    cio__list_node *x = cio__list_pop_front(&loop->free_tasks);
    return x ? CIO__TASK_OF(x) : malloc(sizeof(cio__task));
}

void cio__task_free(cio__task *t) {
    cio_loop *loop = t->fut.loop;
    free(t->name);
    cio__list_push_front(&loop->free_tasks, &t->all_link);
}

cio_future *cio_loop_create_task_with(cio_loop *loop, const cio_task_options *opt, cio_fn fn,
                                      void *arg) {
    if (!loop || !fn || atomic_load(&loop->closed)) {
        errno = loop && fn ? ESHUTDOWN : EINVAL;
        return NULL;
    }
    cio__loop_check_thread(loop, __func__);
    cio__task *t = task_alloc(loop);
    if (!t)
        return NULL;
    memset(t, 0, sizeof *t);
    cio__future_init(&t->fut, loop, true);
    t->fut.refs = 2; /* the caller's and the loop's, dropped when it finishes */
    cio__future_set_cancel(&t->fut, task_cancel, NULL);
    t->fn = fn;
    t->arg = arg;
    t->stack_size = opt ? opt->stack_size : 0;
    t->step = (cio__handle){.cb = cio__task_step, .arg = t, .embedded = 1};
    t->id = ++loop->next_task_id;
    /* A copy of the creator's context: shared until either side sets. */
    t->ctx = loop->current ? cio__context_share(loop->current->ctx) : cio__context_inherit();
    if (opt && opt->name)
        cio_task_set_name(&t->fut, opt->name);
    cio__list_push_back(&loop->all_tasks, &t->all_link);
    t->tstate = CIO__T_NEW;
    cio__loop_ready(loop, &t->step);
    return &t->fut;
}

cio_future *cio_loop_create_task(cio_loop *loop, cio_fn fn, void *arg) {
    return cio_loop_create_task_with(loop, NULL, fn, arg);
}

cio_future *cio_create_task_with(const cio_task_options *opt, cio_fn fn, void *arg) {
    cio_loop *loop = cio__loop_running();
    if (!loop) {
        errno = EPERM;
        return NULL;
    }
    return cio_loop_create_task_with(loop, opt, fn, arg);
}

cio_future *cio_create_task(cio_fn fn, void *arg) {
    return cio_create_task_with(NULL, fn, arg);
}

void cio__task_abandon(cio__task *t) {
    if (t->tstate == CIO__T_DONE)
        return;
    cio__report_exception(t->fut.loop, CIO_EXC_PENDING_TASK,
                          "Task was destroyed but it is pending!", 0, &t->fut, NULL, NULL);
    if (t->awaiting) {
        /* The awaited future may outlive the loop: it must not wake us. */
        cio__future_remove_node(t->awaiting, &t->await_node);
        cio_future_unref(t->awaiting);
        t->awaiting = NULL;
    }
    cio__task_io_end(t); /* the loop is closing: no pin pass will look */
    cio__task_idle_del(t);
    t->tstate = CIO__T_DONE;
    cio__future_finish(&t->fut, -ECANCELED, NULL);
    task_retire(t->fut.loop, t);
}

void cio_task_set_name(cio_future *task, const char *name) {
    if (!cio_future_is_task(task))
        return;
    cio__task *t = (cio__task *)task;
    char *copy = name ? strdup(name) : NULL;
    if (name && !copy)
        return;
    free(t->name);
    t->name = copy;
    if (t->prof_row)
        cio__prof_renamed(t->fut.loop, t); /* it counts under its new name from now */
}

/* Writes v's decimal digits just before end; returns where they start. */
static char *format_u64(uint64_t v, char *end) {
    do
        *--end = (char)('0' + v % 10);
    while (v /= 10);
    return end;
}

static size_t append(char *buf, size_t at, size_t cap, const char *s) {
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    buf[at] = 0;
    return at;
}

/* Derived from fields that never change, so nothing is stored: creation
 * stays cheap, and the symbol is looked up (executors/symbol.c) only when a
 * name is asked for. No malloc: the overflow reporter calls it too. */
size_t cio__task_default_name(const struct cio__task *t, char *buf, size_t cap) {
    char digits[24], sym[CIO__TASK_NAME_MAX];
    digits[sizeof digits - 1] = 0;
    size_t n = append(buf, 0, cap, "Task-");
    n = append(buf, n, cap, format_u64(t->id, digits + sizeof digits - 1));
    union {
        cio_fn fn;
        const void *p;
    } fn = {.fn = t->fn};
    cio__symbol_name(fn.p, sym, sizeof sym);
    if (strncmp(sym, "0x", 2) != 0) { /* "0x..." when no symbol is known */
        n = append(buf, n, cap, " (");
        n = append(buf, n, cap, sym);
        n = append(buf, n, cap, ")");
    }
    return n;
}

/* Default names are formatted into a few buffers of the calling thread in
 * turn, so that two names in one printf stay apart; the task is not touched. */
#define NAME_SLOTS 4
static __thread char name_slots[NAME_SLOTS][CIO__TASK_NAME_MAX];
static __thread unsigned name_next;

const char *cio_task_name(const cio_future *task) {
    if (!cio_future_is_task(task))
        return NULL;
    const cio__task *t = (const cio__task *)task;
    if (t->name)
        return t->name;
    char *buf = name_slots[name_next++ % NAME_SLOTS];
    cio__task_default_name(t, buf, CIO__TASK_NAME_MAX);
    return buf;
}

int cio_task_cancelling(const cio_future *task) {
    return cio_future_is_task(task) ? ((const cio__task *)task)->cancel_requests : 0;
}

int cio_task_uncancel(cio_future *task) {
    if (!cio_future_is_task(task))
        return 0;
    cio__task *t = (cio__task *)task;
    if (t->cancel_requests > 0 && --t->cancel_requests == 0)
        t->must_cancel = false; /* rescind a request not delivered yet (3.13) */
    return t->cancel_requests;
}

size_t cio_all_tasks(cio_loop *loop, cio_future **out, size_t cap) {
    size_t n = 0;
    cio__list_each(&loop->all_tasks, it, next) {
        if (n < cap)
            out[n] = &CIO__TASK_OF(it)->fut;
        n++;
    }
    return n;
}
