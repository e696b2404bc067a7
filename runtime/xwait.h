/* Cross-thread wait queues: FIFO lists of waiters guarded by a caller's
 * mutex, where a waiter is a task of any loop or a plain thread, and the
 * waker may run on any thread. The channels (chan.c, bcast.c, latest.c) park
 * here on their slow paths. A wake-up is a hint: the woken party re-checks its
 * condition under the mutex, so spurious wake-ups are harmless. */
#ifndef CIO_XWAIT_H
#define CIO_XWAIT_H

#include "list.h"
#include "mpsc.h"
#include "task.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct cio__xwaitq {
    cio__list waiters;
    pthread_mutex_t *mu;
} cio__xwaitq;

void cio__xwaitq_init(cio__xwaitq *q, pthread_mutex_t *mu);
/* With q->mu held: waits for a cio__xwake_* and returns with q->mu held
 * again. A task suspends (only itself); a thread blocks. 0 when woken;
 * -ECANCELED when the task was cancelled (a wake-up it had been given is
 * passed on to the next waiter); -ENOMEM. */
int cio__xwait(cio__xwaitq *q);
/* With q->mu held: wakes the oldest waiter; false if there was none. */
bool cio__xwake_one(cio__xwaitq *q);
/* With q->mu held: wakes every waiter; returns how many. */
size_t cio__xwake_all(cio__xwaitq *q);

#endif
