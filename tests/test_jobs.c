/* The job engine (executors/jobs.c) as the profiler sees it: with
 * cio__job_observer set, every job of either pool (plain and bytes jobs) is
 * reported exactly once, on its loop's thread, with submitted <= started <=
 * ended and the worker that really ran it; jobs submitted while it is NULL,
 * and jobs cancelled before they started, are not reported. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "executor.h" /* executors/: cio__job_observer, cio__job_times */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JOBS 300 /* per pool: a third of them bytes jobs */
#define THREADS 3
#define PROCESSES 2

/* What the observer saw, indexed like the futures submitted. */
static struct {
    cio_future *futs[JOBS];
    unsigned hits[JOBS];
    cio__job_times times[JOBS];
    unsigned stray;   /* reports of a future not submitted in this round */
    unsigned foreign; /* reports off the loop's thread or naming another loop */
    cio_loop *loop;
    pthread_t thread;
} seen;

static void observer(cio_loop *loop, const cio__job_times *t) {
    if (loop != seen.loop || !pthread_equal(pthread_self(), seen.thread))
        seen.foreign++;
    for (unsigned i = 0; i < JOBS; i++)
        if (seen.futs[i] == t->future) {
            seen.hits[i]++;
            seen.times[i] = *t;
            return;
        }
    seen.stray++;
}

static void seen_reset(void) {
    memset(&seen, 0, sizeof seen);
    seen.loop = cio_get_running_loop();
    seen.thread = pthread_self();
}

/* Who runs this job: a pool thread's index (its name is "<prefix>_<index>")
 * or a worker process's pid. */
static long whoami(void) {
    char name[32] = "";
    pthread_getname_np(pthread_self(), name, sizeof name);
    const char *us = strrchr(name, '_');
    if (strncmp(name, "obs_", 4) == 0 && us)
        return strtol(us + 1, NULL, 10);
    return (long)getpid();
}

static void *who_fn(void *arg) {
    (void)arg;
    return (void *)(intptr_t)whoami();
}

static ssize_t who_bytes(const void *in, size_t n, void *out, size_t cap) {
    (void)in, (void)n;
    long w = whoami();
    if (cap < sizeof w)
        return -ENOSPC;
    memcpy(out, &w, sizeof w);
    return (ssize_t)sizeof w;
}

static bool is_bytes_job(unsigned i) {
    return i % 3 == 2;
}

/* Submits JOBS jobs, awaits them, and checks each report against the
 * job's own answer of who ran it. */
static void run_and_check(cio_executor *ex, const char *name, long lo, long hi) {
    seen_reset();
    long ran_by[JOBS];
    for (unsigned i = 0; i < JOBS; i++) {
        char in[8] = "payload";
        seen.futs[i] = is_bytes_job(i)
                           ? cio_run_in_executor_bytes(ex, who_bytes, in, sizeof in, sizeof(long))
                           : cio_run_in_executor(ex, who_fn, NULL);
        assert_non_null(seen.futs[i]);
    }
    for (unsigned i = 0; i < JOBS; i++) {
        void *r;
        assert_int_equal(cio_await(seen.futs[i], &r), 0);
        if (is_bytes_job(i)) {
            const void *data;
            size_t len;
            assert_int_equal(cio_future_bytes(seen.futs[i], &data, &len), 0);
            assert_int_equal(len, sizeof(long));
            memcpy(&ran_by[i], data, sizeof(long));
        } else {
            ran_by[i] = (long)(intptr_t)r;
        }
    }
    assert_int_equal(seen.stray, 0);
    assert_int_equal(seen.foreign, 0);
    for (unsigned i = 0; i < JOBS; i++) {
        const cio__job_times *t = &seen.times[i];
        assert_int_equal(seen.hits[i], 1);
        assert_string_equal(t->executor, name);
        assert_ptr_equal(t->fn, is_bytes_job(i) ? (const void *)who_bytes : (const void *)who_fn);
        assert_true(t->submitted_ns > 0);
        assert_true(t->submitted_ns <= t->started_ns);
        assert_true(t->started_ns <= t->ended_ns);
        assert_int_equal(t->worker, ran_by[i]);
        assert_true(t->worker >= lo && t->worker < hi);
    }
    for (unsigned i = 0; i < JOBS; i++)
        cio_future_unref(seen.futs[i]);
}

static cio_executor *thread_pool(void) {
    cio_thread_pool_options o = {.max_workers = THREADS, .thread_name_prefix = "obs"};
    return cio_thread_pool_new_with(&o);
}

static cio_context_key request = CIO_CONTEXT_KEY("request");

static void *both_pools(void *arg) {
    (void)arg;
    /* thread-pool jobs then run wrapped to carry it: still reported as who_fn */
    assert_int_equal(cio_context_set(&request, (void *)&request, NULL), 0);
    cio__job_observer = observer;
    cio_executor *tp = thread_pool();
    assert_non_null(tp);
    run_and_check(tp, "thread pool", 0, THREADS);
    cio_executor_free(tp);
    cio_executor *pp = cio_process_pool_new(PROCESSES);
    assert_non_null(pp);
    run_and_check(pp, "process pool", 1, 1L << 30); /* pids; each job's own answer decides */
    assert_int_equal(cio_executor_shutdown(pp, true, false), 0);
    cio_executor_free(pp);
    cio__job_observer = NULL;
    return NULL;
}

static void test_every_job_reported_once(void **state) {
    (void)state;
    assert_int_equal(cio_run(both_pools, NULL, NULL), 0);
}

/* ---- what is not reported ---- */

static void *nap_fn(void *arg) {
    struct timespec ts = {0, (long)(intptr_t)arg};
    nanosleep(&ts, NULL);
    return arg;
}

/* Jobs submitted with the observer off stay untimed even if it is set
 * before they end; a job cancelled in the queue never started. */
static void quiet_jobs(cio_executor *ex) {
    seen_reset();
    cio__job_observer = NULL;
    cio_future *off = cio_run_in_executor(ex, nap_fn, (void *)(intptr_t)20000000);
    assert_non_null(off);
    cio__job_observer = observer;
    cio_future *blocker = cio_run_in_executor(ex, nap_fn, (void *)(intptr_t)50000000);
    cio_future *queued = cio_run_in_executor(ex, nap_fn, (void *)(intptr_t)1);
    assert_non_null(blocker);
    assert_non_null(queued);
    seen.futs[0] = blocker;
    seen.futs[1] = queued;
    assert_true(cio_cancel(queued));
    assert_int_equal(cio_await(off, NULL), 0);
    assert_int_equal(cio_await(blocker, NULL), 0);
    assert_int_equal(cio_await(queued, NULL), -ECANCELED);
    assert_int_equal(seen.stray, 0);
    assert_int_equal(seen.hits[0], 1);
    assert_int_equal(seen.hits[1], 0);
    cio_future_unref(off);
    cio_future_unref(blocker);
    cio_future_unref(queued);
    cio__job_observer = NULL;
}

static void *quiet(void *arg) {
    (void)arg;
    cio_executor *tp = cio_thread_pool_new(1); /* one worker: the second job waits */
    assert_non_null(tp);
    quiet_jobs(tp);
    cio_executor_free(tp);
    cio_executor *pp = cio_process_pool_new(1);
    assert_non_null(pp);
    quiet_jobs(pp);
    cio_executor_free(pp);
    return NULL;
}

static void test_unobserved_and_cancelled_not_reported(void **state) {
    (void)state;
    assert_int_equal(cio_run(quiet, NULL, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_job_reported_once),
        cmocka_unit_test(test_unobserved_and_cancelled_not_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
