/* One loop per core: cio_run_threads (indexes, results, errors), a 2-loop
 * echo server sharing a port with SO_REUSEPORT where every connection is
 * served and counted, messages between loops both ways, and debug mode
 * catching a loop's task touched from another loop. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- run_threads basics ---- */

static atomic_int seen[4];

static void *index_main(void *arg) {
    (void)arg;
    int i = cio_thread_index();
    if (i < 0 || i >= 4 || !cio_get_running_loop())
        return cio_fail(-EINVAL);
    atomic_fetch_add(&seen[i], 1);
    if (i == 2)
        return cio_fail(-EIO);
    return (void *)(intptr_t)(i + 100);
}

static void test_run_threads(void **state) {
    (void)state;
    void *results[4] = {0};
    assert_int_equal(cio_run_threads(4, NULL, index_main, NULL, results), -EIO);
    for (int i = 0; i < 4; i++)
        assert_int_equal(atomic_load(&seen[i]), 1);
    assert_ptr_equal(results[0], (void *)100);
    assert_ptr_equal(results[3], (void *)103);
    assert_int_equal(cio_thread_index(), -1);
    assert_int_equal(cio_run_threads(1, NULL, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(cio_run_threads(5000, NULL, index_main, NULL, NULL), -EINVAL);
}

/* ---- a 2-loop echo server ---- */

enum { LOOPS = 2, CONNS = 200 };

typedef struct shared {
    _Atomic(cio_loop *) loops[LOOPS];
    atomic_uint port;
    atomic_int served[LOOPS];
    cio_event *stop[LOOPS];
    int client_ok;
} shared;

static void echo(cio_stream *s, void *arg) {
    shared *sh = arg;
    char line[128];
    ssize_t n = cio_stream_readline(s, line, sizeof line);
    if (n > 0 && cio_stream_write(s, line, (size_t)n) == 0)
        atomic_fetch_add(&sh->served[cio_thread_index()], 1);
}

static void set_stop(void *arg) {
    cio_event_set(arg);
}

static void *server_main(void *arg) {
    shared *sh = arg;
    int i = cio_thread_index();
    cio_server_options o = {.reuse_port = 1};
    while (i > 0 && !atomic_load(&sh->port)) /* the second loop joins the first's port */
        cio_sleep(0.001);
    cio_server *srv = cio_start_server_with(&o, "127.0.0.1", atomic_load(&sh->port), echo, sh);
    if (!srv)
        return cio_fail(-errno);
    sh->stop[i] = cio_event_new();
    if (i == 0)
        atomic_store(&sh->port, cio_server_port(srv));
    atomic_store(&sh->loops[i], cio_get_running_loop()); /* published last: stop[i] is set */
    int r = cio_event_wait(sh->stop[i]);
    cio_server_close(srv);
    if (r == 0)
        r = cio_server_wait_closed(srv);
    cio_server_free(srv);
    cio_event_free(sh->stop[i]);
    return r < 0 ? cio_fail(r) : NULL;
}

static int one_connection(unsigned port, int i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char msg[32], back[32] = {0};
    int n = snprintf(msg, sizeof msg, "hello %d\n", i);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, msg, (size_t)n) == n;
    size_t got = 0;
    while (ok && got < (size_t)n) {
        ssize_t k = read(fd, back + got, sizeof back - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    return ok && got == (size_t)n && memcmp(msg, back, (size_t)n) == 0;
}

static void *client(void *arg) {
    shared *sh = arg;
    for (int i = 0; i < LOOPS; i++)
        while (!atomic_load(&sh->loops[i]))
            usleep(1000);
    for (int i = 0; i < CONNS; i++)
        sh->client_ok += one_connection(atomic_load(&sh->port), i);
    for (int i = 0; i < LOOPS; i++)
        cio_call_soon_threadsafe(atomic_load(&sh->loops[i]), set_stop, sh->stop[i]);
    return NULL;
}

static void test_two_loop_echo(void **state) {
    (void)state;
    static shared sh;
    pthread_t c;
    assert_int_equal(pthread_create(&c, NULL, client, &sh), 0);
    assert_int_equal(cio_run_threads(LOOPS, NULL, server_main, &sh, NULL), 0);
    pthread_join(c, NULL);
    assert_int_equal(sh.client_ok, CONNS);
    int total = 0;
    for (int i = 0; i < LOOPS; i++) {
        assert_true(atomic_load(&sh.served[i]) > 0); /* each loop accepted its share */
        total += atomic_load(&sh.served[i]);
    }
    assert_int_equal(total, CONNS);
}

/* ---- messages between loops ---- */

enum { PINGS = 10000 };

typedef struct pingpong {
    _Atomic(cio_loop *) loops[2];
    int pings, pongs; /* each touched by one loop only */
    cio_event *done[2];
} pingpong;

static pingpong pp;

static void pong(void *arg) {
    (void)arg;
    if (++pp.pongs == PINGS)
        cio_event_set(pp.done[0]);
}

static void ping(void *arg) {
    (void)arg;
    pp.pings++;
    while (cio_call_soon_threadsafe(atomic_load(&pp.loops[0]), pong, NULL) < 0)
        ; /* -ENOMEM only */
}

static void finish(void *arg) {
    (void)arg;
    cio_event_set(pp.done[1]);
}

static void *pingpong_main(void *arg) {
    (void)arg;
    int i = cio_thread_index();
    pp.done[i] = cio_event_new();
    atomic_store(&pp.loops[i], cio_get_running_loop());
    while (!atomic_load(&pp.loops[1 - i]))
        cio_sleep(0.001);
    if (i == 0) {
        cio_loop *other = atomic_load(&pp.loops[1]);
        for (int k = 0; k < PINGS; k++) {
            if (cio_call_soon_threadsafe(other, ping, NULL) < 0)
                return cio_fail(-ENOMEM);
            if (k % 256 == 255)
                cio_yield(); /* let pongs in */
        }
        cio_event_wait(pp.done[0]);
        cio_call_soon_threadsafe(other, finish, NULL);
    } else {
        cio_event_wait(pp.done[1]);
    }
    cio_event_free(pp.done[i]);
    return NULL;
}

static void test_messages_between_loops(void **state) {
    (void)state;
    assert_int_equal(cio_run_threads(2, NULL, pingpong_main, NULL, NULL), 0);
    assert_int_equal(pp.pings, PINGS);
    assert_int_equal(pp.pongs, PINGS);
}

/* ---- debug mode: a task of one loop cancelled from another aborts ---- */

static _Atomic(cio_future *) foreign_task;

/* Sleeps until the other loop's abort ends the process: no margin of time
 * for a slow (sanitized) run to miss; a missing abort is the test's timeout. */
static void *sleeper(void *arg) {
    (void)arg;
    for (;;)
        cio_sleep(1);
    return NULL;
}

static void *cross_main(void *arg) {
    (void)arg;
    if (cio_thread_index() == 0) {
        cio_future *t = cio_create_task(sleeper, NULL);
        atomic_store(&foreign_task, t);
        cio_await(t, NULL);
        cio_future_unref(t);
    } else {
        while (!atomic_load(&foreign_task))
            cio_sleep(0.001);
        cio_cancel(atomic_load(&foreign_task)); /* aborts in debug mode */
    }
    return NULL;
}

static _Atomic(cio_stream *) foreign_stream;

/* Loop 1 writes to a stream of loop 0. */
static void *cross_stream_main(void *arg) {
    (void)arg;
    if (cio_thread_index() == 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
            return cio_fail(-errno);
        cio_stream *s = cio_stream_new(sv[0]);
        cio_stream_write(s, "mine", 4); /* binds it to this loop */
        atomic_store(&foreign_stream, s);
        sleeper(NULL);
    } else {
        while (!atomic_load(&foreign_stream))
            cio_sleep(0.001);
        cio_stream_write(atomic_load(&foreign_stream), "x", 1); /* aborts in debug mode */
    }
    return NULL;
}

static int run_in_child(cio_fn body) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Quiet, but fd 2 stays taken: a closed 2 would be the next fd made
         * (an epoll fd), and debug mode's log lines would be written into it. */
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 2) < 0)
            _exit(1);
        cio_options o = {.debug = 1};
        cio_run_threads(2, &o, body, NULL, NULL);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void test_debug_catches_cross_loop(void **state) {
    (void)state;
    int st = run_in_child(cross_main);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = run_in_child(cross_stream_main);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_threads),
        cmocka_unit_test(test_two_loop_echo),
        cmocka_unit_test(test_messages_between_loops),
        cmocka_unit_test(test_debug_catches_cross_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
