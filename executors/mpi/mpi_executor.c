/* cio-mpi's executor, its loop side on rank 0: submission, cancellation,
 * delivery of results, shutdown. It uses only cio's public API (it is a
 * user executor in its own library): futures are completed on the loop
 * thread by cio__mpi_deliver, which the progress thread schedules with
 * cio_call_soon_threadsafe once per batch of results. */
#include "rank0.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void all_link(cio__mpi_exec *x, cio__mpi_job *j) {
    j->all_prev = NULL;
    j->all_next = x->all;
    if (x->all)
        x->all->all_prev = j;
    x->all = j;
}

static void all_unlink(cio__mpi_exec *x, cio__mpi_job *j) {
    if (j->all_prev)
        j->all_prev->all_next = j->all_next;
    else
        x->all = j->all_next;
    if (j->all_next)
        j->all_next->all_prev = j->all_prev;
}

void cio__mpi_job_free(cio__mpi_job *j) {
    cio_future_unref(j->fut);
    free(j->msg);
    cio_bytes_free(j->res_buf);
    free(j);
}

static void job_unref(cio__mpi_exec *x, cio__mpi_job *j) {
    if (--j->refs > 0)
        return;
    all_unlink(x, j);
    cio__mpi_job_free(j);
}

static void check_drained(cio__mpi_exec *x) {
    if (x->live || !x->drained)
        return;
    cio_future_set_result(x->drained, NULL);
    cio_future_unref(x->drained);
    x->drained = NULL;
}

/* Under mu: takes a job not sent yet off its list; false when it left already. */
static bool unqueue(cio__mpi_exec *x, cio__mpi_job *j) {
    if (j->where != CIO__MPI_QUEUED && j->where != CIO__MPI_PENDING)
        return false;
    cio__mpi_list_unlink(j->where == CIO__MPI_QUEUED ? &x->queue : &x->pending, j);
    j->where = CIO__MPI_NOWHERE;
    free(j->msg);
    j->msg = NULL;
    return true;
}

/* A job that left the queue unsent: it is over for the executor. */
static void dropped(cio__mpi_exec *x, cio__mpi_job *j) {
    x->live--;
    job_unref(x, j);
    check_drained(x);
}

/* Runs once the future is done, whatever ended it. A cancelled job still in
 * the queue never runs; one already sent runs on and its result is dropped. */
static void on_done(cio_future *f, void *arg) {
    cio__mpi_job *j = arg;
    cio__mpi_exec *x = j->x;
    if (cio_future_cancelled(f)) {
        pthread_mutex_lock(&x->mu);
        bool unsent = unqueue(x, j);
        pthread_mutex_unlock(&x->mu);
        if (unsent)
            dropped(x, j); /* the owner's reference */
    }
    job_unref(x, j); /* this callback's */
}

static void complete(cio__mpi_job *j) {
    if (!j->err && j->kind == CIO__MPI_W_BYTES && !j->res_buf && !(j->res_buf = cio_bytes_alloc(0)))
        j->err = -ENOMEM;
    if (j->err) {
        cio_future_set_error(j->fut, j->err);
    } else if (j->kind == CIO__MPI_W_BYTES) {
        cio_future_set_bytes(j->fut, j->res_buf, j->out_len);
        j->res_buf = NULL; /* the future's now */
    } else {
        cio_future_set_result(j->fut, (void *)(uintptr_t)j->value);
    }
}

void cio__mpi_deliver(void *arg) {
    cio__mpi_exec *x = arg;
    pthread_mutex_lock(&x->mu);
    cio__mpi_job *j = x->done.head;
    x->done = (cio__mpi_list){0};
    x->posted = false;
    for (cio__mpi_job *k = j; k; k = k->next)
        k->where = CIO__MPI_NOWHERE;
    pthread_mutex_unlock(&x->mu);
    while (j) {
        cio__mpi_job *next = j->next;
        if (!cio_future_done(j->fut)) /* else cancelled meanwhile: dropped */
            complete(j);
        x->live--;
        job_unref(x, j);
        j = next;
    }
    check_drained(x);
}

/* ---- submission ---- */

static cio__mpi_job *job_new(cio__mpi_exec *x, uint32_t kind, uint64_t fn, uint64_t arg,
                             const void *in, size_t in_len, size_t out_cap) {
    cio__mpi_job *j = calloc(1, sizeof *j);
    size_t len = sizeof(cio__mpi_wire_job) + cio__mpi_pad8(in_len);
    cio__mpi_wire_job *m = j ? malloc(len) : NULL;
    cio_future *f = m ? cio_loop_future_new(x->loop) : NULL;
    if (!f) {
        free(m);
        free(j);
        return NULL;
    }
    *m = (cio__mpi_wire_job){.kind = kind,
                             .id = x->next_id++,
                             .fn = fn,
                             .arg = arg,
                             .in_len = in_len,
                             .out_cap = out_cap};
    if (in_len) {
        memcpy(m + 1, in, in_len);
        memset((char *)(m + 1) + in_len, 0, cio__mpi_pad8(in_len) - in_len);
    }
    *j = (cio__mpi_job){
        .x = x, .fut = f, .id = m->id, .kind = kind, .fn = fn, .refs = 2, .msg = m, .msg_len = len};
    return j;
}

/* The iteration's submissions reach the progress thread together, with one
 * wake-up: it can pack them into few messages. */
static void flush_pending(cio__mpi_exec *x) {
    if (!x->pending.head)
        return;
    pthread_mutex_lock(&x->mu);
    for (cio__mpi_job *j = x->pending.head; j; j = j->next)
        j->where = CIO__MPI_QUEUED;
    if (x->queue.tail) {
        x->queue.tail->next = x->pending.head;
        x->pending.head->prev = x->queue.tail;
    } else {
        x->queue.head = x->pending.head;
    }
    x->queue.tail = x->pending.tail;
    x->queue.n += x->pending.n;
    x->pending = (cio__mpi_list){0};
    pthread_mutex_unlock(&x->mu);
    cio__mpi_progress_send(x);
}

static void flush_pending_cb(void *arg) {
    cio__mpi_exec *x = arg;
    x->flush_scheduled = false;
    flush_pending(x);
}

/* Checks that the caller may submit: 0 or a negative errno. */
static int may_submit(cio__mpi_exec *x, const void *fn, uint64_t *off) {
    if (cio_get_running_loop() != x->loop || !x->loop)
        return -EPERM;
    if (x->shutdown)
        return -ESHUTDOWN;
    if (!fn)
        return -EINVAL;
    return cio__mpi_image_offset(fn, off);
}

cio_future *cio__mpi_submit(cio__mpi_exec *x, uint32_t kind, const void *fn, uint64_t arg,
                            const void *in, size_t in_len, size_t out_cap) {
    uint64_t off = 0;
    int r = may_submit(x, fn, &off);
    if (r == 0 && (in_len > CIO__MPI_MAX_PAYLOAD || out_cap > CIO__MPI_MAX_PAYLOAD))
        r = -EMSGSIZE; /* an MPI message counts its bytes in an int */
    cio__mpi_job *j = r < 0 ? NULL : job_new(x, kind, off, arg, in, in_len, out_cap);
    if (j && cio_future_add_done_callback(j->fut, on_done, j) < 0) {
        cio__mpi_job_free(j);
        j = NULL;
    }
    if (!j) {
        errno = r < 0 ? -r : ENOMEM;
        return NULL;
    }
    if (!x->flush_scheduled && !cio_call_soon(flush_pending_cb, x).p) {
        cio__mpi_job_free(j);
        errno = ENOMEM;
        return NULL;
    }
    x->flush_scheduled = true;
    cio_future_ref(j->fut); /* the caller's; the job keeps its own */
    all_link(x, j);
    x->live++;
    j->where = CIO__MPI_PENDING;
    cio__mpi_list_append(&x->pending, j);
    return j->fut;
}

static cio_future *mx_submit(cio_executor *ex, cio_fn fn, void *arg) {
    return cio__mpi_submit((cio__mpi_exec *)ex, CIO__MPI_W_SCALAR, (const void *)fn,
                           (uint64_t)(uintptr_t)arg, NULL, 0, 0);
}

static cio_future *mx_submit_bytes(cio_executor *ex, cio_bytes_fn fn, const void *in, size_t in_len,
                                   size_t out_cap) {
    return cio__mpi_submit((cio__mpi_exec *)ex, CIO__MPI_W_BYTES, (const void *)fn, 0, in, in_len,
                           out_cap);
}

/* ---- shutdown ---- */

static void cancel_queued(cio__mpi_exec *x) {
    pthread_mutex_lock(&x->mu);
    cio__mpi_job *j = x->queue.head;
    x->queue = (cio__mpi_list){0};
    for (cio__mpi_job *k = j; k; k = k->next) {
        k->where = CIO__MPI_NOWHERE;
        free(k->msg);
        k->msg = NULL;
    }
    pthread_cond_broadcast(&x->idle);
    pthread_mutex_unlock(&x->mu);
    while (j) {
        cio__mpi_job *next = j->next;
        cio_cancel(j->fut); /* on_done finds it off the queue: only its own ref */
        dropped(x, j);
        j = next;
    }
}

/* wait in a task: the loop runs on while the results come back. */
static int wait_in_task(cio__mpi_exec *x) {
    if (x->drained && cio_future_done(x->drained)) { /* its waiter was cancelled */
        cio_future_unref(x->drained);
        x->drained = NULL;
    }
    if (!x->live)
        return 0;
    if (!x->drained && !(x->drained = cio_loop_future_new(x->loop)))
        return -ENOMEM;
    cio_future *d = x->drained;
    cio_future_ref(d);
    int r = cio_await(d, NULL);
    cio_future_unref(d);
    return r == -ECANCELED ? r : 0;
}

/* wait outside a task: block until nothing is queued or on a rank. */
static void wait_blocking(cio__mpi_exec *x) {
    pthread_mutex_lock(&x->mu);
    while (x->queue.head || x->sent_total)
        pthread_cond_wait(&x->idle, &x->mu);
    pthread_mutex_unlock(&x->mu);
}

static int mx_shutdown(cio_executor *ex, bool wait, bool cancel_futures) {
    cio__mpi_exec *x = (cio__mpi_exec *)ex;
    if (cio_get_running_loop() == x->loop)
        flush_pending(x); /* submitted before the shutdown: they run (or are cancelled below) */
    x->shutdown = true;
    if (cancel_futures)
        cancel_queued(x);
    if (!wait)
        return 0;
    if (cio_current_task() && cio_get_running_loop() == x->loop)
        return wait_in_task(x);
    wait_blocking(x);
    return 0;
}

static void mx_destroy(cio_executor *ex) {
    mx_shutdown(ex, false, false); /* cio_mpi_main owns the memory */
}

static const cio_executor_ops mpi_ops = {
    .name = "mpi",
    .submit = mx_submit,
    .shutdown = mx_shutdown,
    .destroy = mx_destroy,
    .submit_bytes = mx_submit_bytes,
};

int cio__mpi_exec_init(cio__mpi_exec *x, int nranks) {
    *x = (cio__mpi_exec){.base.ops = &mpi_ops, .nranks = nranks, .latency_ns = 1e6};
    x->ranks = calloc((size_t)nranks, sizeof *x->ranks);
    if (!x->ranks)
        return -ENOMEM;
    pthread_mutex_init(&x->mpi_mu, NULL);
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->idle, NULL);
    return 0;
}

void cio__mpi_exec_release(cio__mpi_exec *x) {
    while (x->all) {
        cio__mpi_job *j = x->all;
        all_unlink(x, j);
        cio__mpi_job_free(j);
    }
    if (x->drained)
        cio_future_unref(x->drained);
    if (x->keepalive)
        cio_future_unref(x->keepalive);
    free(x->ranks);
    pthread_mutex_destroy(&x->mpi_mu);
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->idle);
}
