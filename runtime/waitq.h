/* Wait queues for the synchronisation primitives: an intrusive FIFO of
 * waiters that live on the waiting tasks' stacks (a parked task's frame stays
 * put until it is woken), so waiting allocates nothing. */
#ifndef CIO_WAITQ_H
#define CIO_WAITQ_H

#include "list.h"
#include "task.h"

#include <stddef.h>

struct cio__waitq;

typedef struct cio__waiter {
    cio__list_node link;
    struct cio__waitq *q; /* NULL once unlinked (woken or cancelled) */
    cio__task *task;
    void *item; /* queue: the item handed over in either direction */
    long val;   /* barrier: the arrival index */
} cio__waiter;

typedef struct cio__waitq {
    cio__list waiters;
    /* Runs after a waiter of this queue was cancelled and unlinked (the
     * barrier breaks its round). NULL: nothing. */
    void (*on_cancel)(struct cio__waitq *q);
} cio__waitq;

/* In a task: queues w (zeroed by the caller apart from item/val) and parks
 * until a cio__waitq_wake*; returns the wake value. A cancellation unlinks w
 * and returns -ECANCELED; a cancellation that arrives after the wake-up is
 * left for the task's next suspension point. */
int cio__waitq_wait(cio__waitq *q, cio__waiter *w);
/* Unlinks the oldest waiter and wakes it with val; NULL if none. The caller
 * may fill w->item before calling cio__waitq_wake. */
cio__waiter *cio__waitq_pop(cio__waitq *q);
void cio__waitq_wake(cio__waiter *w, int val);
/* Wakes every waiter with val, oldest first; returns how many. */
size_t cio__waitq_wake_all(cio__waitq *q, int val);
/* How many waiters are queued. */
static inline size_t cio__waitq_len(const cio__waitq *q) {
    return q->waiters.n;
}
/* -EPERM (debug message) outside a task. */
int cio__waitq_require(const char *fn);

#endif
