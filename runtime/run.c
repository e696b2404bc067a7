/* asyncio.run: a fresh loop around one main task, with a clean shutdown. */
#include "debug.h"
#include "exception.h"
#include "timearg.h"
#include "loop.h"
#include "thread_pool.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* cio_run's own state: the loop knows nothing of it. */
typedef struct run_state {
    cio__mpsc_node node; /* what the SIGINT handler posts */
    atomic_flag posted;
    cio_future *main_task;
    bool interrupted; /* SIGINT cancelled the main task */
} run_state;

static cio_loop *_Atomic sigint_loop;
static run_state *_Atomic sigint_run;

/* On the loop thread, from the inbox. */
static void interrupt(cio__mpsc_node *n) {
    run_state *rs = (run_state *)n;
    atomic_flag_clear(&rs->posted);
    rs->interrupted = true;
    if (rs->main_task)
        cio_cancel(rs->main_task);
}

/* Async-signal-safe: posting is an atomic exchange and at most one write. */
static void on_sigint(int sig) {
    (void)sig;
    int saved = errno;
    cio_loop *loop = atomic_load(&sigint_loop);
    run_state *rs = atomic_load(&sigint_run);
    if (loop && rs && !atomic_flag_test_and_set(&rs->posted) && cio__loop_post(loop, &rs->node) < 0)
        atomic_flag_clear(&rs->posted);
    errno = saved;
}

/* asyncio.run cancels the main task on Ctrl-C, but only when the program
 * has not taken SIGINT for itself. */
static bool take_sigint(cio_loop *loop, run_state *rs, struct sigaction *old) {
    if (sigaction(SIGINT, NULL, old) < 0 || old->sa_handler != SIG_DFL)
        return false;
    atomic_store(&sigint_run, rs);
    atomic_store(&sigint_loop, loop);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, NULL) == 0;
}

static void give_sigint(const struct sigaction *old) {
    sigaction(SIGINT, old, NULL);
    atomic_store(&sigint_loop, NULL);
    atomic_store(&sigint_run, NULL);
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
            cio__report_exception(loop, CIO_EXC_SHUTDOWN, "unhandled error during cio_run shutdown",
                                  err, ts[i], NULL, NULL);
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

#define SHUTDOWN_TIMEOUT 300.0 /* asyncio's wait for the default executor */
#define MAX_SHUTDOWN_WAIT 1e9  /* 31 years: a longer bound counts as none */

static double shutdown_limit(const cio_options *opt) {
    double t = opt && opt->shutdown_timeout ? opt->shutdown_timeout : SHUTDOWN_TIMEOUT;
    return cio__time_unlimited(t) || t > MAX_SHUTDOWN_WAIT ? -1 : t;
}

/* False when jobs still run after the bound: the pool is then left to
 * cio_loop_close, which lets those jobs end on their own threads once the
 * loop is marked closed (their results are dropped, nothing leaks). */
static bool wait_default_executor(cio_executor *ex, const cio_options *opt) {
    if (!cio__tp_is(ex)) {
        cio_executor_shutdown(ex, true, false);
        return true;
    }
    return cio__tp_shutdown_within(ex, shutdown_limit(opt)) == 0;
}

int cio_run_with(const cio_options *opt, cio_fn main, void *arg, void **result) {
    if (!main || !cio__options_valid(opt))
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
    run_state rs = {.node.fn = interrupt, .posted = ATOMIC_FLAG_INIT, .main_task = task};
    struct sigaction old;
    bool own_sigint = take_sigint(loop, &rs, &old);
    int r = cio_loop_run_until_complete(loop, task);
    if (r == 0 && result)
        cio_future_result(task, result);
    cancel_leftovers(loop);
    settle(loop);
    cio_executor *ex = cio__loop_slot(loop, CIO__SLOT_EXECUTOR);
    if (ex && wait_default_executor(ex, opt)) {
        cio_executor_free(ex);
        cio__loop_slot_set(loop, CIO__SLOT_EXECUTOR, NULL, NULL);
        settle(loop); /* the jobs that finished meanwhile: their futures' callbacks */
    }
    if (own_sigint)
        give_sigint(&old);
    if (rs.interrupted && r == -ECANCELED)
        r = -EINTR;
    rs.main_task = NULL;
    cio_future_unref(task);
    cio_loop_close(loop);
    return r;
}

int cio_run(cio_fn main, void *arg, void **result) {
    return cio_run_with(NULL, main, arg, result);
}
