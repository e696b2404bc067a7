/* TaskGroup: waits for all; the first failure cancels the others and is
 * returned, every failure kept; two failures at once; parent cancellation;
 * spawning into a group that is shutting down. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

typedef struct job {
    double delay;
    int err;
    bool cancelled;
    bool finished;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    if (cio_sleep(j->delay) < 0) {
        j->cancelled = true;
        return cio_fail(-ECANCELED);
    }
    j->finished = true;
    return j->err ? cio_fail(j->err) : NULL;
}

static void run(cio_fn fn, void *arg) {
    assert_int_equal(cio_run(fn, arg, NULL), 0);
}

static void *all_ok_main(void *arg) {
    (void)arg;
    job js[3] = {{.delay = 0.01}, {.delay = 0.03}, {.delay = 0.02}};
    cio_task_group *g = cio_task_group_new();
    cio_future *t;
    for (int i = 0; i < 3; i++)
        assert_int_equal(cio_task_group_spawn(g, run_job, &js[i], i == 0 ? &t : NULL), 0);
    assert_int_equal(cio_task_group_wait(g, 0), 0);
    for (int i = 0; i < 3; i++)
        assert_true(js[i].finished);
    assert_true(cio_future_done(t));
    cio_future_unref(t);
    assert_int_equal(cio_task_group_errors(g, NULL, 0), 0);
    assert_int_equal(cio_task_group_spawn(g, run_job, &js[0], NULL), CIO_ESHUTDOWN);
    assert_int_equal(cio_task_group_wait(g, 0), -EINVAL);
    cio_task_group_free(g);
    return NULL;
}

static void test_all_ok(void **state) {
    (void)state;
    run(all_ok_main, NULL);
    errno = 0;
    assert_null(cio_task_group_new());
    assert_int_equal(errno, EPERM);
}

/* The body is interrupted by the failure, the siblings are cancelled. */
static void *failure_main(void *arg) {
    (void)arg;
    job js[3] = {{.delay = 0.01, .err = -EIO}, {.delay = 5}, {.delay = 5}};
    cio_task_group *g = cio_task_group_new();
    for (int i = 0; i < 3; i++)
        cio_task_group_spawn(g, run_job, &js[i], NULL);
    int body = cio_sleep(5); /* the group cancels us here */
    assert_int_equal(body, -ECANCELED);
    assert_int_equal(cio_task_group_spawn(g, run_job, &js[1], NULL), CIO_ESHUTDOWN);
    assert_int_equal(cio_task_group_wait(g, body), -EIO);
    assert_true(js[1].cancelled && js[2].cancelled);
    int errs[4];
    assert_int_equal(cio_task_group_errors(g, errs, 4), 1);
    assert_int_equal(errs[0], -EIO);
    assert_int_equal(cio_task_cancelling(cio_current_task()), 0); /* taken back */
    assert_int_equal(cio_sleep(0.001), 0);
    cio_task_group_free(g);
    return NULL;
}

static void test_first_failure_cancels_others(void **state) {
    (void)state;
    run(failure_main, NULL);
}

static void *fail_now(void *arg) {
    return cio_fail(I(arg));
}

static void *two_failures_main(void *arg) {
    (void)arg;
    job slow = {.delay = 5};
    cio_task_group *g = cio_task_group_new();
    cio_task_group_spawn(g, fail_now, P(-EIO), NULL);
    cio_task_group_spawn(g, fail_now, P(-ENOSPC), NULL);
    cio_task_group_spawn(g, run_job, &slow, NULL);
    assert_int_equal(cio_task_group_wait(g, 0), -EIO);
    int errs[4];
    assert_int_equal(cio_task_group_errors(g, errs, 4), 2); /* both kept */
    assert_int_equal(errs[0], -EIO);
    assert_int_equal(errs[1], -ENOSPC);
    assert_true(slow.cancelled);
    assert_int_equal(cio_yield(), 0); /* no stray cancellation */
    cio_task_group_free(g);
    return NULL;
}

static void test_two_failures_at_once(void **state) {
    (void)state;
    run(two_failures_main, NULL);
}

typedef struct parent {
    job js[2];
    int r;
} parent;

static void *group_parent(void *arg) {
    parent *p = arg;
    cio_task_group *g = cio_task_group_new();
    cio_task_group_spawn(g, run_job, &p->js[0], NULL);
    cio_task_group_spawn(g, run_job, &p->js[1], NULL);
    p->r = cio_task_group_wait(g, 0);
    cio_task_group_free(g);
    return cio_fail(p->r);
}

static void *parent_cancel_main(void *arg) {
    parent *p = arg;
    p->js[0] = (job){.delay = 5};
    p->js[1] = (job){.delay = 5};
    cio_future *t = cio_create_task(group_parent, p);
    cio_sleep(0.01);
    cio_cancel(t);
    assert_int_equal(cio_await(t, NULL), -ECANCELED);
    assert_int_equal(p->r, -ECANCELED);
    assert_true(p->js[0].cancelled && p->js[1].cancelled);
    cio_future_unref(t);
    return NULL;
}

static void test_parent_cancelled(void **state) {
    (void)state;
    parent p = {0};
    run(parent_cancel_main, &p);
}

static void *body_error_main(void *arg) {
    (void)arg;
    job j = {.delay = 5};
    cio_task_group *g = cio_task_group_new();
    cio_task_group_spawn(g, run_job, &j, NULL);
    cio_yield(); /* started: a task cancelled before it starts never runs */
    assert_int_equal(cio_task_group_wait(g, -EPIPE), -EPIPE); /* the body failed */
    assert_true(j.cancelled);
    int e;
    assert_int_equal(cio_task_group_errors(g, &e, 1), 1);
    assert_int_equal(e, -EPIPE);
    cio_task_group_free(g);

    /* cancel() stops everybody without an error */
    g = cio_task_group_new();
    job k = {.delay = 5};
    cio_task_group_spawn(g, run_job, &k, NULL);
    cio_yield();
    cio_task_group_cancel(g);
    assert_int_equal(cio_task_group_wait(g, 0), 0);
    assert_true(k.cancelled);
    cio_task_group_free(g);

    /* freed without waiting: members are cancelled, nothing leaks */
    g = cio_task_group_new();
    job m = {.delay = 5};
    cio_task_group_spawn(g, run_job, &m, NULL);
    cio_yield();
    cio_task_group_free(g);
    cio_sleep(0.01);
    assert_true(m.cancelled);
    return NULL;
}

static void test_body_error_cancel_free(void **state) {
    (void)state;
    run(body_error_main, NULL);
}

/* A member may add siblings while the parent already waits. */
static cio_task_group *shared;
static job late = {.delay = 0.01};
static void *spawner(void *arg) {
    (void)arg;
    cio_sleep(0.01);
    return P(cio_task_group_spawn(shared, run_job, &late, NULL));
}

static void *nested_spawn_main(void *arg) {
    (void)arg;
    shared = cio_task_group_new();
    cio_future *t;
    cio_task_group_spawn(shared, spawner, NULL, &t);
    assert_int_equal(cio_task_group_wait(shared, 0), 0);
    void *r;
    cio_future_result(t, &r);
    assert_int_equal(I(r), 0);
    assert_true(late.finished);
    cio_future_unref(t);
    cio_task_group_free(shared);
    return NULL;
}

static void test_member_spawns_sibling(void **state) {
    (void)state;
    run(nested_spawn_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_ok),
        cmocka_unit_test(test_first_failure_cancels_others),
        cmocka_unit_test(test_two_failures_at_once),
        cmocka_unit_test(test_parent_cancelled),
        cmocka_unit_test(test_body_error_cancel_free),
        cmocka_unit_test(test_member_spawns_sibling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
