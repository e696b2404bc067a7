/* Timeout scopes: expiry, no expiry, rescheduling, nesting (only the scope
 * whose deadline fired reports -ETIMEDOUT), outside cancellation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static void run(cio_fn fn) {
    assert_int_equal(cio_run(fn, NULL, NULL), 0);
}

static void block_loop(void *arg) {
    (void)arg;
    double t0 = cio_loop_time(cio_get_running_loop());
    while (cio_loop_time(cio_get_running_loop()) - t0 < 0.01) {
    }
}

static void set_event(void *arg) {
    cio_event_set(arg);
}

static void *basic_main(void *arg) {
    (void)arg;
    cio_future *me = cio_current_task();
    cio_timeout to;
    assert_int_equal(cio_timeout_enter(&to, 0.02), 0);
    int r = cio_sleep(5);
    assert_int_equal(r, -ECANCELED);
    assert_true(cio_timeout_expired(&to));
    assert_int_equal(cio_timeout_exit(&to, r), -ETIMEDOUT);
    assert_int_equal(cio_task_cancelling(me), 0); /* taken back */
    assert_int_equal(cio_sleep(0.001), 0);        /* nothing left pending */

    assert_int_equal(cio_timeout_enter(&to, 5), 0);
    r = cio_sleep(0.001);
    assert_int_equal(cio_timeout_exit(&to, r), 0);
    assert_false(cio_timeout_expired(&to));
    assert_int_equal(cio_timeout_exit(&to, 0), -EINVAL); /* exited already */

    /* no deadline, then one that is already in the past */
    assert_int_equal(cio_timeout_enter(&to, -1), 0);
    assert_true(cio_timeout_when(&to) < 0);
    double now = cio_loop_time(cio_get_running_loop());
    assert_int_equal(cio_timeout_reschedule(&to, now - 1), 0);
    r = cio_sleep(5);
    assert_int_equal(cio_timeout_exit(&to, r), -ETIMEDOUT);
    assert_int_equal(cio_timeout_reschedule(&to, now + 1), -EINVAL);

    /* moved further out: does not fire */
    assert_int_equal(cio_timeout_enter(&to, 0.01), 0);
    assert_int_equal(cio_timeout_reschedule(&to, cio_loop_time(cio_get_running_loop()) + 5), 0);
    r = cio_sleep(0.03);
    assert_int_equal(cio_timeout_exit(&to, r), 0);

    /* an expired scope whose block ended with another error passes it on */
    assert_int_equal(cio_timeout_enter(&to, 0), 0);
    assert_int_equal(cio_sleep(1), -ECANCELED);
    assert_true(cio_timeout_expired(&to));
    assert_int_equal(cio_timeout_exit(&to, -EIO), -EIO);
    assert_int_equal(cio_yield(), 0);

    /* expired, but the block got what it waited for before the
     * cancellation reached it: no timeout is invented and the undelivered
     * request is rescinded */
    cio_event *ev = cio_event_new();
    cio_call_soon(block_loop, NULL);
    cio_call_later(0.001, set_event, ev); /* expires with the deadline, before it */
    assert_int_equal(cio_timeout_enter(&to, 0.002), 0);
    assert_int_equal(cio_event_wait(ev), 0);
    assert_true(cio_timeout_expired(&to));
    assert_int_equal(cio_timeout_exit(&to, 0), 0);
    assert_int_equal(cio_yield(), 0);
    cio_event_free(ev);
    return NULL;
}

static void test_basic(void **state) {
    (void)state;
    run(basic_main);
}

static void *nested_main(void *arg) {
    (void)arg;
    cio_timeout outer, inner;
    /* the outer fires: the inner passes the cancellation through */
    assert_int_equal(cio_timeout_enter(&outer, 0.02), 0);
    assert_int_equal(cio_timeout_enter(&inner, 5), 0);
    int r = cio_sleep(5);
    r = cio_timeout_exit(&inner, r);
    assert_int_equal(r, -ECANCELED);
    assert_int_equal(cio_timeout_exit(&outer, r), -ETIMEDOUT);

    /* the inner fires: the outer sees the block end normally */
    assert_int_equal(cio_timeout_enter(&outer, 5), 0);
    assert_int_equal(cio_timeout_enter(&inner, 0.01), 0);
    r = cio_timeout_exit(&inner, cio_sleep(5));
    assert_int_equal(r, -ETIMEDOUT);
    assert_int_equal(cio_timeout_exit(&outer, 0), 0);

    /* both fire: the outer one is responsible */
    assert_int_equal(cio_timeout_enter(&outer, 0.01), 0);
    assert_int_equal(cio_timeout_enter(&inner, 0.01), 0);
    double t0 = cio_loop_time(cio_get_running_loop());
    while (cio_loop_time(cio_get_running_loop()) - t0 < 0.03) {
    } /* both deadlines pass while we run */
    r = cio_sleep(5);
    r = cio_timeout_exit(&inner, r);
    assert_int_equal(r, -ECANCELED);
    assert_int_equal(cio_timeout_exit(&outer, r), -ETIMEDOUT);
    assert_int_equal(cio_task_cancelling(cio_current_task()), 0);
    return NULL;
}

static void test_nested(void **state) {
    (void)state;
    run(nested_main);
}

static void *scoped_sleeper(void *arg) {
    (void)arg;
    cio_timeout to;
    cio_timeout_enter(&to, 5);
    int r = cio_timeout_exit(&to, cio_sleep(5));
    return P(r);
}

static void *outside_cancel_main(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(scoped_sleeper, NULL);
    cio_sleep(0.01);
    cio_cancel(t);
    void *r;
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal(I(r), -ECANCELED); /* not ours: not a timeout */
    cio_future_unref(t);

    /* a wait_for inside a scope that expires first */
    cio_future *f = cio_future_new();
    cio_timeout to;
    cio_timeout_enter(&to, 0.01);
    int e = cio_wait_for(f, 5, NULL);
    assert_int_equal(e, -ECANCELED);
    assert_int_equal(cio_timeout_exit(&to, e), -ETIMEDOUT);
    assert_true(cio_future_cancelled(f));
    cio_future_unref(f);
    return NULL;
}

static void test_outside_cancel(void **state) {
    (void)state;
    run(outside_cancel_main);
    cio_timeout to;
    assert_int_equal(cio_timeout_enter(&to, 1), -EPERM);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_outside_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
