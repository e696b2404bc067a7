/* The rules of cio.h's Conventions section, call group by call group: NaN
 * is -EINVAL wherever seconds are taken; the time rule's edges (0, negative,
 * INFINITY) for delays and timeouts; explicit-loop twins; bool removals;
 * close returning int; cio_loop_debug and its deprecated alias. Outcomes
 * and orderings only, never durations. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void run(cio_fn fn) {
    assert_int_equal(cio_run(fn, NULL, NULL), 0);
}

static void never(void *arg) {
    (void)arg;
    fail_msg("a callback scheduled at INFINITY ran");
}

static void mark(void *arg) {
    (*(int *)arg)++;
}

static void append(void *arg) {
    int *log = arg;
    log[++log[0]] = 1; /* 1: the call_soon callback */
}

static void append_later(void *arg) {
    int *log = arg;
    log[++log[0]] = 2; /* 2: the call_later(<= 0) callback */
}

/* ---- NaN, per call group ---- */

static void *nan_loop_calls(void *arg) {
    (void)arg;
    cio_loop *loop = cio_get_running_loop();
    int n = 0;
    errno = 0;
    assert_null(cio_call_later(NAN, mark, &n).p);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(cio_call_at(NAN, mark, &n).p);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(cio_loop_call_later(loop, NAN, mark, &n).p);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(cio_loop_call_at(loop, NAN, mark, &n).p);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(cio_sleep(NAN), -EINVAL);
    assert_int_equal(cio_sleep(0.001), 0);
    assert_int_equal(n, 0);
    return NULL;
}

static void test_nan_callbacks_and_sleep(void **state) {
    (void)state;
    run(nan_loop_calls);
}

static void *nan_compose(void *arg) {
    (void)arg;
    cio_future *f = cio_future_new();
    assert_non_null(f);
    assert_int_equal(cio_wait(&f, 1, NAN, CIO_ALL_COMPLETED), -EINVAL);
    assert_int_equal(cio_wait_for(f, NAN, NULL), -EINVAL);
    errno = 0;
    assert_null(cio_as_completed_new(&f, 1, NAN));
    assert_int_equal(errno, EINVAL);
    assert_false(cio_future_done(f)); /* nothing was cancelled */
    cio_timeout to;
    assert_int_equal(cio_timeout_enter(&to, NAN), -EINVAL);
    assert_int_equal(cio_timeout_enter_at(&to, NAN), -EINVAL);
    assert_int_equal(cio_timeout_enter(&to, 10), 0);
    assert_int_equal(cio_timeout_reschedule(&to, NAN), -EINVAL);
    assert_int_equal(cio_timeout_exit(&to, 0), 0);
    cio_future_unref(f);
    return NULL;
}

static void test_nan_compose_and_timeouts(void **state) {
    (void)state;
    run(nan_compose);
}

static void *nan_io(void *arg) {
    (void)arg;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(cio_poll(sv[0], POLLIN, NAN), -EINVAL);
    errno = 0;
    assert_null(cio_interval_new(NAN, CIO_TICK_BURST));
    assert_int_equal(errno, EINVAL);
    char path[] = "/tmp/cio-conv-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cio_utime(path, NAN, 0), -EINVAL);
    assert_int_equal(cio_utime(path, 0, NAN), -EINVAL);
    assert_int_equal(cio_utime(path, INFINITY, 0), -EINVAL); /* not a timestamp */
    assert_int_equal(cio_utime(path, 1e9, 1e9), 0);
    unlink(path);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_nan_io_interval_utime(void **state) {
    (void)state;
    run(nan_io);
}

static void *returns_one(void *arg) {
    (void)arg;
    return (void *)1;
}

static void test_nan_options_and_future_wait(void **state) {
    (void)state;
    cio_options opt = {.shutdown_timeout = NAN};
    assert_int_equal(cio_run_with(&opt, returns_one, NULL, NULL), -EINVAL);
    opt = (cio_options){.slow_callback_duration = NAN};
    assert_int_equal(cio_run_with(&opt, returns_one, NULL, NULL), -EINVAL);
    errno = 0;
    assert_null(cio_loop_new(&opt));
    assert_int_equal(errno, EINVAL);
    cio_thread_pool_options tpo = {.idle_timeout = NAN};
    errno = 0;
    assert_null(cio_thread_pool_new_with(&tpo));
    assert_int_equal(errno, EINVAL);

    cio_loop *loop = cio_loop_new(NULL);
    assert_non_null(loop);
    cio_future *f = cio_loop_future_new(loop);
    assert_non_null(f);
    assert_int_equal(cio_future_wait(f, NAN, NULL), -EINVAL);
    assert_int_equal(cio_future_wait(f, 0, NULL), -ETIMEDOUT); /* 0: a check */
    assert_int_equal(cio_future_set_result(f, (void *)7), 0);
    void *r = NULL;
    assert_int_equal(cio_future_wait(f, INFINITY, &r), 0); /* no limit */
    assert_ptr_equal(r, (void *)7);
    assert_int_equal(cio_future_wait(f, -1, NULL), 0);
    cio_future_unref(f);
    assert_int_equal(cio_loop_close(loop), 0);
}

/* ---- delays: <= 0 as soon as possible, INFINITY never ---- */

static void *other(void *arg) {
    (*(int *)arg)++;
    return NULL;
}

static void *delays(void *arg) {
    (void)arg;
    int ran = 0;
    cio_future *t = cio_create_task(other, &ran);
    assert_int_equal(cio_sleep(0), 0); /* yields once: the task ran */
    assert_int_equal(ran, 1);
    cio_future_unref(t);
    t = cio_create_task(other, &ran);
    assert_int_equal(cio_sleep(-1), 0);
    assert_int_equal(ran, 2);
    cio_future_unref(t);
    t = cio_create_task(other, &ran);
    assert_int_equal(cio_sleep(-INFINITY), 0);
    assert_int_equal(ran, 3);
    cio_future_unref(t);

    /* call_later(<= 0) runs after the call_soon callbacks already queued */
    int log[4] = {0};
    assert_non_null(cio_call_soon(append, log).p);
    assert_non_null(cio_call_later(-5, append_later, log).p);
    assert_non_null(cio_call_later(0, append_later, log).p);
    assert_int_equal(cio_sleep(0.001), 0);
    assert_int_equal(log[0], 3);
    assert_int_equal(log[1], 1);
    assert_int_equal(log[2], 2);
    assert_int_equal(log[3], 2);

    /* INFINITY: never; the loop still sleeps and wakes for other work */
    cio_handle h = cio_call_later(INFINITY, never, NULL);
    assert_non_null(h.p);
    cio_handle h2 = cio_call_at(INFINITY, never, NULL);
    assert_non_null(h2.p);
    void *r;
    assert_int_equal(cio_to_thread(returns_one, NULL, &r), 0); /* the loop waits with them armed */
    assert_ptr_equal(r, (void *)1);
    assert_int_equal(cio_sleep(0.001), 0);
    assert_true(cio_handle_cancel(h));
    assert_true(cio_handle_cancel(h2));
    return NULL;
}

static void test_delay_edges(void **state) {
    (void)state;
    run(delays);
}

static void *sleep_forever(void *arg) {
    (void)arg;
    int r = cio_sleep(INFINITY);
    return cio_fail(r);
}

static void *sleeps_until_cancelled(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(sleep_forever, NULL);
    assert_int_equal(cio_sleep(0.001), 0);
    assert_false(cio_future_done(t));
    assert_true(cio_cancel(t));
    assert_int_equal(cio_await(t, NULL), -ECANCELED);
    assert_true(cio_future_cancelled(t));
    cio_future_unref(t);
    return NULL;
}

static void test_sleep_infinity(void **state) {
    (void)state;
    run(sleeps_until_cancelled);
}

/* ---- timeouts: negative or INFINITY unlimited, 0 a check ---- */

static void complete(void *arg) {
    cio_future_set_result(arg, (void *)5);
}

static void *wait_for_edges(void *arg) {
    (void)arg;
    cio_future *f = cio_future_new();
    assert_int_equal(cio_wait_for(f, 0, NULL), -ETIMEDOUT); /* 0: times out at once */
    assert_true(cio_future_cancelled(f));
    cio_future_unref(f);

    f = cio_future_new();
    assert_int_equal(cio_future_set_result(f, (void *)3), 0);
    void *r = NULL;
    assert_int_equal(cio_wait_for(f, 0, &r), 0); /* done already: its result */
    assert_ptr_equal(r, (void *)3);
    cio_future_unref(f);

    const double unlimited[] = {-1, -INFINITY, INFINITY};
    for (size_t i = 0; i < 3; i++) {
        f = cio_future_new();
        assert_non_null(cio_call_later(0.002, complete, f).p);
        r = NULL;
        assert_int_equal(cio_wait_for(f, unlimited[i], &r), 0);
        assert_ptr_equal(r, (void *)5);
        cio_future_unref(f);
    }
    return NULL;
}

static void test_wait_for_edges(void **state) {
    (void)state;
    run(wait_for_edges);
}

static void *wait_edges(void *arg) {
    (void)arg;
    cio_future *fs[2] = {cio_future_new(), cio_future_new()};
    int ran = 0;
    cio_future *t = cio_create_task(other, &ran);
    assert_int_equal(cio_wait(fs, 2, 0, CIO_FIRST_COMPLETED), 0); /* a check: nothing done */
    assert_int_equal(ran, 0);                                     /* and no suspension */
    assert_int_equal(cio_future_set_result(fs[0], NULL), 0);
    assert_int_equal(cio_wait(fs, 2, 0, CIO_ALL_COMPLETED), 1);
    assert_non_null(cio_call_later(0.002, complete, fs[1]).p);
    assert_int_equal(cio_wait(fs, 2, INFINITY, CIO_ALL_COMPLETED), 2);
    assert_int_equal(ran, 1);

    cio_future *g = cio_future_new();
    cio_as_completed *it = cio_as_completed_new(&g, 1, 0);
    assert_non_null(it);
    cio_future *next;
    assert_int_equal(cio_as_completed_next(it, &next), -ETIMEDOUT); /* 0: nothing is done */
    cio_as_completed_free(it);
    it = cio_as_completed_new(&g, 1, INFINITY);
    assert_non_null(it);
    assert_non_null(cio_call_later(0.002, complete, g).p);
    assert_int_equal(cio_as_completed_next(it, &next), 1);
    assert_ptr_equal(next, g);
    assert_int_equal(cio_as_completed_next(it, &next), 0);
    cio_as_completed_free(it);

    cio_future_unref(g);
    cio_future_unref(t);
    cio_future_unref(fs[0]);
    cio_future_unref(fs[1]);
    return NULL;
}

static void test_wait_and_as_completed_edges(void **state) {
    (void)state;
    run(wait_edges);
}

static int poll_sv[2];

static void write_one(void *arg) {
    (void)arg;
    assert_int_equal(write(poll_sv[1], "x", 1), 1);
}

static void *poll_edges(void *arg) {
    (void)arg;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, poll_sv), 0);
    assert_int_equal(cio_poll(poll_sv[0], POLLIN, 0), 0); /* a check: nothing to read */
    const double unlimited[] = {-1, INFINITY};
    char c;
    for (size_t i = 0; i < 2; i++) {
        assert_non_null(cio_call_later(0.002, write_one, NULL).p);
        assert_true(cio_poll(poll_sv[0], POLLIN, unlimited[i]) & POLLIN);
        assert_int_equal(read(poll_sv[0], &c, 1), 1);
    }
    close(poll_sv[0]);
    close(poll_sv[1]);
    return NULL;
}

static void test_poll_edges(void **state) {
    (void)state;
    run(poll_edges);
}

static void *scope_edges(void *arg) {
    (void)arg;
    cio_timeout to;
    assert_int_equal(cio_timeout_enter(&to, INFINITY), 0);
    assert_true(cio_timeout_when(&to) == -1); /* no deadline */
    assert_int_equal(cio_sleep(0.001), 0);
    assert_false(cio_timeout_expired(&to));
    assert_int_equal(cio_timeout_reschedule(&to, INFINITY), 0);
    assert_true(cio_timeout_when(&to) == -1);
    assert_int_equal(cio_timeout_exit(&to, 0), 0);

    assert_int_equal(cio_timeout_enter_at(&to, INFINITY), 0);
    assert_true(cio_timeout_when(&to) == -1);
    assert_int_equal(cio_timeout_exit(&to, 0), 0);

    assert_int_equal(cio_timeout_enter(&to, -1), 0);
    assert_true(cio_timeout_when(&to) == -1);
    assert_int_equal(cio_timeout_exit(&to, 0), 0);

    assert_int_equal(cio_timeout_enter(&to, 0), 0); /* expires at the first suspension */
    int r = cio_sleep(10);
    assert_int_equal(r, -ECANCELED);
    assert_int_equal(cio_timeout_exit(&to, r), -ETIMEDOUT);
    return NULL;
}

static void test_timeout_scope_edges(void **state) {
    (void)state;
    run(scope_edges);
}

static void *to_thread_job(void *arg) {
    (void)arg;
    void *r;
    assert_int_equal(cio_to_thread(returns_one, NULL, &r), 0);
    return r;
}

static void test_shutdown_timeout_unlimited(void **state) {
    (void)state;
    const double unlimited[] = {-1, INFINITY};
    for (size_t i = 0; i < 2; i++) {
        cio_options opt = {.shutdown_timeout = unlimited[i]};
        void *r = NULL;
        assert_int_equal(cio_run_with(&opt, to_thread_job, NULL, &r), 0);
        assert_ptr_equal(r, (void *)1);
    }
}

/* ---- twins, bool results, close, getters ---- */

static void on_readable(void *arg) {
    cio_future *f = arg;
    if (!cio_future_done(f))
        cio_future_set_result(f, (void *)9);
}

static void test_loop_twins_before_run(void **state) {
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    cio_loop *loop = cio_loop_new(NULL);
    assert_non_null(loop);
    cio_future *f = cio_loop_future_new(loop);
    assert_int_equal(cio_loop_add_reader(NULL, sv[0], on_readable, f), -EPERM);
    assert_int_equal(cio_loop_add_reader(loop, -1, on_readable, f), -EINVAL);
    assert_int_equal(cio_loop_add_reader(loop, sv[0], on_readable, f), 0); /* not running yet */
    assert_int_equal(write(sv[1], "y", 1), 1);
    assert_int_equal(cio_loop_run_until_complete(loop, f), 0);
    void *r;
    assert_int_equal(cio_future_result(f, &r), 0);
    assert_ptr_equal(r, (void *)9);
    assert_true(cio_loop_remove_reader(loop, sv[0]));
    assert_false(cio_loop_remove_reader(loop, sv[0]));
    assert_false(cio_loop_remove_writer(loop, sv[0]));
    assert_false(cio_loop_remove_reader(NULL, sv[0]));
    cio_future_unref(f);

    f = cio_loop_future_new(loop);
    assert_int_equal(cio_loop_add_writer(loop, sv[0], on_readable, f), 0);
    assert_int_equal(cio_loop_run_until_complete(loop, f), 0);
    assert_true(cio_loop_remove_writer(loop, sv[0]));
    cio_future_unref(f);

    f = cio_loop_future_new(loop);
    assert_int_equal(cio_loop_add_signal_handler(NULL, SIGUSR2, on_readable, f), -EPERM);
    assert_int_equal(cio_loop_add_signal_handler(loop, SIGUSR2, on_readable, f), 0);
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(cio_loop_run_until_complete(loop, f), 0);
    assert_true(cio_loop_remove_signal_handler(loop, SIGUSR2));
    assert_false(cio_loop_remove_signal_handler(loop, SIGUSR2));
    assert_false(cio_loop_remove_signal_handler(NULL, SIGUSR2));
    cio_future_unref(f);
    assert_int_equal(cio_loop_close(loop), 0);
    close(sv[0]);
    close(sv[1]);
}

static void test_close_returns_int(void **state) {
    (void)state;
    assert_int_equal(cio_chan_close(NULL), -EINVAL);
    assert_int_equal(cio_bcast_close(NULL), -EINVAL);
    assert_int_equal(cio_latest_close(NULL), -EINVAL);
    assert_int_equal(cio_server_close(NULL), -EINVAL);
    cio_chan *ch = cio_chan_new(1);
    assert_int_equal(cio_chan_close(ch), 0);
    assert_int_equal(cio_chan_close(ch), 0); /* idempotent */
    cio_chan_free(ch);
    cio_bcast *b = cio_bcast_new(1);
    assert_int_equal(cio_bcast_close(b), 0);
    cio_bcast_free(b);
    cio_latest *w = cio_latest_new(NULL);
    assert_int_equal(cio_latest_close(w), 0);
    cio_latest_free(w);
}

static void test_debug_getter(void **state) {
    (void)state;
    cio_options opt = {.debug = 1};
    cio_loop *loop = cio_loop_new(&opt);
    assert_non_null(loop);
    assert_true(cio_loop_debug(loop));
    assert_false(cio_loop_debug(NULL));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    assert_true(cio_loop_get_debug(loop)); /* the deprecated alias agrees */
#pragma GCC diagnostic pop
    assert_int_equal(cio_loop_close(loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nan_callbacks_and_sleep),
        cmocka_unit_test(test_nan_compose_and_timeouts),
        cmocka_unit_test(test_nan_io_interval_utime),
        cmocka_unit_test(test_nan_options_and_future_wait),
        cmocka_unit_test(test_delay_edges),
        cmocka_unit_test(test_sleep_infinity),
        cmocka_unit_test(test_wait_for_edges),
        cmocka_unit_test(test_wait_and_as_completed_edges),
        cmocka_unit_test(test_poll_edges),
        cmocka_unit_test(test_timeout_scope_edges),
        cmocka_unit_test(test_shutdown_timeout_unlimited),
        cmocka_unit_test(test_loop_twins_before_run),
        cmocka_unit_test(test_close_returns_int),
        cmocka_unit_test(test_debug_getter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
