/* Tasks: futures that run a cio_fn on their own stack. */
#ifndef CIO_TASK_H
#define CIO_TASK_H

#include "future.h"
#include "handle.h"
#include "uring.h"
#include <stdbool.h>

struct cio__stack;

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
    cio__op io_op;       /* the task's one outstanding I/O request */
    cio__flush io_retry; /* a cancel that found no SQE, retried each iteration */
    int io_res;
    uint32_t io_flags;
    bool io_pending;
    cio__park_cancel_fn park_cancel;
    void *park_ctx;
    int wake_val;
    int fail_err;
    int cancel_requests; /* Task.cancelling() */
    bool must_cancel;    /* a request not delivered yet */
    uint8_t tstate;
    uint64_t id;
    char *name;
    struct cio__task *all_prev, *all_next; /* the loop's unfinished tasks */
    void *fiber;                           /* TSan fiber */
    const void *asan_stack_lo;
    size_t asan_stack_size;
} cio__task;

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

/* I/O in a task. Usage:
 *     struct io_uring_sqe *sqe = cio__io_sqe();
 *     if (!sqe) return -errno;
 *     cio__sqe_prep(sqe, IORING_OP_READ, fd, buf, len, off);
 *     return cio__io_wait(NULL);
 * No suspension may happen between the two calls. */
/* In a task: an SQE whose CQE wakes the current task. NULL with errno
 * (EPERM outside a task, EBUSY/ENOMEM when the ring has no room). */
struct io_uring_sqe *cio__io_sqe(void);
/* Parks until that SQE's CQE and returns cqe->res (*flags gets cqe->flags).
 * A cancel request submits ASYNC_CANCEL and still waits for the CQE, so the
 * caller's buffers stay valid; the result is then -ECANCELED if the kernel
 * dropped the request, or the real result if it had completed (the
 * cancellation is then delivered at the next suspension point). */
int cio__io_wait(uint32_t *flags);

/* For the I/O wrappers (fs.c, net.c), around a liburing prep helper that
 * zeroes the SQE, user_data included:
 *     CIO__IO_BEGIN(sqe); io_uring_prep_read(sqe, ...); return CIO__IO_END(sqe); */
#define CIO__IO_BEGIN(sqe)                                                                         \
    struct io_uring_sqe *sqe = cio__io_sqe();                                                      \
    if (!sqe)                                                                                      \
        return -errno;                                                                             \
    uint64_t keep_##sqe = sqe->user_data
#define CIO__IO_END(sqe) (sqe->user_data = keep_##sqe, cio__io_wait(NULL))

#endif
