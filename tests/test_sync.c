/* Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier: behaviour,
 * FIFO fairness, and the cancellation races asyncio has had bugs in. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void run(cio_fn fn, void *arg) {
    void *res = NULL;
    assert_int_equal(cio_run(fn, arg, &res), 0);
}

static cio_future *spawn(cio_fn fn, void *arg) {
    cio_future *t = cio_create_task(fn, arg);
    assert_non_null(t);
    return t;
}

static void await_all(cio_future **ts, size_t n) {
    for (size_t i = 0; i < n; i++) {
        cio_await(ts[i], NULL);
        cio_future_unref(ts[i]);
    }
}

/* ---- lock ---- */

/* TSan models each task as a fiber and dies past 8,128 of them at once. */
#if defined(__SANITIZE_THREAD__)
enum { NLOCK = 5000 };
#else
enum { NLOCK = 10000 };
#endif

typedef struct lock_fifo {
    cio_lock *lock;
    int order[NLOCK];
    int n;
    int held; /* proves mutual exclusion */
} lock_fifo;

typedef struct slot {
    lock_fifo *s;
    int i;
} slot;

static void *lock_worker(void *arg) {
    slot *sl = arg;
    lock_fifo *s = sl->s;
    assert_int_equal(cio_lock_acquire(s->lock), 0);
    assert_int_equal(s->held++, 0);
    s->order[s->n++] = sl->i;
    cio_yield(); /* hold it across a suspension */
    s->held--;
    assert_int_equal(cio_lock_release(s->lock), 0);
    return NULL;
}

static void *lock_fifo_main(void *arg) {
    lock_fifo *s = arg;
    s->lock = cio_lock_new();
    assert_int_equal(cio_lock_acquire(s->lock), 0);
    slot *slots = calloc(NLOCK, sizeof *slots);
    cio_future **ts = calloc(NLOCK, sizeof *ts);
    for (int i = 0; i < NLOCK; i++) {
        slots[i] = (slot){s, i};
        ts[i] = spawn(lock_worker, &slots[i]);
    }
    cio_yield(); /* every worker queues on the lock, in creation order */
    assert_int_equal(cio_lock_release(s->lock), 0);
    /* A release-then-acquire cannot barge past the waiters. */
    assert_int_equal(cio_lock_acquire(s->lock), 0);
    assert_int_equal(s->n, NLOCK);
    assert_int_equal(cio_lock_release(s->lock), 0);
    await_all(ts, NLOCK);
    assert_false(cio_lock_locked(s->lock));
    assert_int_equal(cio_lock_release(s->lock), -EPERM);
    cio_lock_free(s->lock);
    free(slots);
    free(ts);
    return NULL;
}

static void test_lock_10000_fifo(void **state) {
    (void)state;
    lock_fifo *s = calloc(1, sizeof *s);
    run(lock_fifo_main, s);
    for (int i = 0; i < NLOCK; i++)
        assert_int_equal(s->order[i], i);
    free(s);
}

static void *lock_cancel_waiter(void *arg) {
    return (void *)(intptr_t)cio_lock_acquire(arg);
}

static void *lock_cancel_main(void *arg) {
    (void)arg;
    cio_lock *l = cio_lock_new();
    cio_lock_acquire(l);
    cio_future *a = spawn(lock_cancel_waiter, l), *b = spawn(lock_cancel_waiter, l);
    cio_yield();
    cio_cancel(a); /* cancelled while waiting: b is next */
    cio_yield();
    assert_int_equal(cio_lock_release(l), 0);
    void *ra, *rb;
    cio_await(b, &rb);
    assert_int_equal((intptr_t)rb, 0);
    cio_await(a, &ra);
    assert_int_equal((intptr_t)ra, -ECANCELED);
    assert_true(cio_lock_locked(l)); /* b holds it */
    assert_int_equal(cio_lock_release(l), 0);
    cio_future_unref(a);
    cio_future_unref(b);
    cio_lock_free(l);
    return NULL;
}

static void test_lock_cancelled_waiter(void **state) {
    (void)state;
    run(lock_cancel_main, NULL);
}

/* ---- semaphore ---- */

typedef struct sem_race {
    cio_semaphore *s;
    char log[64];
} sem_race;

static void logc(sem_race *r, char c) {
    size_t n = strlen(r->log);
    r->log[n] = c;
    r->log[n + 1] = 0;
}

static void *sem_b(void *arg) {
    sem_race *r = arg;
    int a = cio_semaphore_acquire(r->s);
    logc(r, a == 0 ? 'B' : 'x'); /* woken with the permit: it keeps it */
    int y = cio_yield();         /* the cancellation arrives here */
    logc(r, y == -ECANCELED ? 'c' : 'y');
    cio_semaphore_release(r->s);
    return cio_fail(-ECANCELED);
}

static void *sem_c(void *arg) {
    sem_race *r = arg;
    assert_int_equal(cio_semaphore_acquire(r->s), 0);
    logc(r, 'C');
    cio_semaphore_release(r->s);
    return NULL;
}

static void *sem_race_main(void *arg) {
    sem_race *r = arg;
    r->s = cio_semaphore_new(1);
    assert_int_equal(cio_semaphore_acquire(r->s), 0);
    assert_true(cio_semaphore_locked(r->s));
    cio_future *b = spawn(sem_b, r), *c = spawn(sem_c, r);
    cio_yield();
    cio_semaphore_release(r->s); /* wakes b */
    cio_cancel(b);               /* ... which is cancelled before it runs */
    cio_future *both[] = {b, c};
    assert_int_equal(cio_gather(both, 2, CIO_RETURN_EXCEPTIONS), 0);
    assert_true(cio_future_cancelled(b));
    assert_int_equal(cio_semaphore_value(r->s), 1);
    cio_future_unref(b);
    cio_future_unref(c);
    cio_semaphore_free(r->s);
    return NULL;
}

static void test_semaphore_cancel_after_wake(void **state) {
    (void)state;
    sem_race r = {0};
    run(sem_race_main, &r);
    assert_string_equal(r.log, "BcC"); /* nothing swallowed, C not starved */
}

typedef struct sem_conc {
    cio_semaphore *s;
    int running, peak, done;
} sem_conc;

static void *sem_job(void *arg) {
    sem_conc *c = arg;
    assert_int_equal(cio_semaphore_acquire(c->s), 0);
    if (++c->running > c->peak)
        c->peak = c->running;
    cio_sleep(0.001);
    c->running--;
    c->done++;
    cio_semaphore_release(c->s);
    return NULL;
}

static void *sem_conc_main(void *arg) {
    sem_conc *c = arg;
    c->s = cio_semaphore_new(4);
    cio_future *ts[40];
    for (int i = 0; i < 40; i++)
        ts[i] = spawn(sem_job, c);
    await_all(ts, 40);
    assert_int_equal(cio_semaphore_value(c->s), 4);
    cio_semaphore_release(c->s); /* a plain semaphore may go above */
    assert_int_equal(cio_semaphore_value(c->s), 5);
    cio_semaphore_free(c->s);
    return NULL;
}

static void test_semaphore_limits_concurrency(void **state) {
    (void)state;
    sem_conc c = {0};
    run(sem_conc_main, &c);
    assert_int_equal(c.peak, 4);
    assert_int_equal(c.done, 40);
}

static void *bounded_main(void *arg) {
    (void)arg;
    cio_bounded_semaphore *b = cio_bounded_semaphore_new(2);
    assert_int_equal(cio_bounded_semaphore_release(b), -EOVERFLOW);
    assert_int_equal(cio_bounded_semaphore_acquire(b), 0);
    assert_int_equal(cio_bounded_semaphore_value(b), 1);
    assert_int_equal(cio_bounded_semaphore_release(b), 0);
    assert_int_equal(cio_bounded_semaphore_release(b), -EOVERFLOW);
    assert_int_equal(cio_bounded_semaphore_value(b), 2);
    assert_false(cio_bounded_semaphore_locked(b));
    cio_bounded_semaphore_free(b);
    return NULL;
}

static void test_bounded_semaphore(void **state) {
    (void)state;
    run(bounded_main, NULL);
    /* Outside a task nothing that would wait is allowed. */
    cio_semaphore *s = cio_semaphore_new(0);
    assert_int_equal(cio_semaphore_acquire(s), -EPERM);
    cio_semaphore_free(s);
    assert_int_equal(cio_semaphore_acquire(NULL), -EINVAL);
}

/* ---- event ---- */

typedef struct ev {
    cio_event *e;
    int woken;
} ev;

static void *ev_waiter(void *arg) {
    ev *x = arg;
    assert_int_equal(cio_event_wait(x->e), 0);
    x->woken++;
    return NULL;
}

static void *event_main(void *arg) {
    ev *x = arg;
    x->e = cio_event_new();
    cio_future *ts[5];
    for (int i = 0; i < 5; i++)
        ts[i] = spawn(ev_waiter, x);
    cio_yield();
    assert_int_equal(x->woken, 0);
    cio_event_set(x->e);
    cio_event_clear(x->e); /* waiters already woken stay woken */
    await_all(ts, 5);
    assert_int_equal(x->woken, 5);
    assert_false(cio_event_is_set(x->e));
    cio_event_set(x->e);
    assert_int_equal(cio_event_wait(x->e), 0); /* set: no wait */
    cio_event_free(x->e);
    return NULL;
}

static void test_event(void **state) {
    (void)state;
    ev x = {0};
    run(event_main, &x);
}

static void *ev_free_waiter(void *arg) {
    return (void *)(intptr_t)cio_event_wait(arg);
}

static void *event_free_main(void *arg) {
    (void)arg;
    cio_event *e = cio_event_new();
    cio_future *t = spawn(ev_free_waiter, e);
    cio_yield();
    cio_event_free(e); /* a waiter is not left hanging */
    void *r;
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal((intptr_t)r, CIO_ESHUTDOWN);
    cio_future_unref(t);
    return NULL;
}

static void test_free_wakes_waiters(void **state) {
    (void)state;
    run(event_free_main, NULL);
}

/* ---- condition ---- */

typedef struct cond {
    cio_condition *c;
    int items;
    int consumed;
    char order[16];
} cond;

static bool have_items(void *arg) {
    return ((cond *)arg)->items > 0;
}

typedef struct cslot {
    cond *s;
    char name;
} cslot;

static void *consumer(void *arg) {
    cslot *sl = arg;
    cond *s = sl->s;
    assert_int_equal(cio_condition_acquire(s->c), 0);
    assert_int_equal(cio_condition_wait_for(s->c, have_items, s), 0);
    assert_true(cio_condition_locked(s->c));
    s->items--;
    s->consumed++;
    size_t n = strlen(s->order);
    s->order[n] = sl->name;
    assert_int_equal(cio_condition_release(s->c), 0);
    return NULL;
}

static void *cond_main(void *arg) {
    cond *s = arg;
    s->c = cio_condition_new(NULL);
    assert_int_equal(cio_condition_wait(s->c), -EPERM); /* needs the lock */
    assert_int_equal(cio_condition_notify(s->c, 1), -EPERM);
    cslot sl[3] = {{s, 'a'}, {s, 'b'}, {s, 'c'}};
    cio_future *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = spawn(consumer, &sl[i]);
    cio_yield();
    cio_condition_acquire(s->c);
    s->items = 1;
    assert_int_equal(cio_condition_notify(s->c, 1), 1);
    cio_condition_release(s->c);
    cio_sleep(0.01);
    assert_int_equal(s->consumed, 1);
    cio_condition_acquire(s->c);
    s->items = 2;
    assert_int_equal(cio_condition_notify_all(s->c), 2);
    cio_condition_release(s->c);
    await_all(ts, 3);
    assert_string_equal(s->order, "abc");
    cio_condition_free(s->c);
    return NULL;
}

static void test_condition(void **state) {
    (void)state;
    cond s = {0};
    run(cond_main, &s);
}

static void *cond_waiter(void *arg) {
    cond *s = arg;
    cio_condition_acquire(s->c);
    int r = cio_condition_wait(s->c);
    assert_true(cio_condition_locked(s->c)); /* held again, whatever happened */
    if (r == 0)
        s->consumed++;
    cio_condition_release(s->c);
    return (void *)(intptr_t)r;
}

/* A notified waiter cancelled while it re-acquires the lock passes the
 * notification on instead of swallowing it. */
static void *cond_cancel_main(void *arg) {
    cond *s = arg;
    s->c = cio_condition_new(NULL);
    cio_future *a = spawn(cond_waiter, s), *b = spawn(cond_waiter, s);
    cio_yield();
    cio_condition_acquire(s->c);
    cio_condition_notify(s->c, 1); /* a is notified ... */
    cio_yield();
    cio_cancel(a); /* ... and cancelled while waiting for the lock */
    cio_yield();
    cio_condition_release(s->c);
    void *ra, *rb;
    cio_await(a, &ra);
    cio_await(b, &rb);
    assert_int_equal((intptr_t)ra, -ECANCELED);
    assert_int_equal((intptr_t)rb, 0);
    assert_int_equal(s->consumed, 1);
    cio_future_unref(a);
    cio_future_unref(b);
    cio_condition_free(s->c);
    return NULL;
}

static void test_condition_cancel_passes_notification(void **state) {
    (void)state;
    cond s = {0};
    run(cond_cancel_main, &s);
}

/* ---- barrier ---- */

typedef struct bar {
    cio_barrier *b;
    int seen[8];
    int broken;
} bar;

static void *bar_worker(void *arg) {
    bar *x = arg;
    for (int round = 0; round < 2; round++) {
        int r = cio_barrier_wait(x->b);
        if (r == CIO_EBROKEN)
            x->broken++;
        if (r < 0)
            return (void *)(intptr_t)r;
        assert_true(r >= 0 && r < 3);
        x->seen[round * 3 + r]++;
    }
    return NULL;
}

static void *barrier_main(void *arg) {
    bar *x = arg;
    x->b = cio_barrier_new(3);
    assert_null(cio_barrier_new(0));
    cio_future *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = spawn(bar_worker, x);
    await_all(ts, 3);
    for (int i = 0; i < 6; i++)
        assert_int_equal(x->seen[i], 1); /* each index once per round */
    assert_int_equal(cio_barrier_n_waiting(x->b), 0);

    /* abort breaks the waiters and later arrivals until reset */
    ts[0] = spawn(bar_worker, x);
    ts[1] = spawn(bar_worker, x);
    cio_yield();
    assert_int_equal(cio_barrier_n_waiting(x->b), 2);
    cio_barrier_abort(x->b);
    await_all(ts, 2);
    assert_int_equal(x->broken, 2);
    assert_int_equal(cio_barrier_wait(x->b), CIO_EBROKEN);
    cio_barrier_reset(x->b);
    assert_false(cio_barrier_broken(x->b));

    /* a waiter cancelled mid-round breaks the round for the others */
    ts[0] = spawn(bar_worker, x);
    ts[1] = spawn(bar_worker, x);
    cio_yield();
    cio_cancel(ts[0]);
    void *r0;
    cio_await(ts[0], &r0);
    assert_int_equal((intptr_t)r0, -ECANCELED);
    await_all(ts, 2);
    assert_int_equal(x->broken, 3);
    assert_true(cio_barrier_broken(x->b));
    cio_barrier_free(x->b);
    return NULL;
}

static void test_barrier(void **state) {
    (void)state;
    bar x = {0};
    run(barrier_main, &x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_10000_fifo),
        cmocka_unit_test(test_lock_cancelled_waiter),
        cmocka_unit_test(test_semaphore_cancel_after_wake),
        cmocka_unit_test(test_semaphore_limits_concurrency),
        cmocka_unit_test(test_bounded_semaphore),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_free_wakes_waiters),
        cmocka_unit_test(test_condition),
        cmocka_unit_test(test_condition_cancel_passes_notification),
        cmocka_unit_test(test_barrier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
