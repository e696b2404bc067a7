/* Queues: ordering (FIFO, LIFO, priority), bounds and waiting, nowait
 * errors, task_done/join (also with consumers cancelled), 3.13 shutdown. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <stdlib.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static void run(cio_fn fn, void *arg) {
    assert_int_equal(cio_run(fn, arg, NULL), 0);
}

static void *putter_42(void *arg) {
    return P(cio_queue_put(arg, P(42)));
}

static int cmp_int(const void *a, const void *b) {
    return I(a) - I(b);
}

static void *order_main(void *arg) {
    (void)arg;
    cio_queue *f = cio_queue_new(0), *l = cio_queue_new_lifo(0),
              *p = cio_queue_new_priority(0, cmp_int);
    static const int in[] = {5, 1, 4, 2, 3, 9, 0, 7, 8, 6};
    for (int i = 0; i < 10; i++) {
        assert_int_equal(cio_queue_put(f, P(in[i])), 0);
        assert_int_equal(cio_queue_put(l, P(in[i])), 0);
        assert_int_equal(cio_queue_put(p, P(in[i])), 0);
    }
    assert_int_equal(cio_queue_size(f), 10);
    for (int i = 0; i < 10; i++) {
        void *a, *b, *c;
        assert_int_equal(cio_queue_get(f, &a), 0);
        assert_int_equal(cio_queue_get(l, &b), 0);
        assert_int_equal(cio_queue_get(p, &c), 0);
        assert_int_equal(I(a), in[i]);
        assert_int_equal(I(b), in[9 - i]);
        assert_int_equal(I(c), i);
    }
    void *x;
    assert_int_equal(cio_queue_get_nowait(f, &x), -EAGAIN);
    assert_true(cio_queue_empty(p));
    assert_null(cio_queue_new_priority(0, NULL));
    cio_queue_free(f);
    cio_queue_free(l);
    cio_queue_free(p);
    return NULL;
}

static void test_orders(void **state) {
    (void)state;
    run(order_main, NULL);
}

typedef struct pc {
    cio_queue *q;
    int got[100];
    int n;
} pc;

static void *producer(void *arg) {
    pc *s = arg;
    for (int i = 0; i < 100; i++)
        assert_int_equal(cio_queue_put(s->q, P(i)), 0);
    return NULL;
}

static void *consumer(void *arg) {
    pc *s = arg;
    void *it;
    while (cio_queue_get(s->q, &it) == 0) {
        s->got[s->n++] = I(it);
        cio_queue_task_done(s->q);
        if (s->n % 7 == 0)
            cio_yield();
    }
    return NULL;
}

static void *bounded_main(void *arg) {
    pc *s = arg;
    s->q = cio_queue_new(3);
    assert_int_equal(cio_queue_maxsize(s->q), 3);
    cio_future *p = cio_create_task(producer, s), *c = cio_create_task(consumer, s);
    assert_int_equal(cio_queue_join(s->q), 0);
    assert_int_equal(cio_await(p, NULL), 0);
    assert_int_equal(s->n, 100);
    cio_queue_shutdown(s->q, false); /* the consumer's get ends */
    assert_int_equal(cio_await(c, NULL), 0);
    assert_int_equal(cio_queue_put(s->q, P(1)), CIO_ESHUTDOWN);
    assert_int_equal(cio_queue_task_done(s->q), -EINVAL);
    cio_future_unref(p);
    cio_future_unref(c);
    cio_queue_free(s->q);
    return NULL;
}

/* A slot freed by get goes to the blocked putter, not to a later put. */
static void *no_barging_main(void *arg) {
    (void)arg;
    cio_queue *q = cio_queue_new(1);
    cio_queue_put_nowait(q, P(1));
    cio_future *p = cio_create_task(putter_42, q);
    cio_yield();
    void *it;
    assert_int_equal(cio_queue_get_nowait(q, &it), 0);
    assert_int_equal(I(it), 1);
    assert_true(cio_queue_full(q));
    assert_int_equal(cio_queue_put_nowait(q, P(99)), -EAGAIN);
    assert_int_equal(cio_queue_get_nowait(q, &it), 0);
    assert_int_equal(I(it), 42);
    assert_int_equal(cio_await(p, &it), 0);
    assert_int_equal(I(it), 0);
    cio_future_unref(p);
    cio_queue_free(q);
    return NULL;
}

static void test_no_barging(void **state) {
    (void)state;
    run(no_barging_main, NULL);
}

static void test_bounded_producer_consumer(void **state) {
    (void)state;
    pc *s = calloc(1, sizeof *s);
    run(bounded_main, s);
    for (int i = 0; i < 100; i++)
        assert_int_equal(s->got[i], i);
    free(s);
}

/* A getter woken with an item and cancelled before it runs keeps the item. */
static void *getter(void *arg) {
    void *it = NULL;
    int r = cio_queue_get(arg, &it);
    int y = cio_yield();
    return P(r == 0 ? I(it) * 10 + (y == -ECANCELED) : r);
}

static void *cancel_after_wake_main(void *arg) {
    (void)arg;
    cio_queue *q = cio_queue_new(0);
    cio_future *a = cio_create_task(getter, q), *b = cio_create_task(getter, q);
    cio_yield();
    cio_queue_put_nowait(q, P(7)); /* handed to a */
    cio_cancel(a);
    cio_queue_put_nowait(q, P(8)); /* handed to b */
    void *ra, *rb;
    cio_await(a, &ra);
    cio_await(b, &rb);
    assert_int_equal(I(ra), 71); /* kept 7, saw the cancellation after */
    assert_int_equal(I(rb), 80);
    cio_future_unref(a);
    cio_future_unref(b);
    cio_queue_free(q);
    return NULL;
}

static void test_getter_cancelled_after_wake(void **state) {
    (void)state;
    run(cancel_after_wake_main, NULL);
}

typedef struct jc {
    cio_queue *q;
    int processed;
} jc;

static void *slow_consumer(void *arg) {
    jc *s = arg;
    void *it;
    for (;;) {
        int r = cio_queue_get(s->q, &it);
        if (r < 0)
            return P(r);
        if (cio_sleep(0.002) < 0)
            return cio_fail(-ECANCELED); /* dies holding an item: no task_done */
        s->processed++;
        cio_queue_task_done(s->q);
    }
}

static void *joiner(void *arg) {
    return P(cio_queue_join(arg));
}

static void *join_cancel_main(void *arg) {
    jc *s = arg;
    s->q = cio_queue_new(0);
    for (int i = 0; i < 20; i++)
        cio_queue_put_nowait(s->q, P(i));
    cio_future *cs[2] = {cio_create_task(slow_consumer, s), cio_create_task(slow_consumer, s)};
    cio_future *j = cio_create_task(joiner, s->q);
    cio_sleep(0.005);
    cio_cancel(cs[0]);
    cio_cancel(cs[1]);
    cio_future *ret[] = {cs[0], cs[1]};
    cio_gather(ret, 2, CIO_RETURN_EXCEPTIONS);
    assert_false(cio_future_done(j)); /* items taken by the dead are not done */
    /* Replacements finish the rest, but the two lost items keep join waiting. */
    cio_future *more = cio_create_task(slow_consumer, s);
    while (cio_queue_size(s->q) > 0)
        cio_sleep(0.002);
    cio_sleep(0.01);
    assert_false(cio_future_done(j));
    assert_int_equal(cio_queue_task_done(s->q), 0);
    assert_int_equal(cio_queue_task_done(s->q), 0);
    void *r;
    assert_int_equal(cio_await(j, &r), 0);
    assert_int_equal(I(r), 0);
    assert_int_equal(s->processed, 18);
    cio_cancel(more);
    cio_await(more, NULL);
    cio_future_unref(cs[0]);
    cio_future_unref(cs[1]);
    cio_future_unref(more);
    cio_future_unref(j);
    cio_queue_free(s->q);
    return NULL;
}

static void test_join_with_consumers_cancelled(void **state) {
    (void)state;
    jc s = {0};
    run(join_cancel_main, &s);
}

static int dropped;
static void drop(void *item) {
    (void)item;
    dropped++;
}

static void *shutdown_main(void *arg) {
    (void)arg;
    cio_queue *q = cio_queue_new(2);
    cio_queue_set_drop(q, drop);
    cio_queue_put_nowait(q, P(1));
    cio_queue_put_nowait(q, P(2));
    cio_future *p = cio_create_task(putter_42, q), *j = cio_create_task(joiner, q);
    cio_yield();
    cio_queue_shutdown(q, false);
    void *r;
    cio_await(p, &r);
    assert_int_equal(I(r), CIO_ESHUTDOWN); /* the blocked put fails */
    assert_false(cio_future_done(j));
    assert_int_equal(cio_queue_get(q, &r), 0); /* what is left can be drained */
    assert_int_equal(I(r), 1);
    cio_queue_task_done(q);
    cio_queue_shutdown(q, true); /* discards item 2 and releases join */
    assert_int_equal(dropped, 1);
    assert_int_equal(cio_await(j, &r), 0);
    assert_int_equal(I(r), 0);
    assert_int_equal(cio_queue_get(q, &r), CIO_ESHUTDOWN);
    assert_int_equal(cio_queue_get_nowait(q, &r), CIO_ESHUTDOWN);
    assert_int_equal(cio_queue_put_nowait(q, P(3)), CIO_ESHUTDOWN);
    cio_future_unref(p);
    cio_future_unref(j);
    cio_queue_free(q);

    cio_queue *e = cio_queue_new(0);
    cio_future *g = cio_create_task(getter, e);
    cio_yield();
    cio_queue_shutdown(e, false); /* a blocked get on an empty queue fails */
    cio_await(g, &r);
    assert_int_equal(I(r), CIO_ESHUTDOWN);
    cio_future_unref(g);
    cio_queue_put_nowait(e, P(5)); /* refused: nothing to free */
    cio_queue_free(e);
    return NULL;
}

static void test_shutdown(void **state) {
    (void)state;
    run(shutdown_main, NULL);
}

static void test_outside_task(void **state) {
    (void)state;
    cio_queue *q = cio_queue_new(1);
    assert_int_equal(cio_queue_put(q, P(1)), 0); /* no wait needed */
    assert_int_equal(cio_queue_put(q, P(2)), -EPERM);
    void *it;
    assert_int_equal(cio_queue_get(q, &it), 0);
    assert_int_equal(cio_queue_get(q, &it), -EPERM);
    assert_int_equal(cio_queue_get(NULL, &it), -EINVAL);
    cio_queue_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_bounded_producer_consumer),
        cmocka_unit_test(test_no_barging),
        cmocka_unit_test(test_getter_cancelled_after_wake),
        cmocka_unit_test(test_join_with_consumers_cancelled),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_outside_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
