/* Interval: the schedule over 1,000 ticks is exact (computed, never
 * accumulated) and no tick comes early; the burst, delay and skip policies
 * after a stall; bad input. Bounds only, never timings that can flake. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

static void run(cio_fn fn, void *arg) {
    void *res = NULL;
    assert_int_equal(cio_run(fn, arg, &res), 0);
}

static void *drift_main(void *arg) {
    (void)arg;
    const double period = 0.001;
    cio_interval *iv = cio_interval_new(period, CIO_TICK_BURST);
    assert_non_null(iv);
    double start = cio_loop_time(cio_get_running_loop()), first = 0;
    for (int k = 0; k < 1000; k++) {
        double when;
        assert_int_equal(cio_interval_tick(iv, &when), 0);
        if (k == 0) {
            assert_true(when <= start + 1e-9);
            first = when;
        }
        double now = cio_loop_time(cio_get_running_loop());
        assert_true(now >= when);                              /* never early */
        assert_true(fabs(when - (first + k * period)) < 1e-9); /* no drift in the schedule */
    }
    /* 999 periods have passed since tick 0 at least (tick 0 is the interval's
     * start, taken before `start`); the bound is one-sided on purpose. */
    assert_true(cio_loop_time(cio_get_running_loop()) - first >= 0.999 - 1e-6);
    cio_interval_free(iv);
    return NULL;
}

static void test_no_drift(void **state) {
    (void)state;
    run(drift_main, NULL);
}

/* Ticks 0 and 1, then the task stalls for 5.5 periods without suspending. */
static void stall(cio_interval *iv, double period, double *start) {
    assert_int_equal(cio_interval_tick(iv, start), 0); /* tick 0: the schedule's origin */
    assert_int_equal(cio_interval_tick(iv, NULL), 0);
    struct timespec ts = {0, (long)(period * 5.5 * 1e9)};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

typedef struct pol {
    int policy;
} pol;

static void *policy_main(void *arg) {
    pol *p = arg;
    const double period = 0.1; /* tick 1 must not come a period late, even under load */
    cio_interval *iv = cio_interval_new(period, p->policy);
    double start, when;
    stall(iv, period, &start);
    double before = cio_loop_time(cio_get_running_loop());
    assert_int_equal(cio_interval_tick(iv, &when), 0); /* tick 2: overdue, at once */
    assert_true(fabs(when - (start + 2 * period)) < 1e-9);
    assert_int_equal(cio_interval_tick(iv, &when), 0);
    if (p->policy == CIO_TICK_BURST) {
        /* the missed tick 3 comes at once, on the original schedule */
        assert_true(fabs(when - (start + 3 * period)) < 1e-9);
    } else if (p->policy == CIO_TICK_DELAY) {
        /* a full period after the overdue tick was taken */
        assert_true(when >= before + period - 1e-9);
    } else {
        /* the next tick of the original schedule that is still ahead: 7 */
        double k = (when - start) / period;
        assert_true(fabs(k - round(k)) < 1e-6);
        assert_true(round(k) >= 7);
        assert_true(when >= before);
    }
    double r0 = cio_loop_time(cio_get_running_loop());
    cio_interval_reset(iv);
    assert_int_equal(cio_interval_tick(iv, &when), 0);
    assert_true(when >= r0 + period - 1e-9);
    cio_interval_free(iv);
    return NULL;
}

static void test_burst(void **state) {
    (void)state;
    pol p = {CIO_TICK_BURST};
    run(policy_main, &p);
}

static void test_delay(void **state) {
    (void)state;
    pol p = {CIO_TICK_DELAY};
    run(policy_main, &p);
}

static void test_skip(void **state) {
    (void)state;
    pol p = {CIO_TICK_SKIP};
    run(policy_main, &p);
}

static void *cancel_main(void *arg) {
    (void)arg;
    cio_interval *iv = cio_interval_new(10, CIO_TICK_BURST);
    assert_int_equal(cio_interval_tick(iv, NULL), 0); /* tick 0: at once */
    assert_null(cio_interval_new(0, CIO_TICK_BURST));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_interval_new(NAN, CIO_TICK_BURST));
    assert_null(cio_interval_new(1, 7));
    assert_int_equal(cio_interval_tick(NULL, NULL), -EINVAL);
    assert_true(cio_interval_period(iv) == 10);
    return iv;
}

static void *ticker(void *arg) {
    int r = cio_interval_tick(arg, NULL);
    return r < 0 ? cio_fail(r) : NULL;
}

static void *cancel2_main(void *arg) {
    cio_interval *iv = arg;
    cio_future *f = cio_create_task(ticker, iv);
    cio_sleep(0.01);
    assert_true(cio_cancel(f));
    assert_int_equal(cio_await(f, NULL), -ECANCELED);
    cio_future_unref(f);
    return NULL;
}

static void test_cancel_and_bad_input(void **state) {
    (void)state;
    assert_null(cio_interval_new(1, CIO_TICK_BURST)); /* no loop */
    assert_int_equal(errno, EPERM);
    void *iv;
    assert_int_equal(cio_run(cancel_main, NULL, &iv), 0);
    run(cancel2_main, iv);
    cio_interval_free(iv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_drift),
        cmocka_unit_test(test_burst),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_skip),
        cmocka_unit_test(test_cancel_and_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
