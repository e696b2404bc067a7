/* The executor interface: cio_run_in_executor and cio_to_thread on the
 * loop's default pool (created on first use, sized by the loop's options),
 * bad arguments, user-defined executors, the default pool at the loop's end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>
#include "loop.h" /* cio__loop_default_executor: the slot the pool lives in */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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
    cio_sleep(0.03);
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
    cio_executor *ex = *cio__loop_default_executor(cio_get_running_loop());
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
    cio_sleep(0.02);
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

static const cio_executor_ops inline_ops = {"inline", inline_submit, inline_shutdown,
                                            inline_destroy};

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
