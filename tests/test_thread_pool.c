/* The thread pool: results, cancellation of queued and running jobs,
 * shutdown both ways, its options (names, initializer, idle exit), one pool
 * shared by two loops, and the pool outliving its loop. The executor
 * interface and the default pool are tested in test_executor.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *plus_one(void *arg) {
    return (void *)((intptr_t)arg + 1);
}

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
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
    /* and the default pool */
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
    while (atomic_load(&started) <
           1) /* the first has started, the second waits for the only worker */
        cio_sleep(0.005);
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

/* ---- shutdown ---- */

static void *shutdown_modes(void *arg) {
    (void)arg;
    cio_executor *ex = cio_thread_pool_new(1);
    cio_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = cio_run_in_executor(ex, counted_sleep, (void *)(intptr_t)i);
    while (atomic_load(&started) < 1) /* the first runs, the others wait for the only worker */
        cio_sleep(0.005);
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

/* ---- a task waiting in shutdown(wait) can be cancelled ---- */

static void *shutdown_waiting(void *arg) {
    return (void *)(intptr_t)cio_executor_shutdown(arg, true, false);
}

static atomic_bool gate_open;

/* Runs until the test opens the gate: no load makes it end too early. */
static void *gated(void *arg) {
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&gate_open))
        nap(0.001);
    atomic_fetch_add(&finished, 1);
    return arg;
}

static void *cancel_shutdown_waiter(void *arg) {
    (void)arg;
    cio_executor *ex = cio_thread_pool_new(1);
    cio_future *job = cio_run_in_executor(ex, gated, (void *)4);
    cio_future *waiter = cio_create_task(shutdown_waiting, ex);
    cio_sleep(0.03);
    assert_false(cio_future_done(waiter));
    assert_true(cio_cancel(waiter));
    void *r;
    assert_int_equal(cio_await(waiter, &r), 0);
    assert_int_equal((intptr_t)r, -ECANCELED);
    assert_int_equal(atomic_load(&finished), 0); /* returned before the job ended */
    atomic_store(&gate_open, true);
    errno = 0;
    assert_null(cio_run_in_executor(ex, plus_one, NULL)); /* the shutdown stands */
    assert_int_equal(errno, ESHUTDOWN);
    assert_int_equal(cio_await(job, &r), 0);
    assert_ptr_equal(r, (void *)4);
    assert_int_equal(cio_executor_shutdown(ex, true, false), 0);
    cio_executor_free(ex);
    cio_future_unref(job);
    cio_future_unref(waiter);
    return NULL;
}

static void test_cancel_shutdown_waiter(void **state) {
    (void)state;
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    assert_int_equal(cio_run(cancel_shutdown_waiter, NULL, NULL), 0);
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

/* ---- shutdown(wait) outside any running loop blocks ---- */

static cio_future *kept[2];

static void *submit_two(void *arg) {
    for (int i = 0; i < 2; i++)
        assert_non_null(kept[i] = cio_run_in_executor(arg, counted_sleep, (void *)(intptr_t)i));
    return NULL;
}

static void *collect_two(void *arg) {
    (void)arg;
    for (int i = 0; i < 2; i++) {
        void *r;
        assert_int_equal(cio_await(kept[i], &r), 0);
        assert_ptr_equal(r, (void *)(intptr_t)i);
        cio_future_unref(kept[i]);
    }
    return NULL;
}

static void run_task(cio_loop *loop, cio_fn fn, void *arg) {
    cio_future *t = cio_loop_create_task(loop, fn, arg);
    assert_non_null(t);
    assert_int_equal(cio_loop_run_until_complete(loop, t), 0);
    cio_future_unref(t);
}

static void test_shutdown_outside_loop_blocks(void **state) {
    (void)state;
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    cio_executor *ex = cio_thread_pool_new(1);
    cio_loop *loop = cio_loop_new(NULL);
    run_task(loop, submit_two, ex);
    assert_int_equal(cio_executor_shutdown(ex, true, false), 0); /* no loop runs here */
    assert_int_equal(atomic_load(&finished), 2);
    run_task(loop, collect_two, NULL); /* the completions waited in the loop's inbox */
    assert_int_equal(cio_loop_close(loop), 0);
    cio_executor_free(ex);
}

/* ---- an idle thread is reused; an idle one exits after idle_timeout ---- */

static void *sequential_jobs(void *arg) {
    for (intptr_t i = 0; i < 200; i++) {
        cio_future *f = cio_run_in_executor(arg, plus_one, (void *)i);
        void *r;
        assert_int_equal(cio_await(f, &r), 0);
        assert_int_equal((intptr_t)r, i + 1);
        cio_future_unref(f);
    }
    return NULL;
}

/* ---- options: thread names, initializer, bad values ---- */

static atomic_int inits;

static void count_init(void *arg) {
    assert_ptr_equal(arg, &inits);
    atomic_fetch_add(&inits, 1);
}

typedef struct named_job {
    char name[32];
    atomic_int *together; /* how many jobs wait for each other */
} named_job;

static void *record_name(void *arg) {
    named_job *j = arg;
    pthread_getname_np(pthread_self(), j->name, sizeof j->name);
    if (j->together) { /* both jobs in flight at once: two threads */
        atomic_fetch_add(j->together, 1);
        for (int i = 0; i < 2000 && atomic_load(j->together) < 2; i++)
            nap(0.001);
    }
    return NULL;
}

static void *named_threads(void *arg) {
    cio_executor *ex = arg;
    atomic_int together = 0;
    named_job jobs[2] = {{.together = &together}, {.together = &together}};
    cio_future *fs[2];
    for (int i = 0; i < 2; i++)
        assert_non_null(fs[i] = cio_run_in_executor(ex, record_name, &jobs[i]));
    assert_int_equal(cio_gather(fs, 2, 0), 0);
    for (int i = 0; i < 2; i++)
        cio_future_unref(fs[i]);
    bool in_order = strcmp(jobs[0].name, "resizer_0") == 0;
    assert_string_equal(jobs[in_order ? 0 : 1].name, "resizer_0");
    assert_string_equal(jobs[in_order ? 1 : 0].name, "resizer_1");
    assert_int_equal(atomic_load(&inits), 2); /* once per thread, before its first job */
    return NULL;
}

static void *long_prefix(void *arg) {
    named_job job = {{0}, NULL};
    cio_future *f = cio_run_in_executor(arg, record_name, &job);
    assert_int_equal(cio_await(f, NULL), 0);
    cio_future_unref(f);
    assert_string_equal(job.name, "a_prefix_longer"); /* the kernel keeps 15 bytes */
    return NULL;
}

static void test_options(void **state) {
    (void)state;
    /* The time rule: negative or INFINITY is no limit, NaN is EINVAL. */
    cio_executor *unlimited =
        cio_thread_pool_new_with(&(cio_thread_pool_options){.idle_timeout = -1});
    assert_non_null(unlimited);
    assert_int_equal(cio_run(sequential_jobs, unlimited, NULL), 0);
    cio_executor_free(unlimited);
    unlimited = cio_thread_pool_new_with(&(cio_thread_pool_options){.idle_timeout = INFINITY});
    assert_non_null(unlimited);
    cio_executor_free(unlimited);
    errno = 0;
    assert_null(cio_thread_pool_new_with(&(cio_thread_pool_options){.idle_timeout = NAN}));
    assert_int_equal(errno, EINVAL);
    cio_executor *forever =
        cio_thread_pool_new_with(&(cio_thread_pool_options){.idle_timeout = 1e300});
    assert_int_equal(cio_run(sequential_jobs, forever, NULL), 0);
    cio_executor_free(forever);
    atomic_store(&inits, 0);
    cio_thread_pool_options opt = {.max_workers = 2,
                                   .thread_name_prefix = "resizer",
                                   .initializer = count_init,
                                   .initarg = &inits};
    cio_executor *ex = cio_thread_pool_new_with(&opt);
    assert_non_null(ex);
    assert_int_equal(cio_run(named_threads, ex, NULL), 0);
    cio_executor_free(ex);
    ex = cio_thread_pool_new_with(
        &(cio_thread_pool_options){.thread_name_prefix = "a_prefix_longer_than_15"});
    assert_int_equal(cio_run(long_prefix, ex, NULL), 0);
    cio_executor_free(ex);
    ex = cio_thread_pool_new_with(NULL); /* all defaults */
    assert_int_equal(cio_run(many_jobs, ex, NULL), 0);
    cio_executor_free(ex);
}

static void *reuse_then_exit(void *arg) {
    sequential_jobs(arg);
    assert_int_equal(atomic_load(&inits), 1); /* one thread did all of them */
    cio_sleep(0.3);                           /* it exits after 0.1 s idle */
    sequential_jobs(arg);
    assert_int_equal(atomic_load(&inits), 2);
    return NULL;
}

static void test_idle_threads_reused_then_exit(void **state) {
    (void)state;
    atomic_store(&inits, 0);
    cio_thread_pool_options opt = {
        .max_workers = 4, .initializer = count_init, .initarg = &inits, .idle_timeout = 0.1};
    cio_executor *ex = cio_thread_pool_new_with(&opt);
    assert_int_equal(cio_run(reuse_then_exit, ex, NULL), 0);
    assert_int_equal(cio_executor_shutdown(ex, true, false), 0);
    cio_executor_free(ex);
}

/* ---- one pool, two loops on two threads ---- */

static void *loop_thread(void *arg) {
    return (void *)(intptr_t)cio_run(many_jobs, arg, NULL);
}

static void test_two_loops_share_a_pool(void **state) {
    (void)state;
    cio_executor *ex = cio_thread_pool_new(3);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, loop_thread, ex), 0);
    for (int i = 0; i < 2; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        assert_int_equal((intptr_t)rc, 0);
    }
    assert_int_equal(cio_executor_shutdown(ex, true, true), 0);
    cio_executor_free(ex);
}

/* ---- the pool outlives its loop: nothing leaks, either way ---- */

static void *submit_two_and_leave(void *arg) {
    for (int i = 0; i < 2; i++) {
        cio_future *f = cio_run_in_executor(arg, counted_sleep, NULL);
        assert_non_null(f);
        cio_future_unref(f);
    }
    while (atomic_load(&started) < 1) /* the first one runs, the second waits for the only thread */
        cio_sleep(0.005);
    return NULL;
}

static void closed_loop_with_jobs(bool wait) {
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    cio_executor *ex = cio_thread_pool_new(1);
    cio_loop *loop = cio_loop_new(NULL);
    run_task(loop, submit_two_and_leave, ex);
    assert_int_equal(cio_loop_close(loop), 0);
    if (wait) { /* both run; their completions find the loop closed */
        assert_int_equal(cio_executor_shutdown(ex, true, false), 0);
        assert_int_equal(atomic_load(&finished), 2);
        cio_executor_free(ex);
        return;
    }
    cio_executor_free(ex); /* the queued job is dropped, the running one orphaned */
    for (int i = 0; i < 100 && atomic_load(&finished) < 1; i++)
        nap(0.01);
    nap(0.15);
    assert_int_equal(atomic_load(&started), 1);
    assert_int_equal(atomic_load(&finished), 1);
}

static void test_pool_outlives_its_loop(void **state) {
    (void)state;
    closed_loop_with_jobs(true);
    closed_loop_with_jobs(false);
}

/* ---- a job can fail (issue 14 #10) ---- */

static void *fails_eio(void *arg) {
    (void)arg;
    return cio_fail(-EIO);
}

static void *returns_null(void *arg) {
    (void)arg;
    return NULL;
}

/* cio_fail, then a value: the error wins, as in a task. */
static void *fails_then_value(void *arg) {
    cio_fail(-EPIPE);
    return arg;
}

static void *failing_jobs(void *arg) {
    cio_executor *ex = arg;
    for (int round = 0; round < 20; round++) {
        cio_future *bad = cio_run_in_executor(ex, fails_eio, NULL);
        cio_future *ok = cio_run_in_executor(ex, returns_null, NULL); /* same workers after */
        cio_future *pipe = cio_run_in_executor(ex, fails_then_value, (void *)5);
        void *r = (void *)1;
        assert_int_equal(cio_await(bad, &r), -EIO);
        assert_int_equal(cio_await(ok, &r), 0);
        assert_null(r);
        assert_int_equal(cio_await(pipe, &r), -EPIPE);
        cio_future_unref(bad), cio_future_unref(ok), cio_future_unref(pipe);
    }
    assert_int_equal(cio_to_thread(fails_eio, NULL, NULL), -EIO);
    void *r = (void *)1;
    assert_int_equal(cio_to_thread(returns_null, NULL, &r), 0);
    assert_null(r);
    return NULL;
}

static void test_job_can_fail(void **state) {
    (void)state;
    cio_executor *ex = cio_thread_pool_new(1); /* one worker: a leftover error would show */
    assert_int_equal(cio_run(failing_jobs, ex, NULL), 0);
    cio_executor_free(ex);
    assert_int_equal(cio_run(failing_jobs, NULL, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_can_fail),
        cmocka_unit_test(test_ten_thousand_jobs),
        cmocka_unit_test(test_cancel_queued_and_running),
        cmocka_unit_test(test_shutdown_modes),
        cmocka_unit_test(test_free_with_jobs_running),
        cmocka_unit_test(test_cancel_shutdown_waiter),
        cmocka_unit_test(test_shutdown_outside_loop_blocks),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_idle_threads_reused_then_exit),
        cmocka_unit_test(test_two_loops_share_a_pool),
        cmocka_unit_test(test_pool_outlives_its_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
