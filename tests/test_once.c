/* Once-cell: one initializer runs while the others wait, a failed or
 * cancelled initializer hands the turn on, set/get, bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>

static void run(cio_fn fn, void *arg) {
    void *res = NULL;
    assert_int_equal(cio_run(fn, arg, &res), 0);
}

typedef struct st {
    cio_once *o;
    int calls;
    int fail_first; /* the first n inits fail with -EIO */
} st;

static int init(void *arg, void **value) {
    st *s = arg;
    int n = ++s->calls;
    /* Waiters pile up meanwhile; the first attempt of the retry test is
     * cancelled while it sleeps, so it sleeps long enough never to finish. */
    int r = cio_sleep(n == 1 && s->fail_first ? 30 : 0.01);
    if (r < 0)
        return r;
    if (n <= s->fail_first)
        return -EIO;
    *value = (void *)(intptr_t)(100 + n);
    return 0;
}

static void *getter(void *arg) {
    st *s = arg;
    void *v = NULL;
    int r = cio_once_get_or_init(s->o, init, s, &v);
    return r < 0 ? cio_fail(r) : v;
}

static void *single_main(void *arg) {
    st *s = arg;
    cio_future *f[10];
    for (int i = 0; i < 10; i++)
        f[i] = cio_create_task(getter, s);
    for (int i = 0; i < 10; i++) {
        void *v;
        assert_int_equal(cio_await(f[i], &v), 0);
        assert_int_equal((intptr_t)v, 101);
        cio_future_unref(f[i]);
    }
    assert_int_equal(s->calls, 1);
    void *v;
    assert_true(cio_once_get(s->o, &v));
    assert_int_equal((intptr_t)v, 101);
    assert_int_equal(cio_once_set(s->o, NULL), -EEXIST);
    return NULL;
}

static void test_one_initializer(void **state) {
    (void)state;
    st s = {.o = cio_once_new()};
    assert_false(cio_once_get(s.o, NULL));
    run(single_main, &s);
    cio_once_free(s.o);
}

static void *retry_main(void *arg) {
    st *s = arg;
    cio_future *f[5];
    for (int i = 0; i < 5; i++)
        f[i] = cio_create_task(getter, s);
    cio_yield();
    cio_yield();
    assert_true(cio_cancel(f[0])); /* the first initializer is cancelled */
    int errs = 0;
    for (int i = 0; i < 5; i++) {
        void *v;
        int r = cio_await(f[i], &v);
        if (i == 0)
            assert_int_equal(r, -ECANCELED);
        else if (r == -EIO)
            errs++;
        else {
            assert_int_equal(r, 0);
            assert_int_equal((intptr_t)v, 100 + s->calls);
        }
        cio_future_unref(f[i]);
    }
    /* cancelled, one -EIO, then success: three attempts, never two at once. */
    assert_int_equal(errs, 1);
    assert_int_equal(s->calls, 3);
    return NULL;
}

static void test_failure_hands_turn_on(void **state) {
    (void)state;
    st s = {.o = cio_once_new(), .fail_first = 2};
    run(retry_main, &s);
    assert_true(cio_once_get(s.o, NULL));
    cio_once_free(s.o);
}

static void test_set_and_bad_input(void **state) {
    (void)state;
    cio_once *o = cio_once_new();
    assert_int_equal(cio_once_set(o, (void *)7), 0);
    void *v;
    assert_int_equal(cio_once_get_or_init(o, init, NULL, &v), 0); /* no init: set already */
    assert_int_equal((intptr_t)v, 7);
    assert_int_equal(cio_once_get_or_init(NULL, init, NULL, &v), -EINVAL);
    assert_int_equal(cio_once_get_or_init(o, NULL, NULL, &v), -EINVAL);
    assert_int_equal(cio_once_set(NULL, NULL), -EINVAL);
    assert_false(cio_once_get(NULL, &v));
    cio_once_free(o);
    cio_once_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_initializer),
        cmocka_unit_test(test_failure_hands_turn_on),
        cmocka_unit_test(test_set_and_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
