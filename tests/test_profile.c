/* CIO_PROFILE: the numbers for known workloads (a sleeper, a spinner, a
 * reader of a pipe, a lock waiter, a to_thread job, same-named tasks), the
 * executor observer, the table and its advice, the errors. Only lower bounds
 * that the work guarantees are asserted: the machine is shared and noisy. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "executor.h" /* cio__job_observer, cio__job_times */

#include <fcntl.h>
#include <time.h>

/* The calling thread's CPU seconds: a spin measured by it is CPU work
 * however loaded the machine is. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *spinner(void *arg) {
    double end = cpu_now() + 0.05;
    volatile unsigned long x = 0;
    (void)arg;
    while (cpu_now() < end)
        x++;
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    return cio_sleep(0.2) < 0 ? cio_fail(-EIO) : NULL;
}

static cio_future *spawn(const char *name, cio_fn fn, void *arg) {
    cio_future *f = cio_create_task_with(&(cio_task_options){.name = name}, fn, arg);
    assert_non_null(f);
    return f;
}

static void join(cio_future **fs, size_t n) {
    assert_int_equal(cio_gather(fs, n, 0), 0);
    for (size_t i = 0; i < n; i++)
        cio_future_unref(fs[i]);
}

static cio_profile_stats stats_of(const char *name) {
    cio_profile_stats s;
    assert_int_equal(cio_profile_task_stats(cio_get_running_loop(), name, &s), 0);
    return s;
}

static void run_profiled(cio_fn fn) {
    cio_options opt = {.profile = true};
    assert_int_equal(cio_run_with(&opt, fn, NULL, NULL), 0);
}

/* ---- sleeping and spinning ---- */

static void *sleep_spin_main(void *arg) {
    (void)arg;
    assert_true(cio_profile_enabled(cio_get_running_loop()));
    cio_future *fs[] = {spawn("sleeper", sleeper, NULL), spawn("spinner", spinner, NULL)};
    join(fs, 2);
    cio_profile_stats sl = stats_of("sleeper"), sp = stats_of("spinner");
    assert_int_equal(sl.tasks, 1);
    assert_int_equal(sl.steps, 2); /* to the sleep, and after it */
    /* The timer starts in the step that parks: what of 0.2 s is not sleeping
     * is the rest of that step. */
    assert_true(sl.sleeping + sl.cpu >= 0.199);
    /* Its loop time is microseconds, but no upper bound on time is asserted
     * (a sanitizer on a loaded machine stretches a first step to 0.1 s). */
    assert_true(sl.blocked <= sl.cpu);
    assert_true(sl.io == 0 && sl.sync == 0 && sl.executor == 0);
    assert_int_equal(sp.tasks, 1);
    assert_int_equal(sp.steps, 1);
    assert_true(sp.cpu >= 0.045);
    assert_true(sp.longest >= 0.045 && sp.longest <= sp.cpu);
    assert_true(sp.sleeping == 0 && sp.io == 0);
    cio_profile_stats m = stats_of("main"); /* its finished steps so far */
    assert_int_equal(m.tasks, 1);
    assert_true(m.awaiting >= 0.19); /* it awaited the sleeper */
    return NULL;
}

static void test_sleep_and_spin(void **state) {
    (void)state;
    run_profiled(sleep_spin_main);
}

/* ---- I/O, sync, executor waits ---- */

static void *reader(void *arg) {
    char c;
    return cio_read(*(int *)arg, &c, 1, -1) == 1 ? NULL : cio_fail(-EIO);
}

static void *late_writer(void *arg) {
    if (cio_sleep(0.1) < 0 || cio_write(*(int *)arg, "x", 1, -1) != 1)
        return cio_fail(-EIO);
    return NULL;
}

/* Takes the lock, lets the waiter park on it, then holds it 0.1 s. */
static void *holder(void *arg) {
    cio_lock *l = arg;
    if (cio_lock_acquire(l) < 0)
        return cio_fail(-EIO);
    cio_yield();
    int r = cio_sleep(0.1);
    cio_lock_release(l);
    return r < 0 ? cio_fail(r) : NULL;
}

static void *lock_waiter(void *arg) {
    if (cio_lock_acquire(arg) < 0)
        return cio_fail(-EIO);
    cio_lock_release(arg);
    return NULL;
}

static void *blocking(void *arg) {
    (void)arg;
    struct timespec ts = {0, 100000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void *threaded(void *arg) {
    (void)arg;
    return cio_to_thread(blocking, NULL, NULL) < 0 ? cio_fail(-EIO) : NULL;
}

static void *waits_main(void *arg) {
    (void)arg;
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    cio_lock *l = cio_lock_new();
    assert_non_null(l);
    cio_future *fs[] = {spawn("reader", reader, &fds[0]), spawn("writer", late_writer, &fds[1]),
                        spawn("holder", holder, l), spawn("waiter", lock_waiter, l),
                        spawn("threaded", threaded, NULL)};
    join(fs, 5);
    cio_profile_stats r = stats_of("reader"), w = stats_of("waiter"), t = stats_of("threaded");
    assert_true(r.io >= 0.099); /* the writer's timer starts after the reader parked */
    assert_true(r.sleeping == 0 && r.sync == 0);
    assert_true(w.sync >= 0.099); /* the lock, held 0.1 s after the waiter parked */
    assert_true(w.sleeping == 0 && w.io == 0);
    assert_true(t.executor + t.cpu >= 0.099); /* the job started in the parking step */
    assert_true(t.io == 0 && t.awaiting == 0);
    /* The pool reported the job (its hook): it ran the 0.1 s nanosleep. */
    cio_profile_exec_stats e;
    assert_int_equal(cio_profile_executor_stats(cio_get_running_loop(), "thread pool", &e), 0);
    assert_int_equal(e.jobs, 1);
    assert_true(e.running >= 0.099 && e.longest >= 0.099);
    close(fds[0]);
    close(fds[1]);
    cio_lock_free(l);
    return NULL;
}

static void test_io_sync_executor_waits(void **state) {
    (void)state;
    run_profiled(waits_main);
}

/* ---- a blocking call in a task: on the loop, but off the CPU ---- */

static void *blocking_task(void *arg) {
    return blocking(arg); /* nanosleep(0.1 s) on the loop: the mistake */
}

static void *blocked_main(void *arg) {
    (void)arg;
    cio_future *fs[] = {spawn("blocker", blocking_task, NULL)};
    join(fs, 1);
    cio_profile_stats b = stats_of("blocker");
    assert_int_equal(b.steps, 1);
    assert_true(b.cpu >= 0.09);
    assert_true(b.blocked >= 0.05); /* it slept: the CPU did next to nothing of it */
    assert_true(b.blocked <= b.cpu);
    char path[] = "/tmp/cio-profile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(cio_profile_print(cio_get_running_loop(), fd), 0);
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    assert_true(n > 0);
    buf[n] = 0;
    assert_non_null(strstr(buf, "`blocker` held the loop for"));
    assert_non_null(strstr(buf, "in blocking calls"));
    return NULL;
}

static void test_blocking_call(void **state) {
    (void)state;
    run_profiled(blocked_main);
}

/* ---- rows: same names summed, unnamed tasks under their function ---- */

void *profile_unnamed_job(void *arg); /* not static: its symbol names the row */
void *profile_unnamed_job(void *arg) {
    (void)arg;
    return cio_sleep(0.01) < 0 ? cio_fail(-EIO) : NULL;
}

static void *rows_main(void *arg) {
    (void)arg;
    cio_future *fs[8];
    for (int i = 0; i < 5; i++)
        fs[i] = spawn("worker", profile_unnamed_job, NULL);
    for (int i = 5; i < 8; i++)
        assert_non_null(fs[i] = cio_create_task(profile_unnamed_job, NULL));
    join(fs, 8);
    cio_profile_stats w = stats_of("worker"), u = stats_of("profile_unnamed_job");
    assert_int_equal(w.tasks, 5);
    assert_int_equal(w.steps, 10);
    assert_true(w.sleeping + w.cpu >= 5 * 0.0099);
    assert_int_equal(u.tasks, 3);
    assert_int_equal(u.steps, 6);
    cio_profile_stats none;
    assert_int_equal(cio_profile_task_stats(cio_get_running_loop(), "nobody", &none), -ENOENT);
    return NULL;
}

static void test_rows_by_name(void **state) {
    (void)state;
    run_profiled(rows_main);
}

/* ---- the executor observer (the pools report through it) ---- */

static void *observer_main(void *arg) {
    (void)arg;
    cio_loop *loop = cio_get_running_loop();
    assert_non_null(cio__job_observer); /* installed when a loop profiles */
    cio__job_times t = {.executor = "test pool",
                        .fn = (const void *)(uintptr_t)spinner,
                        .submitted_ns = 1000000000,
                        .started_ns = 1300000000,
                        .ended_ns = 1500000000,
                        .worker = 1};
    cio__job_observer(loop, &t);
    t.started_ns = 1100000000;
    t.ended_ns = 1900000000;
    cio__job_observer(loop, &t);
    t.started_ns = 0; /* a job cancelled before it ran: counted, no times */
    cio__job_observer(loop, &t);
    cio_profile_exec_stats e;
    assert_int_equal(cio_profile_executor_stats(loop, "test pool", &e), 0);
    assert_int_equal(e.jobs, 3);
    assert_true(e.queued > 0.399 && e.queued < 0.401);
    assert_true(e.running > 0.999 && e.running < 1.001);
    assert_true(e.longest > 0.799 && e.longest < 0.801);
    assert_int_equal(cio_profile_executor_stats(loop, "no pool", &e), -ENOENT);
    return NULL;
}

static void test_executor_observer(void **state) {
    (void)state;
    run_profiled(observer_main);
}

/* ---- the table ---- */

static char *slurp(int fd) {
    static char buf[16384];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = 0;
    return buf;
}

static void *table_main(void *arg) {
    (void)arg;
    cio_future *fs[] = {spawn("sleeper", sleeper, NULL), spawn("spinner", spinner, NULL)};
    join(fs, 2);
    char path[] = "/tmp/cio-profile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(cio_profile_print(cio_get_running_loop(), fd), 0);
    char *text = slurp(fd);
    close(fd);
    if (!strstr(text, "`spinner` held the loop for"))
        fputs(text, stderr); /* what the advice was instead */
    assert_non_null(strstr(text, "cio profile ("));
    assert_non_null(strstr(text, "\nsleeper "));
    assert_non_null(strstr(text, "\nspinner "));
    /* 0.05 s of a 0.2 s run on the loop in one step: heavy, and blocking. */
    assert_non_null(strstr(text, "`spinner` held the loop for"));
    assert_non_null(strstr(text, "`sleeper` spent "));
    assert_non_null(strstr(text, "% waiting on I/O or timers: I/O-bound"));
    return NULL;
}

static void test_table_and_advice(void **state) {
    (void)state;
    run_profiled(table_main);
}

static void *spin_main(void *arg) {
    (void)arg;
    cio_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = spawn("resize", spinner, NULL);
    join(fs, 4);
    return NULL;
}

/* CIO_PROFILE=1 prints the table to stderr when cio_run ends. */
static void test_env_prints_at_end(void **state) {
    (void)state;
    char path[] = "/tmp/cio-profile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(setenv("CIO_PROFILE", "1", 1), 0);
    dup2(fd, STDERR_FILENO);
    int r = cio_run(spin_main, NULL, NULL);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(r, 0);
    char *text = slurp(fd);
    close(fd);
    if (!strstr(text, "CPU-bound work blocks the loop"))
        fputs(text, stderr); /* what the advice was instead */
    assert_non_null(strstr(text, "\nresize "));
    assert_non_null(strstr(text, "CPU-bound work blocks the loop"));
    assert_non_null(strstr(text, "process pool"));
}

/* ---- off, and bad input ---- */

static void *off_main(void *arg) {
    (void)arg;
    cio_loop *loop = cio_get_running_loop();
    cio_profile_stats s;
    cio_profile_exec_stats e;
    assert_false(cio_profile_enabled(loop));
    assert_int_equal(cio_profile_task_stats(loop, "main", &s), -ENODATA);
    assert_int_equal(cio_profile_executor_stats(loop, "thread pool", &e), -ENODATA);
    assert_int_equal(cio_profile_print(loop, STDERR_FILENO), -ENODATA);
    assert_int_equal(cio_profile_task_stats(NULL, "main", &s), -EINVAL);
    assert_int_equal(cio_profile_task_stats(loop, NULL, &s), -EINVAL);
    assert_int_equal(cio_profile_task_stats(loop, "main", NULL), -EINVAL);
    assert_int_equal(cio_profile_executor_stats(NULL, "x", &e), -EINVAL);
    assert_int_equal(cio_profile_print(NULL, 2), -EINVAL);
    assert_int_equal(cio_profile_print(loop, -1), -EINVAL);
    assert_false(cio_profile_enabled(NULL));
    return NULL;
}

static void test_off_and_bad_input(void **state) {
    (void)state;
    unsetenv("CIO_PROFILE");
    unsetenv("CIO_TRACE");
    assert_int_equal(cio_run(off_main, NULL, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleep_and_spin),    cmocka_unit_test(test_io_sync_executor_waits),
        cmocka_unit_test(test_rows_by_name),      cmocka_unit_test(test_executor_observer),
        cmocka_unit_test(test_table_and_advice),  cmocka_unit_test(test_env_prints_at_end),
        cmocka_unit_test(test_off_and_bad_input), cmocka_unit_test(test_blocking_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
