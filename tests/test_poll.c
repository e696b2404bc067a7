/* Readiness: cio_poll (readiness, timeouts, timeout 0, cancellation, bad
 * input, many pollers at once) and add_reader / add_writer callbacks
 * (level-triggered, removal from inside, replacement). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void pair(int sv[2]) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void *poll_basics(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    double t0 = cio_loop_time(cio_get_running_loop());
    assert_int_equal(cio_poll(sv[0], POLLIN, 0.05), 0); /* nothing to read: the deadline */
    assert_true(cio_loop_time(cio_get_running_loop()) - t0 >= 0.04);
    assert_int_equal(cio_poll(sv[0], POLLIN, 0), 0); /* a check, no wait */
    assert_int_equal(cio_poll(sv[0], POLLOUT, 0) & POLLOUT, POLLOUT);
    assert_int_equal(cio_poll(sv[0], POLLOUT, -1) & POLLOUT, POLLOUT);
    assert_int_equal(send(sv[1], "!", 1, 0), 1);
    assert_true(cio_poll(sv[0], POLLIN, 1.0) & POLLIN);
    assert_true(cio_poll(sv[0], POLLIN, 0) & POLLIN);
    close(sv[1]);
    char c;
    assert_int_equal(read(sv[0], &c, 1), 1);
    assert_true(cio_poll(sv[0], POLLIN, -1) & (POLLIN | POLLHUP)); /* EOF is readiness */
    close(sv[0]);
    /* bad input */
    assert_int_equal(cio_poll(-1, POLLIN, 1.0), -EINVAL);
    assert_int_equal(cio_poll(sv[0], 0, 1.0), -EINVAL);
    assert_int_equal(cio_poll(sv[0], POLLIN, 0), -EBADF); /* closed above */
    assert_int_equal(cio_poll(sv[0], POLLIN, 1.0), -EBADF);
    return NULL;
}

static void test_poll_basics(void **state) {
    (void)state;
    assert_int_equal(cio_run(poll_basics, NULL, NULL), 0);
    assert_int_equal(cio_poll(0, POLLIN, 0), -EPERM); /* outside a task */
}

/* A cancelled poll reports -ECANCELED, not a timeout (0), even with a
 * deadline pending; a later poll on the same fd still works. */
static void *poll_forever(void *arg) {
    return (void *)(intptr_t)cio_poll((int)(intptr_t)arg, POLLIN, 10.0);
}

static void *poll_cancel(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    cio_future *t = cio_create_task(poll_forever, (void *)(intptr_t)sv[0]);
    cio_sleep(0.01);
    assert_true(cio_cancel(t));
    void *v;
    assert_int_equal(cio_await(t, &v), 0);
    assert_int_equal((intptr_t)v, -ECANCELED);
    cio_future_unref(t);
    assert_int_equal(send(sv[1], "x", 1, 0), 1);
    assert_true(cio_poll(sv[0], POLLIN, 1.0) & POLLIN);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_poll_cancel(void **state) {
    (void)state;
    assert_int_equal(cio_run(poll_cancel, NULL, NULL), 0);
}

/* More pollers with deadlines than the ring has entries: each gets its own
 * result; the timeouts overlap (all in about one deadline, not in series). */
#define POLLERS 300

static void *poll_short(void *arg) {
    return (void *)(intptr_t)cio_poll((int)(intptr_t)arg, POLLIN, 0.2);
}

static void *many_pollers(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    cio_future *fs[POLLERS];
    double t0 = cio_loop_time(cio_get_running_loop());
    for (int i = 0; i < POLLERS; i++)
        fs[i] = cio_create_task(poll_short, (void *)(intptr_t)sv[0]);
    for (int i = 0; i < POLLERS; i++) {
        void *v;
        assert_int_equal(cio_await(fs[i], &v), 0);
        assert_int_equal((intptr_t)v, 0);
        cio_future_unref(fs[i]);
    }
    /* in series they would take POLLERS x 0.2 = 60 s; overlapped about 0.2 s
     * (the bound is loose for sanitizers on a loaded machine) */
    assert_true(cio_loop_time(cio_get_running_loop()) - t0 < 30.0);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_many_pollers(void **state) {
    (void)state;
    cio_options opt = {.ring_entries = 64};
    assert_int_equal(cio_run_with(&opt, many_pollers, NULL, NULL), 0);
}

/* ---- add_reader / add_writer ---- */

typedef struct watch {
    int fd, reads, writes, other;
    char got[8];
} watch;

static void on_readable(void *arg) {
    watch *w = arg;
    /* one byte per call: the rest must bring the callback back */
    if (read(w->fd, w->got + w->reads, 1) == 1)
        w->reads++;
}

static void on_writable(void *arg) {
    watch *w = arg;
    w->writes++;
    cio_remove_writer(w->fd); /* removing itself from inside is fine */
}

static void on_other(void *arg) {
    watch *w = arg;
    char c;
    if (read(w->fd, &c, 1) == 1)
        w->other++;
}

static int wsv[2];

static void *watchers(void *arg) {
    (void)arg;
    int *sv = wsv;
    pair(sv);
    static watch w; /* the last reader outlives this task */
    w = (watch){.fd = sv[0]};
    assert_int_equal(cio_add_reader(sv[0], on_readable, &w), 0);
    assert_int_equal(cio_add_writer(sv[0], on_writable, &w), 0);
    cio_sleep(0.01);
    assert_int_equal(w.reads, 0); /* nothing to read yet */
    assert_int_equal(w.writes, 1);
    assert_int_equal(write(sv[1], "abcd", 4), 4);
    for (int i = 0; i < 50 && w.reads < 4; i++)
        cio_yield();
    assert_int_equal(w.reads, 4);
    assert_memory_equal(w.got, "abcd", 4);
    /* adding again replaces the callback */
    assert_int_equal(cio_add_reader(sv[0], on_other, &w), 0);
    assert_int_equal(write(sv[1], "ef", 2), 2);
    for (int i = 0; i < 50 && w.other < 2; i++)
        cio_yield();
    assert_int_equal(w.other, 2);
    assert_int_equal(w.reads, 4);
    assert_true(cio_remove_reader(sv[0]));
    assert_false(cio_remove_reader(sv[0]));
    assert_false(cio_remove_writer(sv[0]));
    assert_int_equal(write(sv[1], "g", 1), 1);
    cio_sleep(0.01);
    assert_int_equal(w.reads + w.other, 6); /* removed: no more calls */
    assert_int_equal(w.writes, 1);
    assert_int_equal(cio_add_reader(-1, on_readable, &w), -EINVAL);
    assert_int_equal(cio_add_reader(sv[0], NULL, &w), -EINVAL);
    /* a reader left in place when the loop closes is released with it */
    assert_int_equal(cio_add_reader(sv[0], on_other, &w), 0);
    return NULL;
}

static void test_reader_writer_callbacks(void **state) {
    (void)state;
    assert_int_equal(cio_run(watchers, NULL, NULL), 0);
    close(wsv[0]);
    close(wsv[1]);
    assert_int_equal(cio_add_reader(0, on_readable, NULL), -EPERM);
    assert_false(cio_remove_reader(0)); /* no running loop: nothing to remove */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_basics),
        cmocka_unit_test(test_poll_cancel),
        cmocka_unit_test(test_many_pollers),
        cmocka_unit_test(test_reader_writer_callbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
