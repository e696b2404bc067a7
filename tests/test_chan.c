/* Channels: MPSC (bounded and unbounded, thread and task senders, order per
 * sender, backpressure, close, cancellation), broadcast (lag), latest value. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
enum { NMSG = 20000 };
#else
enum { NMSG = 100000 };
#endif
enum { NSEND = 4 };

static void run(cio_fn fn, void *arg) {
    void *res = NULL;
    assert_int_equal(cio_run(fn, arg, &res), 0);
}

#define ITEM(sender, seq) ((void *)(((uintptr_t)(sender) << 32) | (uintptr_t)(seq)))

/* ---- threads x messages, in order per sender ---- */

typedef struct many {
    cio_chan *ch;
    int id;
    int err;
    uintptr_t n;
} many;

static void *thread_sender(void *arg) {
    many *m = arg;
    for (uintptr_t i = 0; i < m->n; i++) {
        int r = cio_chan_send(m->ch, ITEM(m->id + 1, i));
        if (r) {
            m->err = r;
            break;
        }
    }
    return NULL;
}

static uintptr_t per_sender = NMSG;

static void *receive_all(void *arg) {
    cio_chan *ch = arg;
    uintptr_t next[NSEND + 1] = {0};
    size_t n = 0;
    void *item;
    int r;
    while ((r = cio_chan_recv(ch, &item)) == 0) {
        uintptr_t s = (uintptr_t)item >> 32, seq = (uintptr_t)item & 0xffffffffu;
        assert_true(s >= 1 && s <= NSEND);
        assert_int_equal(seq, next[s]); /* in order per sender, nothing lost or doubled */
        next[s]++;
        n++;
        assert_true(cio_chan_len(ch) <= (cio_chan_capacity(ch) ? cio_chan_capacity(ch) : SIZE_MAX));
    }
    assert_int_equal(r, CIO_ESHUTDOWN);
    for (int s = 1; s <= NSEND; s++)
        assert_int_equal(next[s], per_sender);
    return (void *)n;
}

typedef struct closer {
    cio_chan *ch;
    pthread_t th[NSEND];
    many m[NSEND];
} closer;

static void *join_and_close(void *arg) {
    closer *c = arg;
    for (int i = 0; i < NSEND; i++) {
        pthread_join(c->th[i], NULL);
        assert_int_equal(c->m[i].err, 0);
    }
    cio_chan_close(c->ch);
    return NULL;
}

static void *many_main(void *arg) {
    closer *c = arg;
    for (int i = 0; i < NSEND; i++) {
        c->m[i] = (many){.ch = c->ch, .id = i, .n = per_sender};
        assert_int_equal(pthread_create(&c->th[i], NULL, thread_sender, &c->m[i]), 0);
    }
    pthread_t j;
    assert_int_equal(pthread_create(&j, NULL, join_and_close, c), 0);
    void *n = receive_all(c->ch);
    pthread_join(j, NULL);
    assert_int_equal((uintptr_t)n, (uintptr_t)NSEND * per_sender);
    return NULL;
}

static void many_senders(size_t cap, uintptr_t n) {
    per_sender = n;
    closer c = {.ch = cio_chan_new(cap)};
    assert_non_null(c.ch);
    run(many_main, &c);
    cio_chan_free(c.ch);
}

static void test_threads_bounded(void **state) {
    (void)state;
    many_senders(64, NMSG);
}

static void test_threads_unbounded(void **state) {
    (void)state;
    many_senders(0, NMSG);
}

static void test_threads_capacity_one(void **state) {
    (void)state;
    many_senders(1, NMSG / 50); /* every message parks a thread */
}

/* ---- task senders: backpressure on the same loop and from another loop ---- */

typedef struct tsend {
    cio_chan *ch;
    int id, n;
} tsend;

static void *task_sender(void *arg) {
    tsend *t = arg;
    for (int i = 0; i < t->n; i++)
        assert_int_equal(cio_chan_send(t->ch, ITEM(t->id, i)), 0);
    return NULL;
}

static void *same_loop_main(void *arg) {
    cio_chan *ch = arg;
    tsend ts[3];
    cio_future *f[3];
    for (int i = 0; i < 3; i++) {
        ts[i] = (tsend){ch, i + 1, 500};
        f[i] = cio_create_task(task_sender, &ts[i]);
    }
    int next[4] = {0};
    void *item;
    for (int k = 0; k < 1500; k++) {
        assert_int_equal(cio_chan_recv(ch, &item), 0);
        assert_true(cio_chan_len(ch) <= 2);
        int s = (int)((uintptr_t)item >> 32);
        assert_int_equal((int)((uintptr_t)item & 0xffffffffu), next[s]++);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cio_await(f[i], NULL), 0);
        cio_future_unref(f[i]);
    }
    assert_int_equal(cio_chan_try_recv(ch, &item), -EAGAIN);
    return NULL;
}

static void test_task_senders_same_loop(void **state) {
    (void)state;
    cio_chan *ch = cio_chan_new(2);
    run(same_loop_main, ch);
    cio_chan_free(ch);
}

static void *other_loop_main(void *arg) {
    many *m = arg;
    tsend ts[NSEND];
    cio_future *f[NSEND];
    for (int i = 0; i < NSEND; i++) {
        ts[i] = (tsend){m->ch, i + 1, NMSG / 10};
        f[i] = cio_create_task(task_sender, &ts[i]);
    }
    for (int i = 0; i < NSEND; i++) {
        assert_int_equal(cio_await(f[i], NULL), 0);
        cio_future_unref(f[i]);
    }
    cio_chan_close(m->ch);
    return NULL;
}

static void *other_loop_thread(void *arg) {
    run(other_loop_main, arg);
    return NULL;
}

static void *cross_loop_recv(void *arg) {
    cio_chan *ch = arg;
    int next[NSEND + 1] = {0};
    void *item;
    int r;
    while ((r = cio_chan_recv(ch, &item)) == 0) {
        int s = (int)((uintptr_t)item >> 32);
        assert_int_equal((int)((uintptr_t)item & 0xffffffffu), next[s]++);
        if (next[s] % 97 == 0)
            cio_sleep(0.0001); /* let the senders fill the channel and park */
    }
    assert_int_equal(r, CIO_ESHUTDOWN);
    for (int s = 1; s <= NSEND; s++)
        assert_int_equal(next[s], NMSG / 10);
    return NULL;
}

static void test_task_senders_other_loop(void **state) {
    (void)state;
    many m = {.ch = cio_chan_new(8)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_loop_thread, &m), 0);
    run(cross_loop_recv, m.ch);
    pthread_join(th, NULL);
    cio_chan_free(m.ch);
}

/* ---- a plain thread receives from tasks ---- */

static void *thread_receiver(void *arg) {
    return receive_all(arg);
}

static void *tasks_to_thread_main(void *arg) {
    cio_chan *ch = arg;
    per_sender = NMSG;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, thread_receiver, ch), 0);
    tsend ts[NSEND];
    cio_future *f[NSEND];
    for (int i = 0; i < NSEND; i++) {
        ts[i] = (tsend){ch, i + 1, NMSG};
        f[i] = cio_create_task(task_sender, &ts[i]);
    }
    for (int i = 0; i < NSEND; i++) {
        assert_int_equal(cio_await(f[i], NULL), 0);
        cio_future_unref(f[i]);
    }
    cio_chan_close(ch);
    /* Joining blocks the loop, but every sender is done. */
    void *n;
    pthread_join(th, &n);
    assert_int_equal((uintptr_t)n, (uintptr_t)NSEND * NMSG);
    return NULL;
}

static void test_thread_receiver(void **state) {
    (void)state;
    cio_chan *ch = cio_chan_new(16);
    run(tasks_to_thread_main, ch);
    cio_chan_free(ch);
}

/* ---- close, cancellation, bad input ---- */

static void *blocked_thread_sender(void *arg) {
    return (void *)(intptr_t)cio_chan_send(arg, ITEM(9, 9));
}

static void *recv_task(void *arg) {
    void *item = NULL;
    int r = cio_chan_recv(arg, &item);
    return r < 0 ? cio_fail(r) : item;
}

static void *send_one(void *arg) {
    int r = cio_chan_send(arg, ITEM(2, 0));
    return r < 0 ? cio_fail(r) : NULL;
}

static void *close_cancel_main(void *arg) {
    (void)arg;
    cio_chan *ch = cio_chan_new(1);
    /* A parked receiver is cancelled: -ECANCELED, and nothing is lost. */
    cio_future *f = cio_create_task(recv_task, ch);
    cio_yield();
    assert_true(cio_cancel(f));
    assert_int_equal(cio_await(f, NULL), -ECANCELED);
    cio_future_unref(f);
    assert_int_equal(cio_chan_send(ch, ITEM(1, 7)), 0);
    f = cio_create_task(recv_task, ch);
    void *item;
    assert_int_equal(cio_await(f, &item), 0);
    assert_ptr_equal(item, ITEM(1, 7));
    cio_future_unref(f);
    /* A task sender parked on a full channel is cancelled: its item is not queued. */
    assert_int_equal(cio_chan_send(ch, ITEM(1, 8)), 0);
    f = cio_create_task(send_one, ch);
    cio_yield();
    assert_true(cio_cancel(f));
    assert_int_equal(cio_await(f, NULL), -ECANCELED);
    cio_future_unref(f);
    assert_int_equal(cio_chan_len(ch), 1);
    /* A thread blocked on a full channel gets CIO_ESHUTDOWN at close. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocked_thread_sender, ch), 0);
    cio_sleep(0.02);
    cio_chan_close(ch);
    void *tr;
    pthread_join(th, &tr);
    assert_int_equal((intptr_t)tr, CIO_ESHUTDOWN);
    /* The receiver drains, then CIO_ESHUTDOWN; sends fail. */
    assert_int_equal(cio_chan_send(ch, ITEM(1, 9)), CIO_ESHUTDOWN);
    assert_int_equal(cio_chan_try_send(ch, ITEM(1, 9)), CIO_ESHUTDOWN);
    assert_int_equal(cio_chan_recv(ch, &item), 0);
    assert_ptr_equal(item, ITEM(1, 8));
    assert_int_equal(cio_chan_recv(ch, &item), CIO_ESHUTDOWN);
    assert_true(cio_chan_closed(ch));
    cio_chan_free(ch);
    return NULL;
}

static void test_close_and_cancel(void **state) {
    (void)state;
    run(close_cancel_main, NULL);
}

static int dropped;
static void drop_item(void *item) {
    free(item);
    dropped++;
}

static void *busy_main(void *arg) {
    cio_chan *ch = arg;
    cio_future *f = cio_create_task(recv_task, ch);
    cio_yield();
    void *item;
    assert_int_equal(cio_chan_recv(ch, &item), -EBUSY);
    assert_int_equal(cio_chan_try_recv(ch, &item), -EBUSY);
    cio_chan_close(ch);
    assert_int_equal(cio_await(f, NULL), CIO_ESHUTDOWN);
    cio_future_unref(f);
    return NULL;
}

static void test_bad_input(void **state) {
    (void)state;
    void *item;
    assert_int_equal(cio_chan_send(NULL, NULL), -EINVAL);
    assert_int_equal(cio_chan_try_send(NULL, NULL), -EINVAL);
    assert_int_equal(cio_chan_recv(NULL, &item), -EINVAL);
    assert_int_equal(cio_chan_try_recv(NULL, &item), -EINVAL);
    cio_chan_close(NULL);
    cio_chan_free(NULL);
    cio_chan *ch = cio_chan_new(0);
    assert_int_equal(cio_chan_recv(ch, NULL), -EINVAL);
    assert_int_equal(cio_chan_try_recv(ch, &item), -EAGAIN);
    run(busy_main, ch);
    cio_chan_free(ch);
    /* Items left queued are dropped at free. */
    ch = cio_chan_new(4);
    cio_chan_set_drop(ch, drop_item);
    dropped = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(cio_chan_try_send(ch, malloc(8)), 0);
    assert_int_equal(cio_chan_try_send(ch, malloc(1)) == 0, 1);
    assert_int_equal(cio_chan_try_send(ch, NULL), -EAGAIN);
    cio_chan_free(ch);
    assert_int_equal(dropped, 4);
}

/* ---- broadcast ---- */

typedef struct bc {
    cio_bcast *b;
    cio_bcast_rx *rx;
    int got;
} bc;

static void *bcast_reader(void *arg) {
    bc *c = arg;
    void *item;
    int r;
    while ((r = cio_bcast_recv(c->rx, &item, NULL)) == 0)
        assert_int_equal((intptr_t)item, c->got++);
    assert_int_equal(r, CIO_ESHUTDOWN);
    return NULL;
}

static void *bcast_thread_sender(void *arg) {
    cio_bcast *b = arg;
    for (intptr_t i = 0; i < 1000; i++) /* within capacity: nobody lags */
        assert_int_equal(cio_bcast_send(b, (void *)i), 3);
    cio_bcast_close(b);
    return NULL;
}

static void *bcast_main(void *arg) {
    (void)arg;
    /* Lag: capacity 4, ten sent before the receiver reads. */
    cio_bcast *b = cio_bcast_new(4);
    cio_bcast_rx *rx = cio_bcast_subscribe(b);
    for (intptr_t i = 0; i < 10; i++)
        assert_int_equal(cio_bcast_send(b, (void *)i), 1);
    void *item;
    uint64_t lag = 0;
    assert_int_equal(cio_bcast_recv(rx, &item, &lag), CIO_ELAGGED);
    assert_int_equal(lag, 6);
    for (intptr_t i = 6; i < 10; i++) {
        assert_int_equal(cio_bcast_recv(rx, &item, &lag), 0);
        assert_int_equal((intptr_t)item, i);
    }
    assert_int_equal(cio_bcast_try_recv(rx, &item, &lag), -EAGAIN);
    cio_bcast_rx *late = cio_bcast_subscribe(b);
    assert_int_equal(cio_bcast_try_recv(late, &item, NULL), -EAGAIN);
    cio_bcast_close(b);
    assert_int_equal(cio_bcast_send(b, NULL), CIO_ESHUTDOWN);
    assert_int_equal(cio_bcast_recv(rx, &item, NULL), CIO_ESHUTDOWN);
    cio_bcast_free(b); /* memory goes with the last receiver */
    cio_bcast_rx_free(rx);
    cio_bcast_rx_free(late);

    /* Three task readers, a thread sender, capacity big enough for all. */
    b = cio_bcast_new(1000);
    bc c[3];
    cio_future *f[3];
    for (int i = 0; i < 3; i++) {
        c[i] = (bc){.b = b, .rx = cio_bcast_subscribe(b)};
        f[i] = cio_create_task(bcast_reader, &c[i]);
    }
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bcast_thread_sender, b), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cio_await(f[i], NULL), 0);
        cio_future_unref(f[i]);
        assert_int_equal(c[i].got, 1000);
        cio_bcast_rx_free(c[i].rx);
    }
    pthread_join(th, NULL);
    cio_bcast_free(b);
    assert_null(cio_bcast_new(0));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(cio_bcast_recv(NULL, &item, NULL), -EINVAL);
    assert_int_equal(cio_bcast_send(NULL, NULL), -EINVAL);
    return NULL;
}

static void test_broadcast(void **state) {
    (void)state;
    run(bcast_main, NULL);
}

/* ---- latest value ---- */

static void *latest_setter(void *arg) {
    for (intptr_t i = 1; i <= 10000; i++)
        assert_int_equal(cio_latest_set(arg, (void *)i), 0);
    cio_latest_close(arg);
    return NULL;
}

static void *latest_main(void *arg) {
    (void)arg;
    cio_latest *w = cio_latest_new((void *)0);
    uint64_t seen;
    assert_null(cio_latest_get(w, &seen));
    assert_int_equal(seen, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, latest_setter, w), 0);
    intptr_t last = 0;
    uint64_t prev = 0;
    void *v;
    int r, changes = 0;
    while ((r = cio_latest_changed(w, &seen, &v)) == 0) {
        assert_true(seen > prev);                      /* never the same version twice */
        assert_true((intptr_t)v > last);               /* values only move forward */
        assert_int_equal((intptr_t)v, (intptr_t)seen); /* value and version agree */
        prev = seen;
        last = (intptr_t)v;
        changes++;
    }
    assert_int_equal(r, CIO_ESHUTDOWN);
    assert_int_equal(last, 10000); /* the newest value is never missed */
    assert_true(changes >= 1 && changes <= 10000);
    pthread_join(th, NULL);
    assert_int_equal(cio_latest_set(w, NULL), CIO_ESHUTDOWN);
    assert_int_equal(cio_latest_changed(NULL, &seen, NULL), -EINVAL);
    assert_int_equal(cio_latest_changed(w, NULL, NULL), -EINVAL);
    cio_latest_free(w);
    return NULL;
}

static void test_latest(void **state) {
    (void)state;
    run(latest_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_bounded),
        cmocka_unit_test(test_threads_unbounded),
        cmocka_unit_test(test_threads_capacity_one),
        cmocka_unit_test(test_task_senders_same_loop),
        cmocka_unit_test(test_task_senders_other_loop),
        cmocka_unit_test(test_thread_receiver),
        cmocka_unit_test(test_close_and_cancel),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_latest),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
