/* The executor interface: cio_run_in_executor and cio_to_thread on the
 * loop's default pool (created on first use, sized by the loop's options),
 * bad arguments, user-defined executors, the default pool at the loop's end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>
#include "loop.h" /* cio__loop_slot: the slot the default pool lives in */

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bytes_jobs.h"

static void *plus_one(void *arg) {
    return (void *)((intptr_t)arg + 1);
}

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static atomic_int started, finished;

static void reset_counters(void) {
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
}

static void *counted_sleep(void *arg) {
    atomic_fetch_add(&started, 1);
    nap(0.1);
    atomic_fetch_add(&finished, 1);
    return arg;
}

/* ---- a blocking call does not block the loop (the seeds' point) ---- */

static void *blocking_sleep(void *arg) {
    nap(0.3);
    return arg;
}

static void *ticker(void *arg) {
    int *ticks = arg;
    for (int i = 0; i < 10; i++) {
        cio_sleep(0.01);
        ++*ticks;
    }
    return NULL;
}

static void *blocking_while_ticking(void *arg) {
    (void)arg;
    int ticks = 0;
    cio_future *t = cio_create_task(ticker, &ticks);
    void *r;
    assert_int_equal(cio_to_thread(blocking_sleep, (void *)7, &r), 0);
    assert_ptr_equal(r, (void *)7);
    assert_int_equal(ticks, 10); /* the loop ran on while the thread slept */
    assert_int_equal(cio_await(t, NULL), 0);
    cio_future_unref(t);
    return NULL;
}

static void test_to_thread_keeps_loop_running(void **state) {
    (void)state;
    assert_int_equal(cio_run(blocking_while_ticking, NULL, NULL), 0);
}

/* Two blocking calls from two tasks overlap: the pool has more than one thread. */
static void *sleeper_task(void *arg) {
    (void)arg;
    return (void *)(intptr_t)cio_to_thread(blocking_sleep, NULL, NULL);
}

static void *two_sleepers(void *arg) {
    (void)arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cio_future *ts[2] = {cio_create_task(sleeper_task, NULL), cio_create_task(sleeper_task, NULL)};
    assert_int_equal(cio_gather(ts, 2, 0), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    assert_true(took < 0.55); /* 0.6 s if they had run one after the other */
    for (int i = 0; i < 2; i++) {
        void *r;
        assert_int_equal(cio_future_result(ts[i], &r), 0);
        assert_int_equal((intptr_t)r, 0);
        cio_future_unref(ts[i]);
    }
    return NULL;
}

static void test_blocking_calls_overlap(void **state) {
    (void)state;
    assert_int_equal(cio_run(two_sleepers, NULL, NULL), 0);
}

/* ---- bad arguments ---- */

static void *bad_arguments(void *arg) {
    (void)arg;
    errno = 0;
    assert_null(cio_run_in_executor(NULL, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    return NULL;
}

static void test_bad_arguments(void **state) {
    (void)state;
    errno = 0;
    assert_null(cio_run_in_executor(NULL, plus_one, NULL)); /* no running loop */
    assert_int_equal(errno, EPERM);
    assert_int_equal(cio_to_thread(plus_one, NULL, NULL), -EPERM);
    assert_int_equal(cio_executor_shutdown(NULL, true, true), -EINVAL);
    cio_executor_free(NULL);
    assert_int_equal(cio_run(bad_arguments, NULL, NULL), 0);
}

/* ---- many tasks on the default pool at once ---- */

#define TASKS 50
#define CALLS 100

static void *caller_task(void *arg) {
    intptr_t base = (intptr_t)arg * CALLS;
    for (intptr_t i = 0; i < CALLS; i++) {
        void *r;
        if (cio_to_thread(plus_one, (void *)(base + i), &r) < 0 || (intptr_t)r != base + i + 1)
            return cio_fail(-EIO);
    }
    return (void *)base;
}

static void *many_tasks(void *arg) {
    (void)arg;
    cio_future *ts[TASKS];
    for (intptr_t i = 0; i < TASKS; i++)
        assert_non_null(ts[i] = cio_create_task(caller_task, (void *)i));
    assert_int_equal(cio_gather(ts, TASKS, 0), 0);
    for (intptr_t i = 0; i < TASKS; i++) {
        void *r;
        assert_int_equal(cio_future_result(ts[i], &r), 0);
        assert_int_equal((intptr_t)r, i * CALLS);
        cio_future_unref(ts[i]);
    }
    return NULL;
}

static void test_many_tasks_default_pool(void **state) {
    (void)state;
    assert_int_equal(cio_run(many_tasks, NULL, NULL), 0);
}

/* ---- the default pool's size ---- */

static atomic_int active, peak;
static atomic_bool release_jobs;

/* Holds its thread until released, so the number running at once is the
 * number of threads. */
static void *held_job(void *arg) {
    int now = atomic_fetch_add(&active, 1) + 1;
    int seen = atomic_load(&peak);
    while (now > seen && !atomic_compare_exchange_weak(&peak, &seen, now))
        ;
    for (int i = 0; i < 4000 && !atomic_load(&release_jobs); i++)
        nap(0.001);
    atomic_fetch_sub(&active, 1);
    return arg;
}

static void *measure_pool_size(void *arg) {
    int expected = (int)(intptr_t)arg, n = expected + 4;
    atomic_store(&active, 0);
    atomic_store(&peak, 0);
    atomic_store(&release_jobs, false);
    cio_future **fs = calloc((size_t)n, sizeof *fs);
    for (int i = 0; i < n; i++)
        assert_non_null(fs[i] = cio_run_in_executor(NULL, held_job, (void *)(intptr_t)i));
    for (int i = 0; i < 300 && atomic_load(&peak) < expected; i++)
        cio_sleep(0.01);
    cio_sleep(0.05); /* a thread too many would show up now */
    atomic_store(&release_jobs, true);
    for (int i = 0; i < n; i++) {
        void *r;
        assert_int_equal(cio_await(fs[i], &r), 0);
        assert_int_equal((intptr_t)r, i);
        cio_future_unref(fs[i]);
    }
    free(fs);
    return (void *)(intptr_t)atomic_load(&peak);
}

static void test_default_pool_size(void **state) {
    (void)state;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    intptr_t expected = cpus + 4 < 32 ? cpus + 4 : 32;
    void *peak_seen;
    assert_int_equal(cio_run(measure_pool_size, (void *)expected, &peak_seen), 0);
    assert_int_equal((intptr_t)peak_seen, expected);
    cio_options opt = {.default_executor_workers = 3};
    assert_int_equal(cio_run_with(&opt, measure_pool_size, (void *)3, &peak_seen), 0);
    assert_int_equal((intptr_t)peak_seen, 3);
}

/* ---- cancelling the awaiting task leaves the thread running ---- */

static void *awaits_to_thread(void *arg) {
    (void)arg;
    return (void *)(intptr_t)cio_to_thread(counted_sleep, (void *)3, NULL);
}

static void *cancel_awaiter(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(awaits_to_thread, NULL);
    while (!atomic_load(&started)) /* the thread runs the job (a slow start under TSan) */
        cio_sleep(0.005);
    assert_true(cio_cancel(t));
    void *r;
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal((intptr_t)r, -ECANCELED); /* at once: the thread still sleeps */
    assert_int_equal(atomic_load(&finished), 0);
    cio_future_unref(t);
    return NULL;
}

static void test_cancel_awaiting_task_leaves_thread(void **state) {
    (void)state;
    reset_counters();
    assert_int_equal(cio_run(cancel_awaiter, NULL, NULL), 0);
    /* cio_run waited for the default pool: the thread finished its job */
    assert_int_equal(atomic_load(&finished), 1);
}

/* ---- the default pool shut down from a task ---- */

static void *shutdown_default(void *arg) {
    (void)arg;
    int ticks = 0;
    cio_future *f = cio_run_in_executor(NULL, counted_sleep, (void *)5);
    cio_future *t = cio_create_task(ticker, &ticks);
    cio_executor *ex = cio__loop_slot(cio_get_running_loop(), CIO__SLOT_EXECUTOR);
    assert_non_null(ex);
    /* waiting suspends this task only: the ticker and the completion go on */
    assert_int_equal(cio_executor_shutdown(ex, true, false), 0);
    assert_int_equal(atomic_load(&finished), 1);
    void *r;
    assert_int_equal(cio_await(f, &r), 0);
    assert_ptr_equal(r, (void *)5);
    assert_int_equal(cio_await(t, NULL), 0);
    assert_int_equal(ticks, 10);
    errno = 0;
    assert_null(cio_run_in_executor(NULL, plus_one, NULL));
    assert_int_equal(errno, ESHUTDOWN);
    assert_int_equal(cio_to_thread(plus_one, NULL, NULL), -ESHUTDOWN);
    cio_future_unref(f);
    cio_future_unref(t);
    return NULL;
}

static void test_shutdown_default_from_task(void **state) {
    (void)state;
    reset_counters();
    assert_int_equal(cio_run(shutdown_default, NULL, NULL), 0);
}

/* ---- the loop closes while a default-pool job runs: nothing leaks ---- */

static void *submit_and_leave(void *arg) {
    (void)arg;
    cio_future *f = cio_run_in_executor(NULL, counted_sleep, NULL);
    assert_non_null(f);
    cio_future_unref(f);
    while (atomic_load(&started) < 1) /* running, not queued, when the loop closes */
        cio_sleep(0.005);
    return NULL;
}

static void test_loop_close_with_job_running(void **state) {
    (void)state;
    reset_counters();
    cio_loop *loop = cio_loop_new(NULL);
    assert_non_null(loop);
    cio_future *t = cio_loop_create_task(loop, submit_and_leave, NULL);
    assert_int_equal(cio_loop_run_until_complete(loop, t), 0);
    cio_future_unref(t);
    assert_int_equal(cio_loop_close(loop), 0); /* frees the default pool without waiting */
    for (int i = 0; i < 100 && atomic_load(&finished) < 1; i++)
        nap(0.01);
    assert_int_equal(atomic_load(&finished), 1);
    nap(0.02); /* the worker frees the orphaned job after its count */
}

/* ---- a user-defined executor through the same interface ---- */

typedef struct inline_executor {
    cio_executor base;
    int submitted, destroyed;
    bool down;
} inline_executor;

static cio_future *inline_submit(cio_executor *ex, cio_fn fn, void *arg) {
    inline_executor *ie = (inline_executor *)ex;
    if (ie->down) {
        errno = ESHUTDOWN;
        return NULL;
    }
    ie->submitted++;
    cio_future *f = cio_future_new();
    if (f)
        cio_future_set_result(f, fn(arg)); /* runs it right here: a toy */
    return f;
}

static int inline_shutdown(cio_executor *ex, bool wait, bool cancel) {
    (void)wait, (void)cancel;
    ((inline_executor *)ex)->down = true;
    return 0;
}

static void inline_destroy(cio_executor *ex) {
    ((inline_executor *)ex)->destroyed++;
}

static const cio_executor_ops inline_ops = {
    .name = "inline",
    .submit = inline_submit,
    .shutdown = inline_shutdown,
    .destroy = inline_destroy}; /* no submit_bytes: bytes jobs take the default path */

static void *use_inline(void *arg) {
    inline_executor *ie = arg;
    cio_future *f = cio_run_in_executor(&ie->base, plus_one, (void *)41);
    void *r;
    assert_int_equal(cio_await(f, &r), 0);
    assert_int_equal((intptr_t)r, 42);
    cio_future_unref(f);
    assert_int_equal(cio_executor_shutdown(&ie->base, true, false), 0);
    errno = 0;
    assert_null(cio_run_in_executor(&ie->base, plus_one, NULL));
    assert_int_equal(errno, ESHUTDOWN);
    return NULL;
}

static void test_user_executor(void **state) {
    (void)state;
    inline_executor ie = {.base.ops = &inline_ops};
    assert_int_equal(cio_run(use_inline, &ie, NULL), 0);
    assert_int_equal(ie.submitted, 1);
    assert_true(ie.down);
    cio_executor_free(&ie.base);
    assert_int_equal(ie.destroyed, 1);
}

/* ---- bytes jobs ---- */

static void *bytes_on(void *arg) {
    bytes_jobs_check(arg);
    return NULL;
}

static void test_bytes_default_and_thread_pool(void **state) {
    (void)state;
    assert_int_equal(cio_run(bytes_on, NULL, NULL), 0);
    cio_executor *ex = cio_thread_pool_new(2);
    assert_non_null(ex);
    assert_int_equal(cio_run(bytes_on, ex, NULL), 0);
    cio_executor_free(ex);
    errno = 0;
    assert_null(cio_run_in_executor_bytes(NULL, bj_reverse, "ab", 2, 2)); /* no loop */
    assert_int_equal(errno, EPERM);
}

/* Cancelled bytes jobs of the thread pool, queued and running: their
 * buffers go (ASan's leak check), the others are unaffected. */
static void *bytes_cancel(void *arg) {
    (void)arg;
    cio_executor *ex = cio_thread_pool_new(1);
    char in[64] = "0123456789";
    cio_future *running = cio_run_in_executor_bytes(ex, bj_slow_count, in, 10, 10);
    cio_future *queued = cio_run_in_executor_bytes(ex, bj_reverse, in, 10, 10);
    cio_future *after = cio_run_in_executor_bytes(ex, bj_reverse, in, 10, 10);
    cio_sleep(0.02);
    assert_true(cio_cancel(running));
    assert_true(cio_cancel(queued));
    assert_int_equal(cio_await(running, NULL), -ECANCELED);
    assert_int_equal(cio_await(queued, NULL), -ECANCELED);
    const void *data;
    size_t len;
    assert_int_equal(cio_future_bytes(queued, &data, &len), -ECANCELED);
    assert_int_equal(cio_await(after, NULL), 0);
    assert_int_equal(cio_future_bytes(after, &data, &len), 0);
    assert_memory_equal(data, "9876543210", 10);
    cio_future_unref(running), cio_future_unref(queued), cio_future_unref(after);
    assert_int_equal(cio_executor_shutdown(ex, true, false), 0);
    cio_executor_free(ex);
    return NULL;
}

static void test_bytes_cancel(void **state) {
    (void)state;
    assert_int_equal(cio_run(bytes_cancel, NULL, NULL), 0);
}

/* A user executor without submit_bytes: jobs go through its plain submit.
 * This one is naive on purpose: it runs queued jobs later from a callback,
 * even those whose future was cancelled meanwhile (it never hears of a
 * cancellation), or drops them unrun when told to. */
typedef struct deferred_job {
    cio_fn fn;
    void *arg;
    cio_future *f;
} deferred_job;

typedef struct deferred_executor {
    cio_executor base;
    deferred_job jobs[64];
    int n, calls;
} deferred_executor;

static cio_future *deferred_submit(cio_executor *ex, cio_fn fn, void *arg) {
    deferred_executor *d = (deferred_executor *)ex;
    cio_future *f = d->n < 64 ? cio_future_new() : NULL;
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    cio_future_ref(f);
    d->jobs[d->n++] = (deferred_job){fn, arg, f};
    return f;
}

static void deferred_run(deferred_executor *d, bool call) {
    for (int i = 0; i < d->n; i++) {
        deferred_job *j = &d->jobs[i];
        if (call) {
            void *r = j->fn(j->arg);
            d->calls++;
            if (!cio_future_done(j->f))
                cio_future_set_result(j->f, r);
        } else {
            cio_cancel(j->f); /* dropped unrun */
        }
        cio_future_unref(j->f);
    }
    d->n = 0;
}

static int deferred_shutdown(cio_executor *ex, bool wait, bool cancel) {
    (void)wait;
    if (cancel)
        deferred_run((deferred_executor *)ex, false);
    return 0;
}

static void deferred_destroy(cio_executor *ex) {
    (void)ex;
}

static const cio_executor_ops deferred_ops = {
    .name = "deferred",
    .submit = deferred_submit,
    .shutdown = deferred_shutdown,
    .destroy = deferred_destroy,
};

static void *bytes_deferred(void *arg) {
    deferred_executor *d = arg;
    char in[] = "abcdef";
    cio_future *kept = cio_run_in_executor_bytes(&d->base, bj_reverse, in, 6, 6);
    cio_future *cancelled = cio_run_in_executor_bytes(&d->base, bj_reverse, in, 6, 6);
    cio_future *failing = cio_run_in_executor_bytes(&d->base, bj_fail_eio, in, 6, 6);
    assert_non_null(kept), assert_non_null(cancelled), assert_non_null(failing);
    in[0] = 'X';
    assert_true(cio_cancel(cancelled));
    assert_int_equal(cio_await(cancelled, NULL), -ECANCELED);
    cio_sleep(0);          /* the relay of the cancelled one lets its buffer go */
    deferred_run(d, true); /* calls all three, the cancelled one too */
    assert_int_equal(d->calls, 3);
    const void *data;
    size_t len;
    assert_int_equal(cio_await(kept, NULL), 0);
    assert_int_equal(cio_future_bytes(kept, &data, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(data, "fedcba", 6);
    assert_int_equal(cio_await(failing, NULL), -EIO);
    cio_future_unref(kept), cio_future_unref(cancelled), cio_future_unref(failing);
    /* jobs the executor drops without calling them leak nothing */
    cio_future *dropped = cio_run_in_executor_bytes(&d->base, bj_reverse, in, 6, 6);
    assert_true(cio_cancel(dropped));
    cio_future_unref(dropped);
    cio_future *pending = cio_run_in_executor_bytes(&d->base, bj_reverse, in, 6, 6);
    assert_int_equal(cio_executor_shutdown(&d->base, false, true), 0);
    assert_int_equal(cio_await(pending, NULL), -ECANCELED);
    cio_future_unref(pending);
    assert_int_equal(d->calls, 3);
    return NULL;
}

static void test_bytes_user_executors(void **state) {
    (void)state;
    inline_executor ie = {.base.ops = &inline_ops};
    assert_int_equal(cio_run(bytes_on, &ie.base, NULL), 0);
    deferred_executor *d = calloc(1, sizeof *d);
    d->base.ops = &deferred_ops;
    assert_int_equal(cio_run(bytes_deferred, d, NULL), 0);
    cio_executor_free(&d->base);
    free(d);
}

/* An executor with its own submit_bytes completes futures with
 * cio_bytes_alloc + cio_future_set_bytes. */
static void *set_bytes(void *arg) {
    (void)arg;
    cio_future *f = cio_future_new();
    char *buf = cio_bytes_alloc(16);
    assert_non_null(buf);
    memcpy(buf, "sixteen bytes ok", 16);
    assert_int_equal(cio_future_set_bytes(f, buf, 17), -EINVAL); /* beyond its room: freed */
    buf = cio_bytes_alloc(16);
    memcpy(buf, "sixteen bytes ok", 16);
    assert_int_equal(cio_future_set_bytes(f, buf, 7), 0);
    const void *data;
    size_t len;
    assert_int_equal(cio_future_bytes(f, &data, &len), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(data, "sixteen", 7);
    buf = cio_bytes_alloc(1);
    assert_int_equal(cio_future_set_bytes(f, buf, 1), -EINVAL); /* f is done: buf freed */
    char not_ours[64] = {0};
    assert_int_equal(cio_future_set_bytes(f, not_ours + 48, 1), -EINVAL);
    cio_bytes_free(cio_bytes_alloc(0));
    cio_bytes_free(NULL);
    cio_future_unref(f);
    return NULL;
}

static void test_set_bytes(void **state) {
    (void)state;
    assert_int_equal(cio_run(set_bytes, NULL, NULL), 0);
}

/* ---- cio_run's wait for the default executor is bounded (issue 14 #8) ---- */

static sem_t release_stuck;
static atomic_int stuck_state; /* 0 running, 1 released by the test, 2 gave up */

static void *stuck_job(void *arg) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    int r;
    while ((r = sem_timedwait(&release_stuck, &until)) < 0 && errno == EINTR)
        ;
    atomic_store(&stuck_state, r == 0 ? 1 : 2);
    return arg;
}

static void *leaves_stuck_job(void *arg) {
    cio_future *f = cio_run_in_executor(NULL, stuck_job, NULL);
    assert_non_null(f);
    cio_future_unref(f);
    return arg;
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char logged[2048];

static void capture_log(int level, const char *msg, void *user) {
    (void)user;
    pthread_mutex_lock(&log_mu);
    if (level == CIO_LOG_WARNING && strlen(logged) + strlen(msg) + 2 < sizeof logged) {
        strcat(logged, msg);
        strcat(logged, "\n");
    }
    pthread_mutex_unlock(&log_mu);
}

static void test_shutdown_wait_bounded(void **state) {
    (void)state;
    assert_int_equal(sem_init(&release_stuck, 0, 0), 0);
    atomic_store(&stuck_state, 0);
    logged[0] = '\0';
    cio_set_log_handler(capture_log, NULL);
    void *r = NULL;
    cio_options o = {.shutdown_timeout = 0.2};
    assert_int_equal(cio_run_with(&o, leaves_stuck_job, (void *)3, &r), 0);
    assert_ptr_equal(r, (void *)3);
    assert_int_equal(atomic_load(&stuck_state), 0); /* cio_run did not wait for it */
    pthread_mutex_lock(&log_mu);
    bool named = strstr(logged, "stuck_job") != NULL;
    pthread_mutex_unlock(&log_mu);
    cio_set_log_handler(NULL, NULL);
    sem_post(&release_stuck);
    for (int i = 0; i < 500 && atomic_load(&stuck_state) == 0; i++)
        nap(0.01);
    assert_int_equal(atomic_load(&stuck_state), 1);
    nap(0.05); /* the worker lets the orphaned job go */
    if (!named)
        fail_msg("the warning does not name the job: %s", logged);
    o.shutdown_timeout = NAN;
    assert_int_equal(cio_run_with(&o, leaves_stuck_job, NULL, NULL), -EINVAL);
    sem_destroy(&release_stuck);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_thread_keeps_loop_running),
        cmocka_unit_test(test_blocking_calls_overlap),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_many_tasks_default_pool),
        cmocka_unit_test(test_default_pool_size),
        cmocka_unit_test(test_cancel_awaiting_task_leaves_thread),
        cmocka_unit_test(test_shutdown_default_from_task),
        cmocka_unit_test(test_loop_close_with_job_running),
        cmocka_unit_test(test_user_executor),
        cmocka_unit_test(test_bytes_default_and_thread_pool),
        cmocka_unit_test(test_bytes_cancel),
        cmocka_unit_test(test_bytes_user_executors),
        cmocka_unit_test(test_set_bytes),
        cmocka_unit_test(test_shutdown_wait_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
