/* The executor interface: dispatch through cio_executor_ops, the loop's
 * default thread pool, and asyncio's to_thread on top. */
#include "loop.h"
#include "task.h"

#include <errno.h>

cio_future *cio_run_in_executor(cio_executor *ex, cio_fn fn, void *arg) {
    cio_loop *loop = cio__loop_running();
    if (!loop || !fn) {
        errno = loop ? EINVAL : EPERM;
        return NULL;
    }
    if (!ex) {
        cio_executor **slot = cio__loop_default_executor(loop);
        if (!*slot && !(*slot = cio_thread_pool_new(cio__loop_default_workers(loop))))
            return NULL;
        ex = *slot;
    }
    return ex->ops->submit(ex, fn, arg);
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
