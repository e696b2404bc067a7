/* The event loop's state, shared by the runtime's modules. */
#ifndef CIO_LOOP_H
#define CIO_LOOP_H

#include "cio.h"
#include "handle.h"
#include "mpsc.h"
#include "stack.h"
#include "task.h"
#include "backend.h"
#include "tscall.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* The loop knows nothing of the layers above it: each keeps its per-loop
 * state in a slot of its own, with the function that releases it when the
 * loop closes. Executors close first (their jobs still post to the loop);
 * the others once the backend is gone (no request of theirs is in flight). */
enum { CIO__SLOT_EXECUTOR, CIO__SLOT_RUN, CIO__SLOT_SIGNALS, CIO__SLOT_WATCHERS, CIO__SLOTS };
typedef void (*cio__slot_close)(cio_loop *loop, void *state);
typedef struct cio__slot {
    void *state;
    cio__slot_close close;
} cio__slot;

struct cio_loop {
    cio__backend *backend;
    cio__handles handles;
    cio__handle *ready_head, *ready_tail;
    size_t nready;
    cio__timers timers;
    cio__stacks stacks;
    void *sched_sp; /* the loop's own stack while a task runs */
    void *sched_fiber;
    const void *sched_stack_lo;
    size_t sched_stack_size;
    cio__task *current;
    cio__list all_tasks; /* unfinished tasks (cio__task.all_link), oldest first */
    uint64_t next_task_id;
    cio__cbnode *free_nodes;
    cio__flush *flushes;
    cio__list free_tasks; /* recycled task structs (cio__task.all_link) */

    /* Cross-thread entry: call_soon_threadsafe, executor completions. */
    cio__mpsc inbox;
    int wake_fd; /* eventfd */
    uint64_t wake_buf;
    cio__req wake_req;
    bool wake_armed;          /* the eventfd read is in the ring */
    _Atomic int sleeping;     /* the loop is (about to be) blocked in the kernel */
    _Atomic int wake_pending; /* an eventfd write is in flight */
    _Atomic int refs;         /* live futures + executors holding the loop + 1 while open */
    _Atomic int closed;

    pthread_t thread;
    bool running, stopping, debug;
    double slow_callback;
    size_t stack_size;
    cio_options opts;            /* as given to cio_loop_new (zeroes: defaults) */
    cio__slot slots[CIO__SLOTS]; /* the layers above keep their per-loop state here */
    cio__ts_slots ts_calls;      /* cio_call_soon_threadsafe's (tscall.c) */
    struct cio__prof *prof;      /* CIO_PROFILE / CIO_TRACE (profile.c); NULL: off */
    /* The exception handler and its arg (exception.c); NULL: the default. */
    cio_exception_handler exc_handler;
    void *exc_arg;

    /* Stack trimming (task_trim.c). */
    cio__list idle_tasks;    /* parked tasks (cio__task.idle_link), oldest first */
    cio__list eager_tasks;   /* parked for trim_after at least: trimmed this iteration */
    cio__list io_tasks;      /* tasks with a cio__io request in flight (io_link) */
    cio__list woken_trimmed; /* trimmed tasks woken, to restore in batches */
    uint32_t trim_epoch;     /* sweeps so far */
    uint32_t pin_epoch;      /* pin passes so far: a stack pinned in this one stays */
    unsigned trim_ticks;     /* busy iterations since the last clock check */
    bool trim_pending;       /* a sweep is under way, a batch per iteration */
    double trim_after;       /* seconds; negative: never */
    double trim_next;        /* the next sweep is due then */
    size_t jobs_inflight;    /* executor job futures still pending */
};

/* The loop running on this thread (NULL if none). */
cio_loop *cio__loop_running(void);
/* Whether opt's time fields follow cio.h's time rule (no NaN); NULL is valid. */
bool cio__options_valid(const cio_options *opt);
/* Any thread: queue n; n->fn runs on the loop thread. -ESHUTDOWN once closed. */
int cio__loop_post(cio_loop *loop, cio__mpsc_node *n);
/* Any thread: keep the loop's memory alive (executors with jobs in flight). */
void cio__loop_ref(cio_loop *loop);
void cio__loop_unref(cio_loop *loop);
/* Appends h to the ready queue. */
void cio__loop_ready(cio_loop *loop, cio__handle *h);
/* Loop thread: f->fn runs once before the loop next polls (no-op if queued). */
void cio__loop_defer_flush(cio_loop *loop, cio__flush *f);
/* Takes a queued flush back (no-op if not queued). */
void cio__loop_cancel_flush(cio_loop *loop, cio__flush *f);
/* Debug-mode check that the caller runs on the loop's thread (aborts if not). */
void cio__loop_check_thread(const cio_loop *loop, const char *fn);
/* cio_close and stream close: requests on fd end (see backend.h). */
static inline void cio__loop_fd_closing(cio_loop *loop, int fd) {
    loop->backend->ops->fd_closing(loop->backend, fd);
}
/* The fd's lifetime is cio's until cio__loop_fd_closing (streams, servers). */
static inline void cio__loop_fd_owned(cio_loop *loop, int fd) {
    loop->backend->ops->fd_owned(loop->backend, fd);
}
/* A layer's per-loop state (NULL until set). */
static inline void *cio__loop_slot(const cio_loop *loop, int id) {
    return loop->slots[id].state;
}
/* Sets it, with the function cio_loop_close calls on it (may be NULL). */
static inline void cio__loop_slot_set(cio_loop *loop, int id, void *state, cio__slot_close close) {
    loop->slots[id] = (cio__slot){state, close};
}

/* In a forked child: no loop runs on this thread (nor does its task). */
void cio__loop_forget_after_fork(void);

#endif
