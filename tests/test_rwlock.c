/* RwLock: shared readers, exclusive writers, phase fairness (no writer
 * starvation under a stream of readers, readers admitted in a batch after a
 * writer), cancellation of a queued writer, bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <string.h>

static void run(cio_fn fn, void *arg) {
    void *res = NULL;
    assert_int_equal(cio_run(fn, arg, &res), 0);
}

typedef struct st {
    cio_rwlock *l;
    char log[64];
    int n;
    int readers, writers, max_readers;
} st;

static void note(st *s, char c) {
    s->log[s->n++] = c;
}

/* Holds across many suspensions: longer than every arrival takes (the main
 * task spawns one per yield), counted in loop iterations, not in time. */
static void hold(void) {
    for (int i = 0; i < 50; i++)
        cio_yield();
}

static void *reader(void *arg) {
    st *s = arg;
    assert_int_equal(cio_rwlock_read_acquire(s->l), 0);
    assert_int_equal(s->writers, 0);
    s->readers++;
    if (s->readers > s->max_readers)
        s->max_readers = s->readers;
    note(s, 'r');
    hold();
    s->readers--;
    assert_int_equal(cio_rwlock_read_release(s->l), 0);
    return NULL;
}

static void *writer(void *arg) {
    st *s = arg;
    assert_int_equal(cio_rwlock_write_acquire(s->l), 0);
    assert_int_equal(s->readers, 0);
    assert_int_equal(s->writers++, 0);
    note(s, 'W');
    hold();
    s->writers--;
    assert_int_equal(cio_rwlock_write_release(s->l), 0);
    return NULL;
}

static void spawn_all(cio_future **f, int *nf, st *s, const char *pattern) {
    for (const char *p = pattern; *p; p++) {
        f[(*nf)++] = cio_create_task(*p == 'r' ? reader : writer, s);
        cio_yield(); /* they arrive in this order */
    }
}

static void join(cio_future **f, int n) {
    for (int i = 0; i < n; i++) {
        assert_int_equal(cio_await(f[i], NULL), 0);
        cio_future_unref(f[i]);
    }
}

/* Readers share; a writer arriving behind two readers holds back the readers
 * that come after it (no starvation), and those go in together after it. */
static void *fairness_main(void *arg) {
    st *s = arg;
    cio_future *f[16];
    int n = 0;
    spawn_all(f, &n, s, "rrWrrrW");
    join(f, n);
    note(s, 0);
    assert_string_equal(s->log, "rrWrrrW");
    assert_int_equal(s->max_readers, 3);
    return NULL;
}

static void test_fairness(void **state) {
    (void)state;
    st s = {.l = cio_rwlock_new()};
    run(fairness_main, &s);
    assert_int_equal(cio_rwlock_readers(s.l), 0);
    assert_false(cio_rwlock_write_locked(s.l));
    cio_rwlock_free(s.l);
}

/* Writers back to back do not starve readers queued between them. */
static void *writers_main(void *arg) {
    st *s = arg;
    cio_future *f[16];
    int n = 0;
    spawn_all(f, &n, s, "WWrrWr");
    join(f, n);
    note(s, 0);
    /* W1 holds; W2, r, r, W3, r queue. W1's release admits the three
     * readers queued meanwhile as one batch, then the writers go in turn. */
    assert_string_equal(s->log, "WrrrWW");
    return NULL;
}

static void test_writers_do_not_starve_readers(void **state) {
    (void)state;
    st s = {.l = cio_rwlock_new()};
    run(writers_main, &s);
    cio_rwlock_free(s.l);
}

static void *try_writer(void *arg) {
    st *s = arg;
    int r = cio_rwlock_write_acquire(s->l);
    return r < 0 ? cio_fail(r) : NULL;
}

static void *cancel_main(void *arg) {
    st *s = arg;
    assert_int_equal(cio_rwlock_read_acquire(s->l), 0);
    cio_future *w = cio_create_task(try_writer, s);
    cio_yield();
    cio_future *r = cio_create_task(reader, s);
    cio_yield();
    assert_int_equal(cio_rwlock_readers(s->l), 1); /* the reader queues behind the writer */
    assert_true(cio_cancel(w));
    assert_int_equal(cio_await(w, NULL), -ECANCELED);
    cio_future_unref(w);
    cio_yield();
    /* With the writer gone the queued reader went in. */
    assert_int_equal(cio_rwlock_readers(s->l), 2);
    assert_int_equal(cio_rwlock_read_release(s->l), 0);
    assert_int_equal(cio_await(r, NULL), 0);
    cio_future_unref(r);
    assert_int_equal(cio_rwlock_read_release(s->l), -EPERM);
    assert_int_equal(cio_rwlock_write_release(s->l), -EPERM);
    return NULL;
}

static void test_cancel_queued_writer(void **state) {
    (void)state;
    st s = {.l = cio_rwlock_new()};
    run(cancel_main, &s);
    cio_rwlock_free(s.l);
}

static void *report_reader(void *arg) {
    int r = cio_rwlock_read_acquire(arg);
    return (void *)(intptr_t)r;
}

static void *free2_main(void *arg) {
    (void)arg;
    cio_rwlock *l = cio_rwlock_new();
    assert_int_equal(cio_rwlock_write_acquire(l), 0);
    cio_future *r = cio_create_task(report_reader, l);
    cio_yield();
    cio_rwlock_free(l);
    void *v;
    assert_int_equal(cio_await(r, &v), 0);
    assert_int_equal((intptr_t)v, CIO_ESHUTDOWN);
    cio_future_unref(r);
    return NULL;
}

static void test_bad_input_and_free(void **state) {
    (void)state;
    assert_int_equal(cio_rwlock_read_acquire(NULL), -EINVAL);
    assert_int_equal(cio_rwlock_write_acquire(NULL), -EINVAL);
    assert_int_equal(cio_rwlock_read_release(NULL), -EINVAL);
    assert_int_equal(cio_rwlock_write_release(NULL), -EINVAL);
    cio_rwlock_free(NULL);
    /* Outside a task: fine while it need not wait, -EPERM when it must. */
    cio_rwlock *l = cio_rwlock_new();
    assert_int_equal(cio_rwlock_read_acquire(l), 0);
    assert_int_equal(cio_rwlock_write_acquire(l), -EPERM);
    assert_int_equal(cio_rwlock_read_release(l), 0);
    assert_int_equal(cio_rwlock_write_acquire(l), 0);
    assert_int_equal(cio_rwlock_read_acquire(l), -EPERM);
    cio_rwlock_free(l);
    run(free2_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fairness),
        cmocka_unit_test(test_writers_do_not_starve_readers),
        cmocka_unit_test(test_cancel_queued_writer),
        cmocka_unit_test(test_bad_input_and_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
