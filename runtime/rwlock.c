/* Reader-writer lock for the tasks of one loop, phase-fair: a reader that
 * arrives while a writer holds or waits queues behind it (so a stream of
 * readers cannot starve a writer), and a writer's release admits every
 * reader queued meanwhile as one batch before the next writer (so a stream
 * of writers cannot starve readers). The lock is handed to the woken
 * waiters directly, as the other primitives do. */
#include "waitq.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>

struct cio_rwlock {
    cio__waitq readers, writers;
    size_t nreaders; /* holding */
    bool writer;     /* held by a writer */
};

static void admit_readers(cio_rwlock *l) {
    cio__waiter *w;
    while ((w = cio__waitq_pop(&l->readers))) {
        l->nreaders++;
        cio__waitq_wake(w, 0);
    }
}

static bool admit_writer(cio_rwlock *l) {
    cio__waiter *w = cio__waitq_pop(&l->writers);
    if (!w)
        return false;
    l->writer = true;
    cio__waitq_wake(w, 0);
    return true;
}

/* The last queued writer gave up: the readers it held back may go in. */
static void writer_cancelled(cio__waitq *q) {
    cio_rwlock *l = (cio_rwlock *)((char *)q - offsetof(cio_rwlock, writers));
    if (!l->writer && cio__waitq_len(&l->writers) == 0)
        admit_readers(l);
}

cio_rwlock *cio_rwlock_new(void) {
    cio_rwlock *l = calloc(1, sizeof *l);
    if (l)
        l->writers.on_cancel = writer_cancelled;
    return l;
}

int cio_rwlock_read_acquire(cio_rwlock *l) {
    if (!l)
        return -EINVAL;
    if (!l->writer && cio__waitq_len(&l->writers) == 0) {
        l->nreaders++;
        return 0;
    }
    int r = cio__waitq_require(__func__);
    if (r < 0)
        return r;
    cio__waiter w = {0};
    return cio__waitq_wait(&l->readers, &w);
}

int cio_rwlock_read_release(cio_rwlock *l) {
    if (!l)
        return -EINVAL;
    if (!l->nreaders)
        return -EPERM;
    if (--l->nreaders == 0)
        admit_writer(l);
    return 0;
}

int cio_rwlock_write_acquire(cio_rwlock *l) {
    if (!l)
        return -EINVAL;
    if (!l->writer && l->nreaders == 0 && cio__waitq_len(&l->writers) == 0) {
        l->writer = true;
        return 0;
    }
    int r = cio__waitq_require(__func__);
    if (r < 0)
        return r;
    cio__waiter w = {0};
    return cio__waitq_wait(&l->writers, &w);
}

int cio_rwlock_write_release(cio_rwlock *l) {
    if (!l)
        return -EINVAL;
    if (!l->writer)
        return -EPERM;
    l->writer = false;
    if (cio__waitq_len(&l->readers))
        admit_readers(l);
    else
        admit_writer(l);
    return 0;
}

size_t cio_rwlock_readers(const cio_rwlock *l) {
    return l ? l->nreaders : 0;
}

bool cio_rwlock_write_locked(const cio_rwlock *l) {
    return l && l->writer;
}

void cio_rwlock_free(cio_rwlock *l) {
    if (!l)
        return;
    l->writers.on_cancel = NULL;
    cio__waitq_wake_all(&l->readers, CIO_ESHUTDOWN);
    cio__waitq_wake_all(&l->writers, CIO_ESHUTDOWN);
    free(l);
}
