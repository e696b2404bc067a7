/* CIO_TRACE: the file is valid JSON in the Chrome trace event format, its
 * events well formed (complete events with a duration, metadata naming the
 * tracks, any begin matched by its end), and it shows what ran: steps on
 * the loop's track, waits on each task's, jobs on their workers'. Enough
 * steps overflow the event buffer, so the mid-run flush is covered. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "executor.h" /* cio__job_observer */
#include "json_mini.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#define YIELDERS 4
#define YIELDS 3000

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *spinner(void *arg) {
    double end = mono() + 0.02;
    volatile unsigned long x = 0;
    (void)arg;
    while (mono() < end)
        x++;
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    return cio_sleep(0.05) < 0 ? cio_fail(-EIO) : NULL;
}

static void *reader(void *arg) {
    char c;
    return cio_read(*(int *)arg, &c, 1, -1) == 1 ? NULL : cio_fail(-EIO);
}

static void *late_writer(void *arg) {
    if (cio_sleep(0.05) < 0 || cio_write(*(int *)arg, "x", 1, -1) != 1)
        return cio_fail(-EIO);
    return NULL;
}

static void *holder(void *arg) {
    if (cio_lock_acquire(arg) < 0)
        return cio_fail(-EIO);
    int r = cio_sleep(0.05);
    cio_lock_release(arg);
    return r < 0 ? cio_fail(r) : NULL;
}

static void *blocking(void *arg) {
    (void)arg;
    struct timespec ts = {0, 50000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void *threaded(void *arg) {
    (void)arg;
    return cio_to_thread(blocking, NULL, NULL) < 0 ? cio_fail(-EIO) : NULL;
}

static void *yielder(void *arg) {
    (void)arg;
    for (int i = 0; i < YIELDS; i++)
        cio_yield();
    return NULL;
}

static cio_future *spawn(const char *name, cio_fn fn, void *arg) {
    cio_future *f = cio_create_task_with(&(cio_task_options){.name = name}, fn, arg);
    assert_non_null(f);
    return f;
}

/* Two jobs as the pools report them: a thread's and a worker process's. */
static void report_jobs(void) {
    uint64_t now = (uint64_t)(mono() * 1e9);
    cio__job_times t = {.executor = "thread pool",
                        .fn = (const void *)(uintptr_t)blocking,
                        .submitted_ns = now - 3000000,
                        .started_ns = now - 2000000,
                        .ended_ns = now - 1000000,
                        .worker = 3};
    cio__job_observer(cio_get_running_loop(), &t);
    t.executor = "process pool";
    t.worker = 4242;
    cio__job_observer(cio_get_running_loop(), &t);
}

static void *traced_main(void *arg) {
    (void)arg;
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    cio_lock *l = cio_lock_new();
    assert_non_null(l);
    static cio_future *fs[YIELDERS + 7];
    size_t n = 0;
    fs[n++] = spawn("spinner", spinner, NULL);
    fs[n++] = spawn("sleeper", sleeper, NULL);
    fs[n++] = spawn("reader", reader, &fds[0]);
    fs[n++] = spawn("writer", late_writer, &fds[1]);
    fs[n++] = spawn("holder", holder, l);
    fs[n++] = spawn("waiter", holder, l);
    fs[n++] = spawn("threaded", threaded, NULL);
    for (int i = 0; i < YIELDERS; i++)
        fs[n++] = spawn("yielder", yielder, NULL);
    assert_int_equal(cio_gather(fs, n, 0), 0);
    for (size_t i = 0; i < n; i++)
        cio_future_unref(fs[i]);
    report_jobs();
    close(fds[0]);
    close(fds[1]);
    cio_lock_free(l);
    return NULL;
}

static char *read_file(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    buf[got] = 0;
    close(fd);
    return buf;
}

static double num(const jm *ev, const char *key) {
    jm *k = jm_get(ev, key);
    assert_non_null(k);
    assert_int_equal(k->type, JM_NUM);
    return k->num;
}

typedef struct seen {
    size_t yielder_steps, spinner_steps, opens;
    bool sleeping, io_read, sync, executor, thread_job, process_job, worker_named;
    double spinner_longest;
} seen;

/* The task track named "task N: name" (0 if none). */
static double task_tid(const jm *events, const char *name) {
    for (const jm *e = events->kids; e; e = e->next) {
        const char *title = jm_str(jm_get(e, "args"), "name");
        const char *colon = title ? strchr(title, ':') : NULL;
        if (colon && strcmp(jm_str(e, "name"), "thread_name") == 0 && strcmp(colon + 2, name) == 0)
            return num(e, "tid");
    }
    return 0;
}

static void check_event(const jm *e, seen *s, double sleeper, double reader, double waiter,
                        double threaded) {
    const char *ph = jm_str(e, "ph"), *name = jm_str(e, "name");
    assert_non_null(ph);
    assert_non_null(name);
    num(e, "pid");
    num(e, "tid");
    if (strcmp(ph, "M") == 0) {
        assert_non_null(jm_get(e, "args"));
        if (strcmp(name, "thread_name") == 0 &&
            strcmp(jm_str(jm_get(e, "args"), "name"), "thread pool worker 3") == 0)
            s->worker_named = true;
        return;
    }
    if (strcmp(ph, "B") == 0 || strcmp(ph, "E") == 0) {
        s->opens += strcmp(ph, "B") == 0 ? 1 : (size_t)-1; /* every E closes a B */
        return;
    }
    assert_string_equal(ph, "X");
    double ts = num(e, "ts"), dur = num(e, "dur"), tid = num(e, "tid");
    assert_true(ts >= 0 && dur >= 0);
    const char *cat = jm_str(e, "cat");
    assert_non_null(cat);
    if (strcmp(cat, "step") == 0) {
        s->yielder_steps += strcmp(name, "yielder") == 0;
        if (strcmp(name, "spinner") == 0) {
            s->spinner_steps++;
            s->spinner_longest = dur > s->spinner_longest ? dur : s->spinner_longest;
        }
    } else if (strcmp(cat, "wait") == 0) {
        s->sleeping |= tid == sleeper && strcmp(name, "sleeping") == 0 && dur > 0;
        s->io_read |= tid == reader && strcmp(name, "I/O read") == 0 && dur > 0;
        s->sync |= tid == waiter && strcmp(name, "sync") == 0 && dur > 0;
        s->executor |= tid == threaded && strcmp(name, "executor") == 0 && dur > 0;
    } else if (strcmp(cat, "job") == 0) {
        assert_string_equal(name, "blocking");
        s->thread_job |= tid == 2000003;
        s->process_job |= num(e, "pid") == 4242;
    }
}

static void check_trace(const char *path) {
    char *text = read_file(path);
    jm *doc = jm_parse(text);
    assert_non_null(doc); /* valid JSON */
    assert_int_equal(doc->type, JM_OBJ);
    assert_non_null(jm_str(doc, "displayTimeUnit"));
    jm *events = jm_get(doc, "traceEvents");
    assert_non_null(events);
    assert_int_equal(events->type, JM_ARR);
    double sleeper = task_tid(events, "sleeper"), reader = task_tid(events, "reader");
    double waiter = task_tid(events, "waiter"), threaded = task_tid(events, "threaded");
    assert_true(sleeper > 0 && reader > 0 && waiter > 0 && threaded > 0);
    seen s = {0};
    for (const jm *e = events->kids; e; e = e->next)
        check_event(e, &s, sleeper, reader, waiter, threaded);
    assert_int_equal(s.opens, 0);
    assert_int_equal(s.yielder_steps, YIELDERS * (YIELDS + 1));
    assert_int_equal(s.spinner_steps, 1);
    assert_true(s.spinner_longest >= 18000); /* µs: it spun 20 ms */
    assert_true(s.sleeping && s.io_read && s.sync && s.executor);
    assert_true(s.thread_job && s.process_job && s.worker_named);
    jm_free(doc);
    free(text);
}

static void test_trace_file(void **state) {
    (void)state;
    char path[] = "/tmp/cio-trace-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unsetenv("CIO_PROFILE");
    cio_options opt = {.trace_path = path};
    assert_int_equal(cio_run_with(&opt, traced_main, NULL, NULL), 0);
    check_trace(path);
    unlink(path);
}

static void *small_main(void *arg) {
    (void)arg;
    assert_true(cio_profile_enabled(cio_get_running_loop()));
    cio_future *f = spawn("sleeper", sleeper, NULL);
    assert_int_equal(cio_await(f, NULL), 0);
    cio_future_unref(f);
    return NULL;
}

/* CIO_TRACE=file from the environment; a short run is still a whole file. */
static void test_trace_env(void **state) {
    (void)state;
    char path[] = "/tmp/cio-trace-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unsetenv("CIO_PROFILE");
    assert_int_equal(setenv("CIO_TRACE", path, 1), 0);
    assert_int_equal(cio_run(small_main, NULL, NULL), 0);
    char *text = read_file(path);
    jm *doc = jm_parse(text);
    assert_non_null(doc);
    assert_non_null(strstr(text, "\"name\":\"sleeping\""));
    jm_free(doc);
    free(text);
    unlink(path);
}

/* A trace that cannot be written is a warning, not a failed run. */
static void test_trace_unwritable(void **state) {
    (void)state;
    cio_options opt = {.trace_path = "/nonexistent-dir/cio/t.json"};
    assert_int_equal(cio_run_with(&opt, small_main, NULL, NULL), 0);
    assert_int_equal(access("/nonexistent-dir/cio/t.json", F_OK), -1);
}

/* The checker itself refuses what is not JSON. */
static void test_checker_rejects(void **state) {
    (void)state;
    const char *bad[] = {"{", "{\"a\":}", "[1,]", "{\"a\" 1}", "[01]", "\"x", "[1] 2", "{'a':1}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_null(jm_parse(bad[i]));
    jm *ok = jm_parse("{\"a\":[1,-2.5e3,true,false,null,\"q\\\"\"]}");
    assert_non_null(ok);
    assert_int_equal(jm_get(ok, "a")->n, 6);
    jm_free(ok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_file),
        cmocka_unit_test(test_trace_env),
        cmocka_unit_test(test_trace_unwritable),
        cmocka_unit_test(test_checker_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
