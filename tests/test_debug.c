/* Debug mode and logging: messages reach the log handler; misuse is named. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct captured {
    char text[8192];
    int count[4];
} captured;

static void capture(int level, const char *msg, void *user) {
    captured *c = user;
    if (level >= 0 && level < 4)
        c->count[level]++;
    strncat(c->text, msg, sizeof c->text - strlen(c->text) - 2);
    strcat(c->text, "\n");
}

static void busy_wait(double s) {
    struct timespec ts = {0, (long)(s * 1e9)};
    nanosleep(&ts, NULL); /* the blocking call the warning is about */
}

static void *blocks_loop(void *arg) {
    (void)arg;
    cio_task_set_name(cio_current_task(), "blocker");
    busy_wait(0.06);
    return NULL;
}

static void test_slow_task_step_warning(void **state) {
    (void)state;
    captured c = {0};
    cio_set_log_handler(capture, &c);
    cio_options opt = {.debug = 1, .slow_callback_duration = 0.03};
    assert_int_equal(cio_run_with(&opt, blocks_loop, NULL, NULL), 0);
    cio_set_log_handler(NULL, NULL);
    assert_non_null(strstr(c.text, "Executing task 'blocker' took"));
    /* Without debug mode: silence. */
    memset(&c, 0, sizeof c);
    cio_set_log_handler(capture, &c);
    opt.debug = 0;
    assert_int_equal(cio_run_with(&opt, blocks_loop, NULL, NULL), 0);
    cio_set_log_handler(NULL, NULL);
    assert_null(strstr(c.text, "Executing"));
}

static void *fails(void *arg) {
    (void)arg;
    return cio_fail(-EPIPE);
}

static void *drops_failed_task(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(fails, NULL);
    cio_task_set_name(t, "forgotten");
    cio_yield();
    cio_yield();
    cio_future_unref(t); /* its error was never read */
    cio_future *u = cio_create_task(fails, NULL);
    cio_task_set_name(u, "observed");
    assert_int_equal(cio_await(u, NULL), -EPIPE);
    cio_future_unref(u);
    return NULL;
}

static void test_never_retrieved(void **state) {
    (void)state;
    captured c = {0};
    cio_set_log_handler(capture, &c);
    assert_int_equal(cio_run(drops_failed_task, NULL, NULL), 0);
    cio_set_log_handler(NULL, NULL);
    assert_non_null(strstr(c.text, "Task exception was never retrieved: task 'forgotten'"));
    assert_non_null(strstr(c.text, "Broken pipe"));
    assert_null(strstr(c.text, "observed"));
}

static void *pending_forever(void *arg) {
    (void)arg;
    cio_sleep(3600);
    return NULL;
}

static void test_destroyed_pending(void **state) {
    (void)state;
    captured c = {0};
    cio_set_log_handler(capture, &c);
    cio_options opt = {.debug = 1};
    cio_loop *loop = cio_loop_new(&opt);
    cio_future *t = cio_loop_create_task(loop, pending_forever, NULL);
    cio_task_set_name(t, "sleepy");
    cio_loop_stop(loop);
    cio_loop_run_forever(loop);
    assert_int_equal(cio_loop_close(loop), 0);
    assert_true(cio_future_cancelled(t)); /* every future ends */
    cio_future_unref(t);
    cio_set_log_handler(NULL, NULL);
    assert_non_null(strstr(c.text, "Task was destroyed but it is pending! task 'sleepy'"));
}

/* Runs main under cio_run_with in a child; its stderr lands in buf.
 * Returns the child's wait status. */
static int run_child(const cio_options *opt, cio_fn main_fn, char *buf, size_t cap) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        cio_run_with(opt, main_fn, NULL, NULL);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    return st;
}

/* ---- wrong thread: abort with a clear message (in a child) ---- */

static void nothing(void *arg) {
    (void)arg;
}

static void *call_from_other_thread(void *arg) {
    cio_loop_call_soon(arg, nothing, NULL);
    return NULL;
}

static void *spawn_foreign_thread(void *arg) {
    (void)arg;
    pthread_t th;
    pthread_create(&th, NULL, call_from_other_thread, cio_get_running_loop());
    pthread_join(th, NULL);
    return NULL;
}

static void test_wrong_thread_aborts(void **state) {
    (void)state;
    char buf[2048];
    cio_options opt = {.debug = 1};
    int st = run_child(&opt, spawn_foreign_thread, buf, sizeof buf);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_non_null(strstr(buf, "called from a thread that does not run this loop"));
}

/* ---- stack overflow names the task (in a child) ---- */

static int recurse(volatile char *p, int depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    return depth > 100000 ? frame[0] : recurse(frame, depth + 1) + (int)p[0];
}

static void *overflows(void *arg) {
    (void)arg;
    cio_task_set_name(cio_current_task(), "deep");
    return (void *)(intptr_t)recurse(NULL == arg ? (volatile char *)"x" : arg, 0);
}

static void test_stack_overflow_named(void **state) {
    (void)state;
    char buf[2048];
    cio_options opt = {.debug = 1, .stack_size = 32 * 1024};
    int st = run_child(&opt, overflows, buf, sizeof buf);
    assert_true(WIFSIGNALED(st));
    assert_non_null(strstr(buf, "stack overflow in task 'deep'"));
}

/* Outside debug mode too, and an unnamed task is named by its default name,
 * which says what runs. */
static void *overflows_unnamed(void *arg) {
    (void)arg;
    return (void *)(intptr_t)recurse((volatile char *)"x", 0);
}

static void *spawns_overflow(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(overflows_unnamed, NULL);
    cio_await(t, NULL);
    cio_future_unref(t);
    return NULL;
}

static void test_stack_overflow_named_without_debug(void **state) {
    (void)state;
    char buf[2048];
    cio_options opt = {.debug = 0};
    int st = run_child(&opt, spawns_overflow, buf, sizeof buf);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_non_null(strstr(buf, "stack overflow in task 'Task-2 (overflows_unnamed)'"));
    assert_null(strstr(buf, "(unnamed)"));
}

/* ---- strerror and the timing helper ---- */

static void *work(void *arg) {
    return arg;
}

static void test_strerror_and_timed(void **state) {
    (void)state;
    assert_string_equal(cio_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(cio_strerror(CIO_EWORKER), "worker process died");
    assert_string_equal(cio_strerror(CIO_ELIMIT), "stream read limit exceeded");
    assert_string_equal(cio_strerror(12345678), "unknown error 12345678");
    assert_string_equal(cio_strerror(-(CIO_EBASE + 77)), "unknown error -10077");
    /* Two unknown codes in one call stay apart. */
    char both[96];
    snprintf(both, sizeof both, "%s|%s", cio_strerror(-5000), cio_strerror(-5001));
    assert_string_equal(both, "unknown error -5000|unknown error -5001");
    assert_string_equal(cio_strerror(-ETIMEDOUT), "timed out");
    captured c = {0};
    cio_set_log_handler(capture, &c);
    assert_ptr_equal(cio_timed("job", work, (void *)3), (void *)3);
    cio_set_log_handler(NULL, NULL);
    assert_non_null(strstr(c.text, "job started"));
    assert_non_null(strstr(c.text, "job finished in "));
    assert_int_equal(c.count[CIO_LOG_INFO], 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_task_step_warning),
        cmocka_unit_test(test_never_retrieved),
        cmocka_unit_test(test_destroyed_pending),
        cmocka_unit_test(test_wrong_thread_aborts),
        cmocka_unit_test(test_stack_overflow_named),
        cmocka_unit_test(test_strerror_and_timed),
        cmocka_unit_test(test_stack_overflow_named_without_debug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
