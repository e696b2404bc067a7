/* Tasks: futures that run a cio_fn on their own stack. */
#ifndef CIO_TASK_H
#define CIO_TASK_H

#include "future.h"
#include "handle.h"
#include "backend.h"
#include <stdbool.h>

struct cio__stack;
struct cio__ctx;

enum { CIO__T_NEW, CIO__T_READY, CIO__T_RUNNING, CIO__T_PARKED, CIO__T_DONE };

/* Called when the parked task is cancelled; it must make sure the task gets
 * woken (usually at once with -ECANCELED, for I/O when the kernel lets go). */
typedef void (*cio__park_cancel_fn)(struct cio__task *t, void *ctx);

typedef struct cio__task {
    cio_future fut; /* first: a task is a future */
    cio_fn fn;
    void *arg;
    void *sp; /* saved stack pointer while not running */
    struct cio__stack *stack;
    size_t stack_size;
    cio__handle step; /* the ready-queue entry that resumes the task */
    cio__cbnode await_node;
    cio_future *awaiting;
    cio__req *io_req;    /* the task's one outstanding I/O request (io_req_copy) */
    cio__flush io_retry; /* a cancel that found no SQE, retried each iteration */
    int io_res;
    uint32_t io_flags;
    bool io_pending;
    bool io_cancel_asked; /* the request was asked to drop (by a cancel or a deadline) */
    cio__park_cancel_fn park_cancel;
    void *park_ctx;
    int wake_val;
    int fail_err;
    int cancel_requests; /* Task.cancelling() */
    bool must_cancel;    /* a request not delivered yet */
    uint8_t tstate;
    uint8_t wait_kind;  /* CIO__WAIT_*: what the next park waits for (profile.h) */
    uint8_t prof_kind;  /* the profiler's: what the parked task waits for */
    int8_t prof_op;     /* ... and the I/O request's op, or -1 */
    uint64_t prof_park; /* the profiler's: when it parked (ticks), 0: not parked */
    void *prof_row;     /* the profiler's row for it (profile.c) */
    uint64_t id;
    char *name;
    struct cio__ctx *ctx;    /* task-local context (context.c), NULL: empty */
    cio__list_node all_link; /* in the loop's all_tasks, or its free_tasks */
    void *fiber;             /* TSan fiber */
    const void *asan_stack_lo;
    size_t asan_stack_size;
    /* Stack trimming (task_trim.c). */
    cio__req io_req_copy;     /* cio__io's request, kept off the stack */
    cio__list_node idle_link; /* in the loop's idle_tasks (stack trimming) */
    uint32_t idle_epoch;      /* loop->trim_epoch when it parked */
    uint8_t idle_list;        /* CIO__IDLE_*: which of the loop's lists idle_link is in */
    bool trim_eager;          /* the next park is known to last trim_after at least */
    bool io_listed;           /* io_link is in the loop's io_tasks */
    cio__list_node io_link;
    bool trimmed;   /* its stack gave its pages back (cio__task_untrim before running) */
    uint32_t trims; /* how often: a stream tells an idle connection by it */
} cio__task;

/* The loop's lists a task's idle_link can be in (task_trim.c). */
enum { CIO__IDLE_NONE, CIO__IDLE_SWEEP, CIO__IDLE_EAGER, CIO__IDLE_WOKEN };

/* The task whose all_link is node. */
#define CIO__TASK_OF(node) cio__list_entry(node, cio__task, all_link)

/* The task running now, or NULL. */
cio__task *cio__task_current(void);
/* In a task: parks it until cio__task_wake(); returns the wake value. If a
 * cancellation is pending it returns -ECANCELED at once without parking. While
 * parked, cio_cancel() calls on_cancel(t, ctx) (NULL: wake with -ECANCELED). */
int cio__task_park(cio__park_cancel_fn on_cancel, void *ctx);
/* Switches from the current task to the loop. The caller has set tstate and
 * arranged for a wake (cio__task_park is the usual way in). */
void cio__task_suspend(cio__task *t);
/* Makes a parked task ready; it resumes from cio__task_park with val. */
void cio__task_wake(cio__task *t, int val);
/* Wakes the parked task with -ECANCELED (a ready-made on_cancel). */
void cio__task_wake_cancelled(cio__task *t, void *ctx);
/* -EPERM (with a debug message naming fn) when not in a task, else 0. */
int cio__task_require(const char *fn);
/* Loop side: runs/resumes a task (the step handle's callback). */
void cio__task_step(void *task);
/* Loop close: completes a never-finished task as cancelled without running it. */
void cio__task_abandon(cio__task *t);
void cio__task_free(cio__task *t);

/* Stack trimming (task_trim.c): a task parked through two sweeps of its loop
 * (trim_after seconds apart) gives its stack pages back. */
/* t parks: it joins the loop's list of sweep candidates, or with trim_eager
 * set (a sleep of trim_after or more) is trimmed at the iteration's end. */
void cio__task_idle_add(cio__task *t);
/* t is woken or retired: it leaves that list. */
void cio__task_idle_del(cio__task *t);
/* A trimmed t was woken: it is restored with others woken alike. */
void cio__task_woke_trimmed(cio__task *t);
/* Before t runs again: its stack is whole (and those of up to 63 other
 * trimmed tasks woken since, in the same two system calls). */
void cio__task_untrim(cio__task *t);
/* Loop: trims the eager candidates now (a batch has gathered, or the
 * iteration ends). */
enum { CIO__TRIM_BATCH = 64 };
void cio__trim_eager(cio_loop *loop);
/* Loop, each iteration (blocked: it waited in the kernel): sweeps when due. */
void cio__trim_check(cio_loop *loop, bool blocked);
/* Loop, before it blocks: the timeout cut to the next sweep if one is due. */
double cio__trim_timeout(cio_loop *loop, double timeout);
/* cio__io: t's request is in flight / has ended (the pin pass walks these). */
void cio__task_io_begin(cio__task *t);
void cio__task_io_end(cio__task *t);
/* cio__io: restores the trimmed stacks that hold r's memory. */
void cio__trim_touch_req(cio_loop *loop, const cio__req *r);

/* I/O in a task: submits r (a request on the caller's stack, its done and
 * ctx set here) and parks until it is done; returns its result.
 *     return cio__io(&(cio__req){.op = CIO__OP_READ, .fd = fd, .addr = buf, ...});
 * A cancellation asks the backend to drop the request and still waits for
 * its end, so the caller's buffers stay valid: the result is then -ECANCELED
 * if it was dropped, or the real result if it completed (the cancellation is
 * then delivered at the next suspension point). A request ended because
 * its fd was closed (cio_close from another task) gives -EBADF. -EPERM
 * outside a task, -ECANCELED at once if a cancellation is pending. */
int cio__io(cio__req *r);
/* Asks the backend to drop the request t waits for in cio__io (a deadline:
 * t then sees -ECANCELED without being cancelled itself). */
void cio__io_drop(cio__task *t);
/* The done() flags of the task's last request (CIO__MORE). */
unsigned cio__io_flags(void);

#endif
