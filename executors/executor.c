/* The executor interface: dispatch through cio_executor_ops, the loop's
 * default thread pool, and asyncio's to_thread on top. */
#include "executor.h"
#include "context.h"
#include "future.h"
#include "loop.h"
#include "task.h"
#include "thread_pool.h"

#include <errno.h>
#include <unistd.h>

#define THREAD_WORKERS_MAX 32  /* concurrent.futures' cap */
#define THREAD_WORKERS_EXTRA 4 /* ...beyond the CPUs: threads that wait on I/O */

void (*cio__job_observer)(cio_loop *loop, const cio__job_times *t);

cio_future *cio__job_future(cio_future *f) {
    if (f)
        f->is_job = true;
    return f;
}

unsigned cio__default_workers(bool threads) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = cpus < 1 ? 1 : (unsigned)cpus;
    if (!threads)
        return n;
    n += THREAD_WORKERS_EXTRA;
    return n < THREAD_WORKERS_MAX ? n : THREAD_WORKERS_MAX;
}

/* Loop close: the default pool stops without waiting (cio_run has waited). */
static void close_default(cio_loop *loop, void *ex) {
    (void)loop;
    cio_executor_shutdown(ex, false, false);
    cio_executor_free(ex);
}

cio_executor *cio__default_executor(cio_loop *loop) {
    cio_executor *ex = cio__loop_slot(loop, CIO__SLOT_EXECUTOR);
    if (!ex && (ex = cio_thread_pool_new(loop->opts.default_executor_workers)))
        cio__loop_slot_set(loop, CIO__SLOT_EXECUTOR, ex, close_default);
    return ex;
}

/* A thread-pool job runs in its submitter's context (context.c); process
 * pools and other executors run the job as it is, as asyncio does. */
static cio_future *submit_in_context(cio_executor *ex, cio_fn fn, void *arg) {
    cio__ctx_job *j = cio__context_job_new(fn, arg);
    if (!j && errno)
        return NULL;
    cio_future *f = ex->ops->submit(ex, j ? cio__context_job_run : fn, j ? (void *)j : arg);
    if (j && !f) {
        int err = errno;
        cio__context_job_release(j, false);
        errno = err;
    } else if (j) {
        f->ctx_job = j;
    }
    return cio__job_future(f);
}

cio_future *cio_run_in_executor(cio_executor *ex, cio_fn fn, void *arg) {
    cio_loop *loop = cio__loop_running();
    if (!loop || !fn) {
        errno = loop ? EINVAL : EPERM;
        return NULL;
    }
    if (!ex && !(ex = cio__default_executor(loop)))
        return NULL;
    if (!cio__tp_is(ex))
        return cio__job_future(ex->ops->submit(ex, fn, arg));
    return submit_in_context(ex, fn, arg);
}

int cio_to_thread(cio_fn fn, void *arg, void **result) {
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    cio_future *f = cio_run_in_executor(NULL, fn, arg);
    if (!f)
        return -errno;
    /* Cancelling the caller cancels the future; the thread runs on, as in
     * asyncio, and its result is dropped. */
    r = cio_await(f, result);
    cio_future_unref(f);
    return r;
}

int cio_executor_shutdown(cio_executor *ex, bool wait, bool cancel_futures) {
    if (!ex)
        return -EINVAL;
    return ex->ops->shutdown(ex, wait, cancel_futures);
}

void cio_executor_free(cio_executor *ex) {
    if (ex)
        ex->ops->destroy(ex);
}
