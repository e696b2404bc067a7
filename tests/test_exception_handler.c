/* The loop's exception handler: every field for each kind the runtime
 * reports (never-retrieved task and future, pending task at close, error
 * during cio_run's shutdown, a callback's report), the handler's arg, the
 * getter, NULL bringing the default back, and the default's log lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* What the handler saw (strings copied: they are valid during the call). */
typedef struct seen {
    int calls;
    cio_loop *loop;
    cio_exception_kind kind;
    char message[128];
    int error;
    cio_future *future;
    char task_name[128];
    bool has_name;
    cio_cb callback;
    void *callback_arg;
} seen;

static seen got;
static int handler_arg;

static void copy(char *dst, size_t cap, const char *s) {
    snprintf(dst, cap, "%s", s ? s : "");
}

static void handler(cio_loop *loop, const cio_exception_context *c, void *arg) {
    assert_ptr_equal(arg, &handler_arg);
    got.calls++;
    got.loop = loop;
    got.kind = c->kind;
    copy(got.message, sizeof got.message, c->message);
    got.error = c->error;
    got.future = c->future;
    got.has_name = c->task_name != NULL;
    copy(got.task_name, sizeof got.task_name, c->task_name);
    got.callback = c->callback;
    got.callback_arg = c->callback_arg;
}

/* The log lines the default handler writes. */
static char logged[8][256];
static int nlogged;

static void capture_log(int level, const char *msg, void *user) {
    (void)user;
    if (nlogged < 8)
        snprintf(logged[nlogged++], sizeof logged[0], "%d %s", level, msg);
}

static void install(void) {
    cio_loop *loop = cio_get_running_loop();
    assert_non_null(loop);
    cio_loop_set_exception_handler(loop, handler, &handler_arg);
}

static void *fails(void *arg) {
    (void)arg;
    return cio_fail(-EIO);
}

static cio_future *named_task(cio_fn fn, const char *name) {
    cio_task_options o = {.name = name};
    cio_future *t = cio_create_task_with(&o, fn, NULL);
    assert_non_null(t);
    return t;
}

/* ---- never retrieved ---- */

static void *drop_failed_task(void *arg) {
    (void)arg;
    install();
    cio_future *t = named_task(fails, "failer");
    while (!cio_future_done(t))
        assert_int_equal(cio_yield(), 0);
    assert_int_equal(got.calls, 0);
    cio_future_unref(t); /* the error was never read */
    assert_int_equal(got.calls, 1);
    assert_ptr_equal(got.loop, cio_get_running_loop());
    assert_int_equal(got.kind, CIO_EXC_NEVER_RETRIEVED);
    assert_string_equal(got.message, "Task exception was never retrieved");
    assert_int_equal(got.error, -EIO);
    assert_ptr_equal(got.future, t);
    assert_true(got.has_name);
    assert_string_equal(got.task_name, "failer");
    assert_null(got.callback);
    assert_null(got.callback_arg);
    /* A read error is not reported. */
    cio_future *r = named_task(fails, "read");
    assert_int_equal(cio_await(r, NULL), -EIO);
    cio_future_unref(r);
    assert_int_equal(got.calls, 1);
    return NULL;
}

static void test_never_retrieved_task(void **state) {
    (void)state;
    assert_int_equal(cio_run(drop_failed_task, NULL, NULL), 0);
}

static void *drop_failed_future(void *arg) {
    (void)arg;
    install();
    cio_future *f = cio_future_new();
    assert_int_equal(cio_future_set_error(f, -EPIPE), 0);
    cio_future_unref(f);
    assert_int_equal(got.calls, 1);
    assert_int_equal(got.kind, CIO_EXC_NEVER_RETRIEVED);
    assert_string_equal(got.message, "Future exception was never retrieved");
    assert_int_equal(got.error, -EPIPE);
    assert_ptr_equal(got.future, f);
    assert_false(got.has_name);
    assert_null(got.callback);
    return NULL;
}

static void test_never_retrieved_future(void **state) {
    (void)state;
    assert_int_equal(cio_run(drop_failed_future, NULL, NULL), 0);
}

/* ---- a task still pending when the loop closes ---- */

static void *sleeps_long(void *arg) {
    (void)arg;
    cio_sleep(60);
    return NULL;
}

static void test_pending_task_at_close(void **state) {
    (void)state;
    cio_loop *loop = cio_loop_new(NULL);
    assert_non_null(loop);
    cio_loop_set_exception_handler(loop, handler, &handler_arg);
    cio_task_options o = {.name = "sleeper"};
    cio_future *t = cio_loop_create_task_with(loop, &o, sleeps_long, NULL);
    assert_non_null(t);
    cio_loop_stop(loop);
    assert_int_equal(cio_loop_run_forever(loop), 0); /* one iteration: it parks */
    assert_false(cio_future_done(t));
    cio_future_ref(t);
    assert_int_equal(cio_loop_close(loop), 0);
    assert_int_equal(got.calls, 1);
    assert_ptr_equal(got.loop, loop);
    assert_int_equal(got.kind, CIO_EXC_PENDING_TASK);
    assert_string_equal(got.message, "Task was destroyed but it is pending!");
    assert_int_equal(got.error, 0);
    assert_ptr_equal(got.future, t);
    assert_string_equal(got.task_name, "sleeper");
    assert_null(got.callback);
    assert_true(cio_future_cancelled(t));
    cio_future_unref(t);
    cio_future_unref(t);
}

/* ---- a task that fails while cio_run cancels it at the end ---- */

static void *fails_when_cancelled(void *arg) {
    (void)arg;
    if (cio_sleep(60) == -ECANCELED)
        return cio_fail(-ENOTCONN);
    return NULL;
}

static cio_future *left_over;

static void *leaves_a_task(void *arg) {
    (void)arg;
    install();
    left_over = named_task(fails_when_cancelled, "straggler");
    assert_int_equal(cio_yield(), 0);
    cio_future_unref(left_over); /* only compared afterwards, never read */
    return NULL;
}

static void test_error_during_shutdown(void **state) {
    (void)state;
    assert_int_equal(cio_run(leaves_a_task, NULL, NULL), 0);
    assert_int_equal(got.calls, 1);
    assert_int_equal(got.kind, CIO_EXC_SHUTDOWN);
    assert_string_equal(got.message, "unhandled error during cio_run shutdown");
    assert_int_equal(got.error, -ENOTCONN);
    assert_ptr_equal(got.future, left_over);
    assert_string_equal(got.task_name, "straggler");
    assert_null(got.callback);
}

/* ---- a callback reports what it cannot return ---- */

static int cb_arg;

static void failing_callback(void *arg) {
    cio_exception_context c = {
        .kind = CIO_EXC_CALLBACK,
        .message = "Exception in callback",
        .error = -ENOSPC,
        .callback = failing_callback,
        .callback_arg = arg,
    };
    cio_loop_call_exception_handler(NULL, &c); /* the running loop's */
}

static void *schedules_callback(void *arg) {
    (void)arg;
    install();
    assert_non_null(cio_call_soon(failing_callback, &cb_arg).p);
    assert_int_equal(cio_sleep(0.001), 0);
    assert_int_equal(got.calls, 1);
    assert_ptr_equal(got.loop, cio_get_running_loop());
    assert_int_equal(got.kind, CIO_EXC_CALLBACK);
    assert_string_equal(got.message, "Exception in callback");
    assert_int_equal(got.error, -ENOSPC);
    assert_null(got.future);
    assert_false(got.has_name);
    assert_ptr_equal((void *)got.callback, (void *)failing_callback);
    assert_ptr_equal(got.callback_arg, &cb_arg);
    /* Without a handler: the default's generic line. */
    cio_loop_set_exception_handler(cio_get_running_loop(), NULL, NULL);
    cio_set_log_handler(capture_log, NULL);
    failing_callback(&cb_arg);
    cio_set_log_handler(NULL, NULL);
    assert_int_equal(got.calls, 1);
    assert_int_equal(nlogged, 1);
    char want[256];
    union {
        cio_cb fn;
        void *p;
    } u = {.fn = failing_callback};
    snprintf(want, sizeof want, "%d Exception in callback: callback %p(%p): %s", CIO_LOG_ERROR, u.p,
             (void *)&cb_arg, cio_strerror(-ENOSPC));
    assert_string_equal(logged[0], want);
    return NULL;
}

static void test_callback_report(void **state) {
    (void)state;
    assert_int_equal(cio_run(schedules_callback, NULL, NULL), 0);
}

/* ---- getter, NULL restores the default, the default's lines ---- */

static void *default_restored(void *arg) {
    (void)arg;
    cio_loop *loop = cio_get_running_loop();
    void *a = NULL;
    assert_null(cio_loop_exception_handler(loop, &a));
    assert_null(a);
    install();
    assert_true(cio_loop_exception_handler(loop, &a) == handler);
    assert_ptr_equal(a, &handler_arg);
    assert_true(cio_loop_exception_handler(loop, NULL) == handler);
    cio_loop_set_exception_handler(loop, NULL, &handler_arg);
    assert_null(cio_loop_exception_handler(loop, &a));
    assert_null(a);
    cio_set_log_handler(capture_log, NULL);
    cio_future *t = named_task(fails, "failer");
    while (!cio_future_done(t))
        assert_int_equal(cio_yield(), 0);
    cio_future_unref(t);
    cio_future *f = cio_future_new();
    assert_int_equal(cio_future_set_error(f, -EPIPE), 0);
    cio_future_unref(f);
    cio_set_log_handler(NULL, NULL);
    assert_int_equal(got.calls, 0);
    assert_int_equal(nlogged, 2);
    char want[256];
    snprintf(want, sizeof want, "%d Task exception was never retrieved: task 'failer' failed: %s",
             CIO_LOG_ERROR, cio_strerror(-EIO));
    assert_string_equal(logged[0], want);
    snprintf(want, sizeof want, "%d Future exception was never retrieved: future %p failed: %s",
             CIO_LOG_ERROR, (void *)f, cio_strerror(-EPIPE));
    assert_string_equal(logged[1], want);
    return NULL;
}

static void test_null_restores_default(void **state) {
    (void)state;
    assert_int_equal(cio_run(default_restored, NULL, NULL), 0);
    assert_null(cio_loop_exception_handler(NULL, NULL));
    cio_loop_set_exception_handler(NULL, handler, NULL); /* ignored */
    cio_loop_call_exception_handler(NULL, NULL);         /* ignored */
}

/* A custom handler that hands on to the default (asyncio's pattern); the
 * pending-task line is logged in debug mode only. */
static void chain_to_default(cio_loop *loop, const cio_exception_context *c, void *arg) {
    handler(loop, c, arg);
    cio_loop_default_exception_handler(loop, c);
}

static void close_with_pending(int debug) {
    cio_loop *loop = cio_loop_new(&(cio_options){.debug = debug});
    assert_non_null(loop);
    cio_loop_set_exception_handler(loop, chain_to_default, &handler_arg);
    cio_task_options o = {.name = "sleeper"};
    cio_future *t = cio_loop_create_task_with(loop, &o, sleeps_long, NULL);
    assert_non_null(t);
    cio_loop_stop(loop);
    assert_int_equal(cio_loop_run_forever(loop), 0);
    cio_future_unref(t);
    assert_int_equal(cio_loop_close(loop), 0);
}

static void *shutdown_default(void *arg) {
    (void)arg;
    cio_loop_set_exception_handler(cio_get_running_loop(), chain_to_default, &handler_arg);
    left_over = named_task(fails_when_cancelled, "straggler");
    assert_int_equal(cio_yield(), 0);
    cio_future_unref(left_over);
    return NULL;
}

static void test_custom_calls_default(void **state) {
    (void)state;
    cio_set_log_handler(capture_log, NULL);
    close_with_pending(0);
    assert_int_equal(got.calls, 1);
    assert_int_equal(nlogged, 0); /* not in debug mode, as before */
    close_with_pending(1);
    assert_int_equal(got.calls, 2);
    assert_int_equal(cio_run(shutdown_default, NULL, NULL), 0);
    cio_set_log_handler(NULL, NULL);
    assert_int_equal(got.calls, 3);
    int at = 0;
    while (at < nlogged && !strstr(logged[at], "destroyed"))
        at++; /* debug mode may log other things first */
    assert_true(at < nlogged);
    char want[256];
    snprintf(want, sizeof want, "%d Task was destroyed but it is pending! task 'sleeper'",
             CIO_LOG_WARNING);
    assert_string_equal(logged[at], want);
    snprintf(want, sizeof want, "%d unhandled error in task 'straggler' during shutdown: %s",
             CIO_LOG_ERROR, cio_strerror(-ENOTCONN));
    assert_string_equal(logged[nlogged - 1], want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_retrieved_task),  cmocka_unit_test(test_never_retrieved_future),
        cmocka_unit_test(test_pending_task_at_close), cmocka_unit_test(test_error_during_shutdown),
        cmocka_unit_test(test_callback_report),       cmocka_unit_test(test_null_restores_default),
        cmocka_unit_test(test_custom_calls_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
