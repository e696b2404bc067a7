/* asyncio.run: a fresh loop around one main task, with a clean shutdown. */
#include "debug.h"
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static cio_loop *_Atomic sigint_loop;

static void on_sigint(int sig) {
    (void)sig;
    cio_loop *loop = atomic_load(&sigint_loop);
    if (!loop)
        return;
    atomic_store(&loop->sigint, 1);
    uint64_t one = 1;
    if (write(loop->wake_fd, &one, sizeof one) < 0)
        return;
}

/* asyncio.run cancels the main task on Ctrl-C, but only when the program
 * has not taken SIGINT for itself. */
static bool take_sigint(cio_loop *loop, struct sigaction *old) {
    if (sigaction(SIGINT, NULL, old) < 0 || old->sa_handler != SIG_DFL)
        return false;
    atomic_store(&sigint_loop, loop);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, NULL) == 0;
}

static void give_sigint(const struct sigaction *old) {
    sigaction(SIGINT, old, NULL);
    atomic_store(&sigint_loop, NULL);
}

typedef struct leftovers {
    size_t pending;
    cio_loop *loop;
} leftovers;

static void leftover_done(cio_future *f, void *arg) {
    (void)f;
    leftovers *l = arg;
    if (--l->pending == 0)
        cio_loop_stop(l->loop);
}

/* Cancels every task still alive and runs the loop until they have ended. */
static void cancel_leftovers(cio_loop *loop) {
    size_t n = cio_all_tasks(loop, NULL, 0);
    if (!n)
        return;
    cio_future **ts = malloc(n * sizeof *ts);
    if (!ts)
        return;
    cio_all_tasks(loop, ts, n);
    leftovers l = {.pending = n, .loop = loop};
    for (size_t i = 0; i < n; i++) {
        cio_future_ref(ts[i]);
        cio_cancel(ts[i]);
        if (cio_future_add_done_callback(ts[i], leftover_done, &l) < 0)
            l.pending--;
    }
    if (l.pending)
        cio_loop_run_forever(loop);
    for (size_t i = 0; i < n; i++) {
        int err = cio_future_error(ts[i]);
        if (err && err != -ECANCELED)
            cio_log(CIO_LOG_ERROR, "unhandled error in task '%s' during shutdown: %s",
                    cio_task_name(ts[i]), cio_strerror(err));
        cio_future_unref(ts[i]);
    }
    free(ts);
}

/* Done callbacks of tasks that ended in the last round, and completions
 * other threads posted, still have to run (they often free things): a few
 * rounds of the loop settle them before it closes. */
static void settle(cio_loop *loop) {
    for (int round = 0; round < 16 && (loop->nready || !cio__mpsc_empty(&loop->inbox)); round++) {
        cio_loop_stop(loop);
        cio_loop_run_forever(loop);
    }
}

int cio_run_with(const cio_options *opt, cio_fn main, void *arg, void **result) {
    if (!main)
        return -EINVAL;
    if (cio_get_running_loop())
        return -EBUSY;
    cio_loop *loop = cio_loop_new(opt);
    if (!loop)
        return errno == EPERM || errno == ENOSYS || errno == EINVAL ? CIO_EUNAVAIL : -errno;
    cio_future *task =
        cio_loop_create_task_with(loop, &(cio_task_options){.name = "main"}, main, arg);
    if (!task) {
        int e = -errno;
        cio_loop_close(loop);
        return e;
    }
    loop->main_task = task;
    struct sigaction old;
    bool own_sigint = take_sigint(loop, &old);
    int r = cio_loop_run_until_complete(loop, task);
    if (r == 0 && result)
        cio_future_result(task, result);
    cancel_leftovers(loop);
    settle(loop);
    if (loop->default_executor) {
        cio_executor_shutdown(loop->default_executor, true, false);
        cio_executor_free(loop->default_executor);
        loop->default_executor = NULL;
        settle(loop); /* the jobs that finished meanwhile: their futures' callbacks */
    }
    if (own_sigint)
        give_sigint(&old);
    if (loop->interrupted && r == -ECANCELED)
        r = -EINTR;
    loop->main_task = NULL;
    cio_future_unref(task);
    cio_loop_close(loop);
    return r;
}

int cio_run(cio_fn main, void *arg, void **result) {
    return cio_run_with(NULL, main, arg, result);
}
