/* gather, wait, wait_for, shield, as_completed: results, errors, ordering,
 * and the cancellation races (gather cancelled mid-flight, wait_for whose
 * inner future finishes in the timeout's iteration). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static void run(cio_fn fn, void *arg) {
    assert_int_equal(cio_run(fn, arg, NULL), 0);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct job {
    double delay;
    int err; /* fail with this after the delay */
    int value;
    bool ignore_cancel;
    bool cleaned_up;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    int r = cio_sleep(j->delay);
    if (r < 0 && !j->ignore_cancel) {
        cio_sleep(0.01); /* cleanup that takes a while, cancelled or not */
        j->cleaned_up = true;
        return cio_fail(r);
    }
    return j->err ? cio_fail(j->err) : P(j->value);
}

static void unref_all(cio_future **fs, size_t n) {
    for (size_t i = 0; i < n; i++)
        cio_future_unref(fs[i]);
}

/* ---- gather ---- */

static void *gather_main(void *arg) {
    (void)arg;
    job js[3] = {
        {.delay = 0.03, .value = 1}, {.delay = 0.01, .value = 2}, {.delay = 0.02, .value = 3}};
    cio_future *fs[3];
    for (int i = 0; i < 3; i++)
        fs[i] = cio_create_task(run_job, &js[i]);
    assert_int_equal(cio_gather(fs, 3, 0), 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        assert_int_equal(cio_future_result(fs[i], &r), 0);
        assert_int_equal(I(r), i + 1); /* results stay in input order */
    }
    unref_all(fs, 3);
    assert_int_equal(cio_gather(NULL, 0, 0), 0);
    cio_future *nul[1] = {NULL};
    assert_int_equal(cio_gather(nul, 1, 0), -EINVAL);

    /* The first error comes back at once; the others keep running. */
    job fj[2] = {{.delay = 0.01, .err = -EIO}, {.delay = 0.05, .value = 9}};
    fs[0] = cio_create_task(run_job, &fj[0]);
    fs[1] = cio_create_task(run_job, &fj[1]);
    assert_int_equal(cio_gather(fs, 2, 0), -EIO);
    assert_false(cio_future_done(fs[1]));
    void *r;
    assert_int_equal(cio_await(fs[1], &r), 0);
    assert_int_equal(I(r), 9);
    unref_all(fs, 2);

    /* return_exceptions: waits for all, errors stay in the children */
    fs[0] = cio_create_task(run_job, &fj[0]);
    fs[1] = cio_create_task(run_job, &fj[1]);
    assert_int_equal(cio_gather(fs, 2, CIO_RETURN_EXCEPTIONS), 0);
    assert_int_equal(cio_future_result(fs[0], NULL), -EIO);
    assert_true(cio_future_done(fs[1]));
    unref_all(fs, 2);
    return NULL;
}

static void test_gather(void **state) {
    (void)state;
    run(gather_main, NULL);
}

typedef struct gc {
    int flags;
    job js[3];
    cio_future *fs[3];
} gc;

static void *gather_caller(void *arg) {
    gc *g = arg;
    return P(cio_gather(g->fs, 3, g->flags));
}

/* Cancelling a gather cancels every child mid-flight and ends only when they
 * have ended; with return_exceptions the cancellation is not swallowed. */
static void *gather_cancel_main(void *arg) {
    gc *g = arg;
    for (int i = 0; i < 3; i++) {
        g->js[i] = (job){.delay = 5};
        g->fs[i] = cio_create_task(run_job, &g->js[i]);
    }
    cio_future *outer = cio_gather_future(g->fs, 3, g->flags);
    cio_future *caller = cio_create_task(gather_caller, g);
    cio_sleep(0.01);
    assert_true(cio_cancel(outer));
    assert_int_equal(cio_await(outer, NULL), -ECANCELED);
    assert_true(cio_future_cancelled(outer));
    /* With return_exceptions the outer future waited for every child;
     * without, the first cancelled child ended it (asyncio does the same). */
    if (g->flags & CIO_RETURN_EXCEPTIONS)
        for (int i = 0; i < 3; i++)
            assert_true(g->js[i].cleaned_up);
    assert_int_equal(cio_gather(g->fs, 3, CIO_RETURN_EXCEPTIONS), 0);
    for (int i = 0; i < 3; i++)
        assert_true(cio_future_cancelled(g->fs[i]));
    /* The other gather over the same children was not itself cancelled: it
     * reports the cancelled children as errors or as results. */
    void *r;
    assert_int_equal(cio_await(caller, &r), 0);
    assert_int_equal(I(r), g->flags & CIO_RETURN_EXCEPTIONS ? 0 : -ECANCELED);
    assert_false(cio_cancel(outer)); /* done: a no-op */
    cio_future_unref(outer);
    cio_future_unref(caller);
    unref_all(g->fs, 3);
    return NULL;
}

static void test_gather_cancelled_mid_flight(void **state) {
    (void)state;
    gc g = {0};
    run(gather_cancel_main, &g);
    gc h = {.flags = CIO_RETURN_EXCEPTIONS};
    run(gather_cancel_main, &h);
}

static void *gather_task_cancel_main(void *arg) {
    gc *g = arg;
    for (int i = 0; i < 3; i++) {
        g->js[i] = (job){.delay = 5};
        g->fs[i] = cio_create_task(run_job, &g->js[i]);
    }
    cio_future *caller = cio_create_task(gather_caller, g);
    cio_sleep(0.01);
    cio_cancel(caller); /* the awaiting task: its gather goes down with it */
    void *r;
    cio_await(caller, &r);
    assert_int_equal(I(r), -ECANCELED);
    for (int i = 0; i < 3; i++)
        assert_true(cio_future_cancelled(g->fs[i]));
    cio_future_unref(caller);
    unref_all(g->fs, 3);
    return NULL;
}

static void test_gather_caller_cancelled(void **state) {
    (void)state;
    gc g = {0};
    run(gather_task_cancel_main, &g);
}

/* ---- wait ---- */

/* The futures complete only when this test says (no race between timers):
 * each step of cio_wait sees exactly the completions made before it. */
static cio_future *wait_fs[3];
static void complete_0(void *a) {
    cio_future_set_result(wait_fs[0], a);
}
static void fail_1(void *a) {
    cio_future_set_error(wait_fs[1], I(a));
}
static void complete_2(void *a) {
    cio_future_set_result(wait_fs[2], a);
}

static void *wait_main(void *arg) {
    (void)arg;
    cio_future **fs = wait_fs;
    for (int i = 0; i < 3; i++)
        assert_non_null(fs[i] = cio_future_new());
    cio_call_soon(complete_0, P(1));
    assert_int_equal(cio_wait(fs, 3, -1, CIO_FIRST_COMPLETED), 1);
    assert_true(cio_future_done(fs[0]));
    cio_call_soon(fail_1, P(-EIO));
    assert_int_equal(cio_wait(fs, 3, -1, CIO_FIRST_EXCEPTION), 2);
    assert_true(cio_future_done(fs[1]));
    assert_int_equal(cio_wait(fs, 3, 0.01, CIO_ALL_COMPLETED), 2); /* timeout: nothing cancelled */
    assert_false(cio_future_done(fs[2]));
    assert_int_equal(cio_wait(fs, 3, 0, CIO_ALL_COMPLETED), 2);
    cio_call_later(0.01, complete_2, P(3));
    assert_int_equal(cio_wait(fs, 3, -1, CIO_ALL_COMPLETED), 3);
    assert_int_equal(cio_future_result(fs[1], NULL), -EIO);
    void *r;
    assert_int_equal(cio_future_result(fs[2], &r), 0);
    assert_int_equal(I(r), 3);
    assert_int_equal(cio_wait(fs, 0, -1, CIO_ALL_COMPLETED), -EINVAL);
    assert_int_equal(cio_wait(fs, 3, -1, 7), -EINVAL);
    unref_all(fs, 3);
    return NULL;
}

static void test_wait(void **state) {
    (void)state;
    run(wait_main, NULL);
    cio_future *f[1] = {NULL};
    assert_int_equal(cio_wait(f, 1, -1, CIO_ALL_COMPLETED), -EPERM);
}

/* ---- wait_for ---- */

static void *wait_for_main(void *arg) {
    (void)arg;
    job slow = {.delay = 10};
    cio_future *f = cio_create_task(run_job, &slow);
    double t0 = now();
    assert_int_equal(cio_wait_for(f, 0.05, NULL), -ETIMEDOUT);
    assert_true(now() - t0 < 5);
    assert_true(cio_future_cancelled(f)); /* it has really finished */
    assert_true(slow.cleaned_up);
    cio_future_unref(f);

    job quick = {.delay = 0.01, .value = 4};
    f = cio_create_task(run_job, &quick);
    void *r;
    assert_int_equal(cio_wait_for(f, 5, &r), 0);
    assert_int_equal(I(r), 4);
    cio_future_unref(f);

    /* An inner task that ignores the cancellation and returns a value wins. */
    job stubborn = {.delay = 0.2, .value = 5, .ignore_cancel = true};
    f = cio_create_task(run_job, &stubborn);
    assert_int_equal(cio_wait_for(f, 0.01, &r), 0);
    assert_int_equal(I(r), 5);
    cio_future_unref(f);

    job failing = {.delay = 0.01, .err = -EIO};
    f = cio_create_task(run_job, &failing);
    assert_int_equal(cio_wait_for(f, -1, NULL), -EIO);
    assert_int_equal(cio_wait_for(cio_current_task(), 1, NULL), -EDEADLK);
    cio_future_unref(f);
    return NULL;
}

static void test_wait_for(void **state) {
    (void)state;
    run(wait_for_main, NULL);
}

typedef struct same_iter {
    cio_future *f;
} same_iter;

/* Blocks the loop past the deadline, then completes f: the completion and
 * the expired timer are handled in the same iteration. */
static void *blocker(void *arg) {
    same_iter *s = arg;
    double t0 = now();
    while (now() - t0 < 0.05) {
    }
    cio_future_set_result(s->f, P(77));
    return NULL;
}

static void *same_iter_main(void *arg) {
    same_iter *s = arg;
    s->f = cio_future_new();
    cio_future *b = cio_create_task(blocker, s);
    void *r = NULL;
    assert_int_equal(cio_wait_for(s->f, 0.01, &r), 0);
    assert_int_equal(I(r), 77);
    assert_false(cio_future_cancelled(s->f));
    cio_await(b, NULL);
    cio_future_unref(b);
    cio_future_unref(s->f);
    return NULL;
}

static void test_wait_for_same_iteration(void **state) {
    (void)state;
    same_iter s = {0};
    run(same_iter_main, &s);
}

typedef struct wfc {
    job j;
    cio_future *inner;
} wfc;

static void *wait_for_caller(void *arg) {
    wfc *w = arg;
    return P(cio_wait_for(w->inner, 10, NULL));
}

static void *wait_for_outer_cancel_main(void *arg) {
    wfc *w = arg;
    w->j = (job){.delay = 10};
    w->inner = cio_create_task(run_job, &w->j);
    cio_future *c = cio_create_task(wait_for_caller, w);
    cio_sleep(0.01);
    cio_cancel(c);
    void *r;
    cio_await(c, &r);
    assert_int_equal(I(r), -ECANCELED); /* not a timeout */
    assert_true(cio_future_cancelled(w->inner));
    assert_true(w->j.cleaned_up);
    cio_future_unref(c);
    cio_future_unref(w->inner);
    return NULL;
}

static void test_wait_for_outer_cancelled(void **state) {
    (void)state;
    wfc w = {0};
    run(wait_for_outer_cancel_main, &w);
}

/* ---- shield ---- */

static void *shield_main(void *arg) {
    (void)arg;
    job j = {.delay = 0.05, .value = 6};
    cio_future *t = cio_create_task(run_job, &j);
    cio_future *s = cio_shield(t);
    assert_int_equal(cio_wait_for(s, 0.01, NULL), -ETIMEDOUT);
    assert_true(cio_future_cancelled(s));
    assert_false(cio_future_done(t)); /* still running */
    void *r;
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal(I(r), 6);
    cio_future_unref(s);

    s = cio_shield(t); /* done already: itself */
    assert_ptr_equal(s, t);
    cio_future_unref(s);
    cio_future_unref(t);

    cio_future *f = cio_future_new();
    s = cio_shield(f);
    cio_future_set_error(f, -EIO);
    assert_int_equal(cio_await(s, NULL), -EIO);
    cio_future_unref(s);
    cio_future_unref(f);
    return NULL;
}

static void test_shield(void **state) {
    (void)state;
    run(shield_main, NULL);
}

/* ---- as_completed ---- */

static void *as_completed_main(void *arg) {
    (void)arg;
    /* gaps of 0.1 s and more: the order holds under sanitizers too */
    job js[4] = {{.delay = 0.3, .value = 0},
                 {.delay = 0.05, .value = 1},
                 {.delay = 3.0, .value = 2},
                 {.delay = 0.15, .value = 3}};
    cio_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = cio_create_task(run_job, &js[i]);
    cio_as_completed *it = cio_as_completed_new(fs, 4, 1.0);
    int order[4], n = 0, r;
    cio_future *f;
    while ((r = cio_as_completed_next(it, &f)) == 1) {
        void *v;
        cio_future_result(f, &v);
        order[n++] = I(v);
    }
    assert_int_equal(r, -ETIMEDOUT);
    assert_int_equal(n, 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);
    assert_int_equal(order[2], 0);
    assert_false(cio_future_done(fs[2])); /* not cancelled */
    cio_as_completed_free(it);
    cio_cancel(fs[2]); /* its job lives in this frame */
    cio_await(fs[2], NULL);
    unref_all(fs, 4);

    cio_future *done = cio_future_new();
    cio_future_set_result(done, P(1));
    it = cio_as_completed_new(&done, 1, -1);
    assert_int_equal(cio_as_completed_next(it, &f), 1);
    assert_ptr_equal(f, done);
    assert_int_equal(cio_as_completed_next(it, &f), 0);
    cio_as_completed_free(it);
    cio_future_unref(done);
    return NULL;
}

static void test_as_completed(void **state) {
    (void)state;
    run(as_completed_main, NULL);
}

/* Freed while callbacks are still scheduled: nothing leaks, nothing dangles. */
static void *as_completed_early_free_main(void *arg) {
    (void)arg;
    cio_future *fs[2] = {cio_future_new(), cio_future_new()};
    cio_as_completed *it = cio_as_completed_new(fs, 2, -1);
    cio_future_set_result(fs[0], NULL); /* its callback is now scheduled */
    cio_as_completed_free(it);
    cio_yield();
    unref_all(fs, 2);
    return NULL;
}

static void test_as_completed_early_free(void **state) {
    (void)state;
    run(as_completed_early_free_main, NULL);
}

/* ---- futures of another loop: refused at once, never a hang ---- */

static void *composes_foreign(void *arg) {
    job j = {.delay = 0.01, .value = 1};
    cio_future *mine = cio_create_task(run_job, &j);
    cio_future *fs[2] = {mine, arg};
    assert_int_equal(cio_gather(fs, 2, 0), CIO_ELOOP);
    assert_int_equal(cio_gather(fs, 2, CIO_RETURN_EXCEPTIONS), CIO_ELOOP);
    errno = 0;
    assert_null(cio_gather_future(fs, 2, 0));
    assert_int_equal(errno, -CIO_ELOOP);
    assert_int_equal(cio_wait(fs, 2, 1.0, CIO_ALL_COMPLETED), CIO_ELOOP);
    assert_int_equal(cio_wait_for(arg, 1.0, NULL), CIO_ELOOP);
    errno = 0;
    assert_null(cio_as_completed_new(fs, 2, 1.0));
    assert_int_equal(errno, -CIO_ELOOP);
    assert_false(cio_future_done(arg));
    assert_int_equal(cio_await(mine, NULL), 0);
    cio_future_unref(mine);
    return NULL;
}

static void test_futures_of_another_loop(void **state) {
    (void)state;
    cio_loop *other = cio_loop_new(NULL);
    cio_future *f = cio_loop_future_new(other);
    assert_int_equal(cio_run(composes_foreign, f, NULL), 0);
    cio_future_unref(f);
    assert_int_equal(cio_loop_close(other), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_gather_cancelled_mid_flight),
        cmocka_unit_test(test_gather_caller_cancelled),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_wait_for),
        cmocka_unit_test(test_wait_for_same_iteration),
        cmocka_unit_test(test_wait_for_outer_cancelled),
        cmocka_unit_test(test_shield),
        cmocka_unit_test(test_as_completed),
        cmocka_unit_test(test_as_completed_early_free),
        cmocka_unit_test(test_futures_of_another_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
