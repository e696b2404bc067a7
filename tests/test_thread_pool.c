/* The thread pool and the executor interface: results, concurrency with the
 * loop, cancellation of queued and running jobs, shutdown both ways. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cio.h>

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

/* ---- a blocking job does not block the loop (the seeds' point) ---- */

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
    cio_await(t, NULL);
    cio_future_unref(t);
    return NULL;
}

static void test_to_thread_keeps_loop_running(void **state) {
    (void)state;
    assert_int_equal(cio_run(blocking_while_ticking, NULL, NULL), 0);
    assert_int_equal(cio_to_thread(plus_one, NULL, NULL), -EPERM);
}

/* ---- many jobs, nothing lost ---- */

#define JOBS 10000

static void *many_jobs(void *arg) {
    cio_executor *ex = arg;
    cio_future **fs = malloc(JOBS * sizeof *fs);
    for (intptr_t i = 0; i < JOBS; i++) {
        fs[i] = cio_run_in_executor(ex, plus_one, (void *)i);
        assert_non_null(fs[i]);
    }
    for (intptr_t i = 0; i < JOBS; i++) {
        void *r;
        assert_int_equal(cio_await(fs[i], &r), 0);
        assert_int_equal((intptr_t)r, i + 1);
        cio_future_unref(fs[i]);
    }
    free(fs);
    return NULL;
}

static void test_ten_thousand_jobs(void **state) {
    (void)state;
    cio_executor *ex = cio_thread_pool_new(4);
    assert_non_null(ex);
    assert_int_equal(cio_run(many_jobs, ex, NULL), 0);
    assert_int_equal(cio_executor_shutdown(ex, true, false), 0);
    cio_executor_free(ex);
    /* the default pool, from tasks at once */
    assert_int_equal(cio_run(many_jobs, NULL, NULL), 0);
}

/* ---- cancellation ---- */

static atomic_int started, finished;

static void *counted_sleep(void *arg) {
    atomic_fetch_add(&started, 1);
    nap(0.1);
    atomic_fetch_add(&finished, 1);
    return arg;
}

static void *cancel_jobs(void *arg) {
    (void)arg;
    cio_executor *ex = cio_thread_pool_new(1);
    cio_future *running = cio_run_in_executor(ex, counted_sleep, (void *)1);
    cio_future *queued = cio_run_in_executor(ex, counted_sleep, (void *)2);
    cio_sleep(0.03); /* the first has started, the second waits for the only worker */
    assert_int_equal(atomic_load(&started), 1);
    assert_true(cio_cancel(queued));
    assert_true(cio_future_cancelled(queued));
    assert_true(cio_cancel(running)); /* cannot stop it: its future ends now */
    assert_true(cio_future_cancelled(running));
    assert_int_equal(cio_await(running, NULL), -ECANCELED);
    cio_sleep(0.2);
    assert_int_equal(atomic_load(&started), 1);  /* the queued one never ran */
    assert_int_equal(atomic_load(&finished), 1); /* the running one did finish */
    cio_future_unref(running);
    cio_future_unref(queued);
    cio_executor_shutdown(ex, true, false);
    cio_executor_free(ex);
    return NULL;
}

static void test_cancel_queued_and_running(void **state) {
    (void)state;
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    assert_int_equal(cio_run(cancel_jobs, NULL, NULL), 0);
}

static void *awaits_to_thread(void *arg) {
    (void)arg;
    return (void *)(intptr_t)cio_to_thread(counted_sleep, (void *)3, NULL);
}

static void *cancel_awaiter(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(awaits_to_thread, NULL);
    cio_sleep(0.03);
    cio_cancel(t);
    void *r;
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal((intptr_t)r, -ECANCELED);
    cio_future_unref(t);
    return NULL;
}

static void test_cancel_awaiting_task_leaves_thread(void **state) {
    (void)state;
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    assert_int_equal(cio_run(cancel_awaiter, NULL, NULL), 0);
    /* cio_run waited for the default pool: the thread finished its job */
    assert_int_equal(atomic_load(&finished), 1);
}

/* ---- shutdown ---- */

static void *shutdown_modes(void *arg) {
    (void)arg;
    cio_executor *ex = cio_thread_pool_new(1);
    cio_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = cio_run_in_executor(ex, counted_sleep, (void *)(intptr_t)i);
    cio_sleep(0.03);
    /* cancel_futures: the three queued jobs end cancelled, the running one runs on */
    assert_int_equal(cio_executor_shutdown(ex, true, true), 0);
    assert_int_equal(atomic_load(&finished), 1);
    void *r;
    assert_int_equal(cio_await(fs[0], &r), 0);
    assert_ptr_equal(r, (void *)0);
    for (int i = 1; i < 4; i++)
        assert_true(cio_future_cancelled(fs[i]));
    for (int i = 0; i < 4; i++)
        cio_future_unref(fs[i]);
    errno = 0;
    assert_null(cio_run_in_executor(ex, plus_one, NULL));
    assert_int_equal(errno, ESHUTDOWN);
    cio_executor_free(ex);

    /* wait without cancelling: every queued job runs first */
    ex = cio_thread_pool_new(2);
    atomic_store(&finished, 0);
    for (int i = 0; i < 4; i++)
        fs[i] = cio_run_in_executor(ex, counted_sleep, (void *)(intptr_t)i);
    assert_int_equal(cio_executor_shutdown(ex, true, false), 0);
    assert_int_equal(atomic_load(&finished), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cio_await(fs[i], &r), 0);
        assert_ptr_equal(r, (void *)(intptr_t)i);
        cio_future_unref(fs[i]);
    }
    cio_executor_free(ex);
    return NULL;
}

static void test_shutdown_modes(void **state) {
    (void)state;
    atomic_store(&finished, 0);
    assert_int_equal(cio_run(shutdown_modes, NULL, NULL), 0);
}

/* The owner frees the pool with jobs still running: they finish, nothing leaks. */
static void *free_while_running(void *arg) {
    (void)arg;
    cio_executor *ex = cio_thread_pool_new(2);
    cio_future *f = cio_run_in_executor(ex, counted_sleep, (void *)9);
    cio_sleep(0.01);
    cio_executor_shutdown(ex, false, false);
    cio_executor_free(ex);
    void *r;
    assert_int_equal(cio_await(f, &r), 0);
    assert_ptr_equal(r, (void *)9);
    cio_future_unref(f);
    return NULL;
}

static void test_free_with_jobs_running(void **state) {
    (void)state;
    assert_int_equal(cio_run(free_while_running, NULL, NULL), 0);
}

/* ---- a user-defined executor through the same interface ---- */

typedef struct inline_executor {
    cio_executor base;
    int submitted;
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
    cio_future_set_result(f, fn(arg)); /* runs it right here: a toy */
    return f;
}

static int inline_shutdown(cio_executor *ex, bool wait, bool cancel) {
    (void)wait, (void)cancel;
    ((inline_executor *)ex)->down = true;
    return 0;
}

static void inline_destroy(cio_executor *ex) {
    (void)ex;
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
    return NULL;
}

static void test_user_executor(void **state) {
    (void)state;
    inline_executor ie = {.base.ops = &inline_ops};
    assert_int_equal(cio_run(use_inline, &ie, NULL), 0);
    assert_int_equal(ie.submitted, 1);
    cio_executor_shutdown(&ie.base, true, false);
    assert_true(ie.down);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_thread_keeps_loop_running),
        cmocka_unit_test(test_ten_thousand_jobs),
        cmocka_unit_test(test_cancel_queued_and_running),
        cmocka_unit_test(test_cancel_awaiting_task_leaves_thread),
        cmocka_unit_test(test_shutdown_modes),
        cmocka_unit_test(test_free_with_jobs_running),
        cmocka_unit_test(test_user_executor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
