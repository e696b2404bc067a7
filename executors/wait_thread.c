/* cio__wait_in_thread (see wait_thread.h). The waiter and the thread each
 * hold a reference to the record; a cancelled waiter leaves at once. */
#include "wait_thread.h"
#include "fault.h"
#include "loop.h"
#include "task.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

typedef struct waiter {
    cio__mpsc_node node; /* first: the post back */
    void (*block)(void *);
    void (*done)(void *);
    void *arg;
    cio_loop *loop;
    cio__task *task; /* loop thread only: the parked waiter, NULL once gone */
    _Atomic int refs;
} waiter;

static void waiter_unref(waiter *w) {
    if (atomic_fetch_sub(&w->refs, 1) == 1)
        free(w);
}

static void waited(cio__mpsc_node *n) {
    waiter *w = (waiter *)n;
    if (w->task)
        cio__task_wake(w->task, 0);
    w->task = NULL;
    waiter_unref(w);
}

static void *waiting_thread(void *arg) {
    waiter *w = arg;
    cio_loop *loop = w->loop;
    w->block(w->arg);
    w->done(w->arg);
    if (cio__loop_post(loop, &w->node) < 0)
        waiter_unref(w); /* closed: nobody waits any more */
    cio__loop_unref(loop);
    return NULL;
}

static void waiter_cancel(cio__task *t, void *ctx) {
    ((waiter *)ctx)->task = NULL;
    cio__task_wake(t, -ECANCELED);
}

static int start(waiter *w) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals belong to the loop */
    pthread_t th;
    int r = CIO__FAULT(CIO__FAULT_THREAD) ? EAGAIN : pthread_create(&th, &attr, waiting_thread, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return -r;
}

int cio__wait_in_thread(void (*block)(void *), void (*done)(void *), void *arg) {
    cio_loop *loop = cio__loop_running();
    waiter *w = CIO__FAULT(CIO__FAULT_ALLOC) ? NULL : malloc(sizeof *w);
    if (w) {
        *w = (waiter){.node.fn = waited,
                      .block = block,
                      .done = done,
                      .arg = arg,
                      .loop = loop,
                      .task = cio__task_current()};
        atomic_init(&w->refs, 2);
        cio__loop_ref(loop);
    }
    if (!w || start(w) < 0) {
        if (w) {
            cio__loop_unref(loop);
            free(w);
        }
        block(arg);
        done(arg);
        return 0;
    }
    int r = cio__task_park(waiter_cancel, w);
    w->task = NULL;
    waiter_unref(w);
    return r == -ECANCELED ? r : 0;
}
