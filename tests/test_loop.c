/* The loop: callbacks, timers, running and stopping, cross-thread calls,
 * and a clean error where io_uring is unavailable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "no_io_uring.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- call_soon ---- */

typedef struct order {
    int seen[64];
    int n;
} order;

typedef struct step {
    order *o;
    int id;
} step;

static void record(void *arg) {
    step *s = arg;
    s->o->seen[s->o->n++] = s->id;
}

static void test_call_soon_fifo(void **state) {
    (void)state;
    cio_loop *loop = cio_loop_new(NULL);
    assert_non_null(loop);
    order o = {0};
    step steps[10];
    for (int i = 0; i < 10; i++) {
        steps[i] = (step){&o, i};
        assert_non_null(cio_loop_call_soon(loop, record, &steps[i]).p);
    }
    cio_loop_stop(loop);
    assert_int_equal(cio_loop_run_forever(loop), 0);
    assert_int_equal(o.n, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(o.seen[i], i);
    assert_int_equal(cio_loop_close(loop), 0);
}

static void test_handle_cancel(void **state) {
    (void)state;
    cio_loop *loop = cio_loop_new(NULL);
    order o = {0};
    step a = {&o, 1}, b = {&o, 2}, c = {&o, 3};
    cio_handle ha = cio_loop_call_soon(loop, record, &a);
    cio_handle hb = cio_loop_call_soon(loop, record, &b);
    cio_handle hc = cio_loop_call_at(loop, cio_loop_time(loop) - 1, record, &c);
    assert_true(cio_handle_cancel(hb));
    assert_false(cio_handle_cancel(hb)); /* twice: a no-op */
    cio_loop_stop(loop);
    cio_loop_run_forever(loop);
    cio_loop_stop(loop);
    cio_loop_run_forever(loop);
    assert_int_equal(o.n, 2);
    assert_int_equal(o.seen[0], 1);
    assert_int_equal(o.seen[1], 3);
    /* After they ran: false, and nothing breaks. */
    assert_false(cio_handle_cancel(ha));
    assert_false(cio_handle_cancel(hc));
    /* A recycled record must not be cancelled through an old handle. */
    step d = {&o, 4};
    cio_handle hd = cio_loop_call_soon(loop, record, &d);
    assert_false(cio_handle_cancel(ha));
    cio_loop_stop(loop);
    cio_loop_run_forever(loop);
    assert_int_equal(o.n, 3);
    assert_false(cio_handle_cancel(hd));
    cio_loop_close(loop);
}

/* Callbacks scheduled by a callback run in the next iteration, after stop. */
static void chain(void *arg) {
    int *n = arg;
    if (++*n < 5)
        cio_call_soon(chain, n);
}

static void stopper(void *arg) {
    cio_loop_stop(arg);
}

static void test_stop_finishes_batch(void **state) {
    (void)state;
    cio_loop *loop = cio_loop_new(NULL);
    int n = 0;
    cio_loop_call_soon(loop, chain, &n);
    cio_loop_call_soon(loop, stopper, loop);
    cio_loop_run_forever(loop);
    assert_int_equal(n, 1);
    cio_loop_stop(loop);
    cio_loop_run_forever(loop);
    assert_int_equal(n, 2);
    /* A future of the loop keeps its memory valid after close: closing again
     * is a no-op and running a closed loop is an error. */
    cio_future *f = cio_loop_future_new(loop);
    assert_int_equal(cio_loop_close(loop), 0);
    assert_int_equal(cio_loop_close(loop), 0);
    assert_int_equal(cio_loop_run_forever(loop), -ESHUTDOWN);
    assert_true(cio_cancel(f));
    cio_future_unref(f);
}

/* ---- timers ---- */

typedef struct timer_log {
    double when[8];
    int n;
    cio_loop *loop;
} timer_log;

static void timer_fired(void *arg) {
    timer_log *l = arg;
    l->when[l->n++] = cio_loop_time(l->loop);
    if (l->n == 3)
        cio_loop_stop(l->loop);
}

static void test_call_later_order(void **state) {
    (void)state;
    cio_loop *loop = cio_loop_new(NULL);
    timer_log l = {.loop = loop};
    double t0 = cio_loop_time(loop);
    cio_loop_call_at(loop, t0 + 0.06, timer_fired, &l);
    cio_loop_call_at(loop, t0 + 0.02, timer_fired, &l);
    cio_handle x = cio_loop_call_at(loop, t0 + 0.01, timer_fired, &l);
    cio_loop_call_at(loop, t0 + 0.04, timer_fired, &l);
    assert_true(cio_handle_cancel(x));
    cio_loop_run_forever(loop);
    assert_int_equal(l.n, 3);
    assert_true(l.when[0] >= t0 + 0.02 - 1e-3);
    assert_true(l.when[1] >= t0 + 0.04 - 1e-3);
    assert_true(l.when[2] >= t0 + 0.06 - 1e-3);
    assert_true(l.when[0] <= l.when[1] && l.when[1] <= l.when[2]);
    cio_loop_close(loop);
}

/* The explicit-loop twin of cio_call_later, without a running loop. */
static void test_loop_call_later(void **state) {
    (void)state;
    cio_loop *loop = cio_loop_new(NULL);
    timer_log l = {.loop = loop};
    double t0 = cio_loop_time(loop);
    cio_loop_call_later(loop, 0.03, timer_fired, &l);
    cio_loop_call_later(loop, 0.01, timer_fired, &l);
    cio_handle x = cio_loop_call_later(loop, 0.005, timer_fired, &l);
    cio_loop_call_later(loop, 0.02, timer_fired, &l);
    assert_true(cio_handle_cancel(x));
    assert_null(cio_loop_call_later(loop, NAN, timer_fired, &l).p);
    assert_null(cio_loop_call_later(NULL, 0.01, timer_fired, &l).p);
    cio_loop_run_forever(loop);
    assert_int_equal(l.n, 3);
    assert_true(l.when[0] >= t0 + 0.01 - 1e-3);
    assert_true(l.when[2] >= t0 + 0.03 - 1e-3);
    assert_true(l.when[0] <= l.when[1] && l.when[1] <= l.when[2]);
    cio_loop_close(loop);
}

typedef struct many {
    long fired;
    long expected;
    cio_loop *loop;
} many;

static void count_fire(void *arg) {
    many *m = arg;
    if (++m->fired == m->expected)
        cio_loop_stop(m->loop);
}

/* A million pending timers, a tenth cancelled: the others all fire. */
static void test_million_timers(void **state) {
    (void)state;
    cio_loop *loop = cio_loop_new(NULL);
    many m = {.loop = loop};
    double t0 = cio_loop_time(loop);
    for (long i = 0; i < 1000000; i++) {
        cio_handle h = cio_loop_call_at(loop, t0 + (double)(i % 100) * 1e-3, count_fire, &m);
        assert_non_null(h.p);
        if (i % 10 == 3)
            assert_true(cio_handle_cancel(h));
        else
            m.expected++;
    }
    assert_int_equal(cio_loop_run_forever(loop), 0);
    assert_int_equal(m.fired, m.expected);
    assert_int_equal(m.expected, 900000);
    cio_loop_close(loop);
}

/* ---- call_soon_threadsafe ---- */

#define THREADS 4
#define CALLS 50000

typedef struct xthread {
    cio_loop *loop;
    long count;
    long target;
} xthread;

static void bump(void *arg) {
    xthread *x = arg;
    if (++x->count == x->target)
        cio_loop_stop(x->loop);
}

static void *producer(void *arg) {
    xthread *x = arg;
    for (int i = 0; i < CALLS; i++)
        while (cio_call_soon_threadsafe(x->loop, bump, x) == -ENOMEM)
            ;
    return NULL;
}

static void test_threadsafe_from_four_threads(void **state) {
    (void)state;
    cio_loop *loop = cio_loop_new(NULL);
    xthread x = {.loop = loop, .target = (long)THREADS * CALLS};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, producer, &x), 0);
    assert_int_equal(cio_loop_run_forever(loop), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(x.count, x.target);
    cio_future *keep = cio_loop_future_new(loop); /* keeps the struct, as executors do */
    cio_loop_close(loop);
    assert_int_equal(cio_call_soon_threadsafe(loop, bump, &x), -ESHUTDOWN);
    cio_future_unref(keep);
}

/* ---- cio_run ---- */

static void *returns_arg(void *arg) {
    return arg;
}

static void *nested_run(void *arg) {
    (void)arg;
    return (void *)(intptr_t)cio_run(returns_arg, NULL, NULL);
}

static void test_run_result_and_nesting(void **state) {
    (void)state;
    void *r = NULL;
    assert_int_equal(cio_run(returns_arg, (void *)77, &r), 0);
    assert_ptr_equal(r, (void *)77);
    assert_int_equal(cio_run(nested_run, NULL, &r), 0);
    assert_int_equal((intptr_t)r, -EBUSY);
    assert_null(cio_get_running_loop());
    assert_int_equal(cio_run(NULL, NULL, NULL), -EINVAL);
}

static void *fails(void *arg) {
    (void)arg;
    return cio_fail(-EIO);
}

static void *forever(void *arg) {
    int *cancelled = arg;
    if (cio_sleep(3600) == -ECANCELED)
        ++*cancelled;
    return NULL;
}

static void *leaves_children(void *arg) {
    for (int i = 0; i < 3; i++)
        cio_future_unref(cio_create_task(forever, arg));
    cio_yield();
    return NULL;
}

static void test_run_error_and_leftovers(void **state) {
    (void)state;
    assert_int_equal(cio_run(fails, NULL, NULL), -EIO);
    int cancelled = 0;
    assert_int_equal(cio_run(leaves_children, &cancelled, NULL), 0);
    assert_int_equal(cancelled, 3);
}

static void *raise_sigint(void *arg) {
    (void)arg;
    kill(getpid(), SIGINT);
    cio_sleep(10);
    return cio_fail(-ECANCELED);
}

static void test_run_sigint(void **state) {
    (void)state;
    assert_int_equal(cio_run(raise_sigint, NULL, NULL), -EINTR);
}

/* ---- io_uring unavailable: a seccomp filter like Docker's default ---- */

static char logged[512];

static void keep_log(int level, const char *msg, void *arg) {
    (void)level;
    (void)arg;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof logged - n, "%s\n", msg);
}

/* In a child under the filter: io_uring asked for fails with a clear error;
 * AUTO runs on epoll and says why in debug mode. Exit codes name the step. */
static int unavailable_child(void) {
    if (block_io_uring() < 0)
        return 10;
    unsetenv("CIO_BACKEND"); /* the suite may run under CIO_BACKEND=...: AUTO here */
    cio_options uring = {.backend = CIO_BACKEND_IO_URING};
    if (cio_loop_new(&uring) != NULL || errno != EPERM)
        return 11;
    if (cio_run_with(&uring, returns_arg, (void *)1, NULL) != CIO_EUNAVAIL)
        return 12;
    if (!strstr(cio_strerror(CIO_EUNAVAIL), "cannot start"))
        return 13;
    cio_set_log_handler(keep_log, NULL);
    cio_options dbg = {.debug = 1};
    cio_loop *loop = cio_loop_new(&dbg);
    if (!loop || strcmp(cio_loop_backend_name(loop), "epoll") || cio_loop_close(loop))
        return 14;
    if (!strstr(logged, "epoll") || !strstr(logged, "seccomp"))
        return 15;
    void *r = NULL;
    if (cio_run(returns_arg, (void *)42, &r) != 0 || (intptr_t)r != 42)
        return 16;
    return 0;
}

static void test_io_uring_unavailable(void **state) {
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(unavailable_child());
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The backend asked for is the one that runs; a bad one is refused. */
static void test_backend_choice(void **state) {
    (void)state;
    cio_options ep = {.backend = CIO_BACKEND_EPOLL};
    cio_loop *loop = cio_loop_new(&ep);
    assert_non_null(loop);
    assert_string_equal(cio_loop_backend_name(loop), "epoll");
    assert_int_equal(cio_loop_close(loop), 0);
    cio_options bad = {.backend = (cio_backend)7};
    assert_null(cio_loop_new(&bad));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_loop_backend_name(NULL));
    loop = cio_loop_new(NULL);
    assert_non_null(loop);
    const char *want = getenv("CIO_BACKEND");
    if (want && (!strcmp(want, "epoll") || !strcmp(want, "io_uring")))
        assert_string_equal(cio_loop_backend_name(loop), want);
    assert_int_equal(cio_loop_close(loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_soon_fifo),
        cmocka_unit_test(test_handle_cancel),
        cmocka_unit_test(test_stop_finishes_batch),
        cmocka_unit_test(test_call_later_order),
        cmocka_unit_test(test_million_timers),
        cmocka_unit_test(test_threadsafe_from_four_threads),
        cmocka_unit_test(test_run_result_and_nesting),
        cmocka_unit_test(test_run_error_and_leftovers),
        cmocka_unit_test(test_run_sigint),
        cmocka_unit_test(test_io_uring_unavailable),
        cmocka_unit_test(test_backend_choice),
        cmocka_unit_test(test_loop_call_later),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
