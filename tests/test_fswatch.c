/* Directory watching: every kind of record with its names, renames with both
 * names, a burst of 10,000 files (each seen, or an overflow reported), the
 * overflow path itself, the watched directory going away, cancellation, bad
 * input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "scratch_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { BURST = 10000 };

static int setup(void **state) {
    (void)state;
    return scratch_make("/dev/shm/cio_watch_XXXXXX");
}

static void expect(cio_watch *w, int kind, const char *name, const char *old) {
    cio_watch_event ev;
    assert_int_equal(cio_watch_next(w, &ev), 0);
    assert_int_equal(ev.kind, kind);
    if (name)
        assert_string_equal(ev.name, name);
    else
        assert_null(ev.name);
    if (old)
        assert_string_equal(ev.old_name, old);
    else
        assert_null(ev.old_name);
}

static void *kinds_main(void *arg) {
    (void)arg;
    cio_watch *w = cio_watch_new(dir, CIO_WATCH_ALL);
    assert_non_null(w);
    int fd = open(at("a"), O_CREAT | O_WRONLY, 0644);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    expect(w, CIO_WATCH_CREATE, "a", NULL);
    expect(w, CIO_WATCH_MODIFY, "a", NULL);
    expect(w, CIO_WATCH_CLOSE_WRITE, "a", NULL);
    assert_int_equal(rename(at("a"), at("b")), 0);
    expect(w, CIO_WATCH_MOVE, "b", "a"); /* both names in one record */
    /* out of the directory, and back in */
    char outside[128];
    snprintf(outside, sizeof outside, "%s.out", dir);
    assert_int_equal(rename(at("b"), outside), 0);
    expect(w, CIO_WATCH_MOVE, NULL, "b");
    assert_int_equal(rename(outside, at("c")), 0);
    expect(w, CIO_WATCH_MOVE, "c", NULL);
    assert_int_equal(unlink(at("c")), 0);
    expect(w, CIO_WATCH_DELETE, "c", NULL);
    assert_int_equal(mkdir(at("d"), 0755), 0);
    cio_watch_event ev;
    assert_int_equal(cio_watch_next(w, &ev), 0);
    assert_int_equal(ev.kind, CIO_WATCH_CREATE);
    assert_true(ev.is_dir);
    assert_int_equal(rmdir(at("d")), 0);
    expect(w, CIO_WATCH_DELETE, "d", NULL);
    /* The watched directory goes: one GONE, then CIO_ESHUTDOWN. */
    assert_int_equal(rmdir(dir), 0);
    expect(w, CIO_WATCH_GONE, NULL, NULL);
    assert_int_equal(cio_watch_next(w, &ev), CIO_ESHUTDOWN);
    assert_int_equal(cio_watch_next(w, &ev), CIO_ESHUTDOWN);
    cio_watch_free(w);
    assert_int_equal(mkdir(dir, 0700), 0); /* for the teardown */
    return NULL;
}

static void test_kinds(void **state) {
    (void)state;
    run(kinds_main, NULL);
}

/* ---- a burst while the task reads ---- */

static void *make_files(void *arg) {
    (void)arg;
    for (int i = 0; i < BURST; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%05d", i);
        int fd = open(at(name), O_CREAT | O_WRONLY, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    int fd = open(at("zz-end"), O_CREAT | O_WRONLY, 0644);
    close(fd);
    return NULL;
}

static void *burst_main(void *arg) {
    (void)arg;
    cio_watch *w = cio_watch_new(dir, CIO_WATCH_CREATE);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, make_files, NULL), 0);
    static bool seen[BURST];
    memset(seen, 0, sizeof seen);
    int overflows = 0;
    cio_watch_event ev;
    for (;;) {
        assert_int_equal(cio_watch_next(w, &ev), 0);
        if (ev.kind == CIO_WATCH_OVERFLOW) {
            overflows++;
            continue;
        }
        assert_int_equal(ev.kind, CIO_WATCH_CREATE);
        if (!strcmp(ev.name, "zz-end"))
            break;
        int i = atoi(ev.name + 1);
        assert_false(seen[i]); /* never twice */
        seen[i] = true;
    }
    pthread_join(th, NULL);
    int missing = 0;
    for (int i = 0; i < BURST; i++)
        missing += !seen[i];
    /* Nothing is lost silently: all seen, or the loss was reported. */
    assert_true(missing == 0 || overflows > 0);
    cio_watch_free(w);
    return NULL;
}

static void test_burst(void **state) {
    (void)state;
    run(burst_main, NULL);
}

/* ---- the overflow path: more records than the kernel queues ---- */

static long max_queued(void) {
    FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    long n = 16384;
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = 16384;
        fclose(f);
    }
    return n;
}

static void *overflow_main(void *arg) {
    (void)arg;
    long n = max_queued() + 100;
    if (n > 200000)
        return NULL; /* a host with a huge queue: the burst test still ran */
    cio_watch *w = cio_watch_new(dir, CIO_WATCH_CREATE);
    for (long i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "o%06ld", i);
        assert_int_equal(mkdir(at(name), 0700), 0); /* cheaper than files */
    }
    cio_watch_event ev;
    long creates = 0;
    int r;
    while ((r = cio_watch_next(w, &ev)) == 0 && ev.kind == CIO_WATCH_CREATE)
        creates++;
    assert_int_equal(r, 0);
    assert_int_equal(ev.kind, CIO_WATCH_OVERFLOW);
    assert_int_equal(creates, n - 100);
    /* And records flow again afterwards. */
    assert_int_equal(mkdir(at("after"), 0700), 0);
    expect(w, CIO_WATCH_CREATE, "after", NULL);
    cio_watch_free(w);
    return NULL;
}

static void test_overflow(void **state) {
    (void)state;
    run(overflow_main, NULL);
}

/* ---- cancellation and bad input ---- */

static void *waiter(void *arg) {
    cio_watch_event ev;
    int r = cio_watch_next(arg, &ev);
    return r < 0 ? cio_fail(r) : NULL;
}

static void *cancel_main(void *arg) {
    (void)arg;
    cio_watch *w = cio_watch_new(dir, CIO_WATCH_CREATE);
    cio_future *f = cio_create_task(waiter, w);
    cio_sleep(0.01);
    assert_true(cio_cancel(f));
    assert_int_equal(cio_await(f, NULL), -ECANCELED);
    cio_future_unref(f);
    /* Nothing lost: a record that arrives later is there. */
    assert_int_equal(mkdir(at("x"), 0700), 0);
    expect(w, CIO_WATCH_CREATE, "x", NULL);
    assert_int_equal(cio_watch_next(NULL, NULL), -EINVAL);
    assert_int_equal(cio_watch_next(w, NULL), -EINVAL);
    cio_watch_free(w);
    return NULL;
}

static void test_cancel_and_bad_input(void **state) {
    (void)state;
    run(cancel_main, NULL);
    assert_null(cio_watch_new(NULL, CIO_WATCH_ALL));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_watch_new(dir, 0));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_watch_new(dir, 1 << 20));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_watch_new("/nonexistent/cio", CIO_WATCH_ALL));
    assert_int_equal(errno, ENOENT);
    assert_int_equal(cio_watch_fd(NULL), -EINVAL);
    cio_watch_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
