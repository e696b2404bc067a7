/* Servers: echo round trips, close / wait_closed, 1,000 concurrent
 * connections, a reset or an oversized line hurting one connection only,
 * EMFILE backoff, close_clients, serve_forever. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* What the handlers saw. */
typedef struct stats {
    int handled;
    int resets;
    int too_long;
    int cancelled;
} stats;

/* Echoes lines; an oversized line is answered "ERR\n" and skipped. */
static void line_echo(cio_stream *s, void *arg) {
    stats *st = arg;
    char line[128];
    for (;;) {
        ssize_t n = cio_stream_readline(s, line, sizeof line);
        if (n == CIO_ELIMIT) {
            st->too_long++;
            cio_stream_write(s, "ERR\n", 4);
            while ((n = cio_stream_readline(s, line, sizeof line)) == CIO_ELIMIT) {
                char skip[64];
                cio_stream_read(s, skip, sizeof skip);
            }
            continue;
        }
        if (n == -ECONNRESET)
            st->resets++;
        if (n == -ECANCELED)
            st->cancelled++;
        if (n <= 0)
            break;
        cio_stream_write(s, line, (size_t)n);
        if (cio_stream_drain(s) < 0)
            break;
    }
    st->handled++;
}

static void roundtrip(cio_stream *c, const char *msg) {
    char back[128];
    assert_int_equal(cio_stream_write(c, msg, strlen(msg)), 0);
    assert_int_equal(cio_stream_readline(c, back, sizeof back), (ssize_t)strlen(msg));
    assert_string_equal(back, msg);
}

/* ---- basic echo, close, wait_closed ---- */

static void *echo_main(void *arg) {
    (void)arg;
    stats st = {0};
    cio_server *srv = cio_start_server("127.0.0.1", 0, line_echo, &st);
    assert_non_null(srv);
    unsigned port = cio_server_port(srv);
    assert_true(port > 0);
    cio_stream *c = cio_open_connection("127.0.0.1", port);
    assert_non_null(c);
    roundtrip(c, "hello\n");
    roundtrip(c, "world\n");
    assert_int_equal(cio_server_connections(srv), 1);
    /* Closing stops accepting; the running connection goes on. */
    cio_server_close(srv);
    cio_yield();
    cio_yield();
    roundtrip(c, "still\n");
    errno = 0;
    assert_null(cio_open_connection("127.0.0.1", port));
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(cio_stream_close(c), 0);
    assert_int_equal(cio_server_wait_closed(srv), 0);
    assert_int_equal(cio_server_connections(srv), 0);
    assert_int_equal(st.handled, 1);
    assert_int_equal(cio_server_wait_closed(srv), 0); /* again: at once */
    cio_server_free(srv);
    return NULL;
}

static void test_echo_close_wait_closed(void **state) {
    (void)state;
    assert_int_equal(cio_run(echo_main, NULL, NULL), 0);
}

static void *bad_args_main(void *arg) {
    (void)arg;
    errno = 0;
    assert_null(cio_start_server("127.0.0.1", 0, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    cio_server *a = cio_start_server("127.0.0.1", 0, line_echo, NULL);
    assert_non_null(a);
    errno = 0;
    assert_null(cio_start_server("127.0.0.1", cio_server_port(a), line_echo, NULL));
    assert_int_equal(errno, EADDRINUSE);
    assert_null(cio_start_server("999.1.1.1", 0, line_echo, NULL));
    assert_true(errno > 0);
    cio_server_free(a);
    return NULL;
}

static void test_start_errors(void **state) {
    (void)state;
    assert_int_equal(cio_run(bad_args_main, NULL, NULL), 0);
    errno = 0;
    assert_null(cio_start_server("127.0.0.1", 0, line_echo, NULL)); /* no loop */
    assert_int_equal(errno, EPERM);
}

/* ---- 1,000 concurrent connections ---- */

enum { NCONN = 1000 };

typedef struct client {
    unsigned port;
    int id;
    int ok;
} client;

static void *client_main(void *arg) {
    client *c = arg;
    cio_stream *s = cio_open_connection("127.0.0.1", c->port);
    if (!s)
        return cio_fail(-errno);
    char msg[64], back[64];
    for (int round = 0; round < 3; round++) {
        int n = snprintf(msg, sizeof msg, "client %d round %d\n", c->id, round);
        cio_stream_write(s, msg, (size_t)n);
        if (cio_stream_readline(s, back, sizeof back) != n || strcmp(back, msg) != 0)
            break;
        c->ok++;
        cio_yield();
    }
    cio_stream_close(s);
    return NULL;
}

static void *many_main(void *arg) {
    (void)arg;
    stats st = {0};
    cio_server *srv = cio_start_server("127.0.0.1", 0, line_echo, &st);
    assert_non_null(srv);
    client *cs = calloc(NCONN, sizeof *cs);
    cio_future **ts = calloc(NCONN, sizeof *ts);
    for (int i = 0; i < NCONN; i++) {
        cs[i] = (client){.port = cio_server_port(srv), .id = i};
        ts[i] = cio_create_task(client_main, &cs[i]);
    }
    size_t peak = 0;
    for (int i = 0; i < NCONN; i++) {
        if (cio_server_connections(srv) > peak)
            peak = cio_server_connections(srv);
        assert_int_equal(cio_await(ts[i], NULL), 0);
        assert_int_equal(cs[i].ok, 3);
        cio_future_unref(ts[i]);
    }
    cio_server_close(srv);
    assert_int_equal(cio_server_wait_closed(srv), 0);
    assert_int_equal(st.handled, NCONN);
    assert_true(peak > 1); /* they really overlapped */
    cio_server_free(srv);
    free(cs);
    free(ts);
    return NULL;
}

static void test_thousand_concurrent_connections(void **state) {
    (void)state;
    assert_int_equal(cio_run(many_main, NULL, NULL), 0);
}

/* ---- faults that hurt one connection only ---- */

static void *faults_main(void *arg) {
    (void)arg;
    stats st = {0};
    cio_server *srv = cio_start_server("127.0.0.1", 0, line_echo, &st);
    unsigned port = cio_server_port(srv);
    cio_stream *good = cio_open_connection("127.0.0.1", port);
    cio_stream *bad = cio_open_connection("127.0.0.1", port);
    cio_stream *big = cio_open_connection("127.0.0.1", port);
    roundtrip(good, "one\n");
    roundtrip(bad, "two\n");
    roundtrip(big, "three\n");
    /* An oversized line: an error for that stream's handler, which goes on. */
    char huge[300];
    memset(huge, 'h', sizeof huge);
    huge[sizeof huge - 1] = '\n';
    cio_stream_write(big, huge, sizeof huge);
    char line[16];
    assert_int_equal(cio_stream_readline(big, line, sizeof line), 4);
    assert_string_equal(line, "ERR\n");
    roundtrip(big, "after\n");
    /* A reset: -ECONNRESET for that connection's task only. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(cio_stream_fd(bad), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    cio_stream_close(bad);
    while (st.handled < 1)
        cio_sleep(0.01);
    assert_int_equal(st.resets, 1);
    roundtrip(good, "four\n");
    roundtrip(big, "five\n");
    assert_int_equal(st.too_long, 1);
    assert_int_equal(cio_server_connections(srv), 2);
    cio_stream_close(good);
    cio_stream_close(big);
    cio_server_close(srv);
    assert_int_equal(cio_server_wait_closed(srv), 0);
    assert_int_equal(st.handled, 3);
    cio_server_free(srv);
    return NULL;
}

static void test_reset_and_long_line_hit_one_connection(void **state) {
    (void)state;
    assert_int_equal(cio_run(faults_main, NULL, NULL), 0);
}

/* ---- EMFILE ---- */

enum { NFD_CLIENTS = 12, SERVER_SLOTS = 2 };

static void *emfile_client(void *arg) {
    client *c = arg;
    cio_stream *s = cio_stream_new(c->id); /* a socket made before the limit */
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)c->port),
                            .sin_addr.s_addr = htonl(0x7f000001)};
    if (cio_connect(c->id, (struct sockaddr *)&a, sizeof a) == 0) {
        char back[32];
        cio_stream_write(s, "ping\n", 5);
        if (cio_stream_readline(s, back, sizeof back) == 5)
            c->ok = 1;
    }
    cio_stream_close(s); /* frees a slot for the server */
    return NULL;
}

static void *emfile_main(void *arg) {
    (void)arg;
    stats st = {0};
    cio_server *srv = cio_start_server("127.0.0.1", 0, line_echo, &st);
    client cs[NFD_CLIENTS];
    int maxfd = 0;
    for (int i = 0; i < NFD_CLIENTS; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        maxfd = fd > maxfd ? fd : maxfd;
        cs[i] = (client){.port = cio_server_port(srv), .id = fd};
    }
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)maxfd + 1 + SERVER_SLOTS;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    cio_future *ts[NFD_CLIENTS];
    for (int i = 0; i < NFD_CLIENTS; i++)
        ts[i] = cio_create_task(emfile_client, &cs[i]);
    int ok = 0;
    for (int i = 0; i < NFD_CLIENTS; i++) {
        assert_int_equal(cio_await(ts[i], NULL), 0);
        cio_future_unref(ts[i]);
        ok += cs[i].ok;
    }
    setrlimit(RLIMIT_NOFILE, &old);
    /* Every client was served although the server ran out of descriptors. */
    assert_int_equal(ok, NFD_CLIENTS);
    cio_server_close(srv);
    assert_int_equal(cio_server_wait_closed(srv), 0);
    assert_int_equal(st.handled, NFD_CLIENTS);
    cio_server_free(srv);
    return NULL;
}

static void test_emfile_backs_off_and_keeps_serving(void **state) {
    (void)state;
    assert_int_equal(cio_run(emfile_main, NULL, NULL), 0);
}

/* ---- close_clients, serve_forever, free ---- */

static void *serve(void *srv) {
    return (void *)(intptr_t)cio_server_serve_forever(srv);
}

static void *clients_main(void *arg) {
    (void)arg;
    stats st = {0};
    cio_server *srv = cio_start_server(NULL, 0, line_echo, &st);
    assert_non_null(srv);
    cio_future *sf = cio_create_task(serve, srv);
    cio_stream *a = cio_open_connection("127.0.0.1", cio_server_port(srv));
    cio_stream *b = cio_open_connection(NULL, cio_server_port(srv));
    assert_non_null(a);
    assert_non_null(b);
    roundtrip(a, "a\n");
    roundtrip(b, "b\n");
    /* Cancelling serve_forever closes the server. */
    cio_cancel(sf);
    void *r;
    assert_int_equal(cio_await(sf, &r), 0);
    assert_int_equal((intptr_t)r, -ECANCELED);
    cio_future_unref(sf);
    /* Handlers parked in reads are cancelled; clients see EOF. */
    cio_server_close_clients(srv);
    assert_int_equal(cio_server_wait_closed(srv), 0);
    assert_int_equal(st.cancelled, 2);
    char buf[4];
    assert_int_equal(cio_stream_read(a, buf, sizeof buf), 0);
    assert_int_equal(cio_stream_read(b, buf, sizeof buf), 0);
    cio_stream_close(a);
    cio_stream_close(b);
    cio_server_free(srv);
    return NULL;
}

static void test_close_clients_and_serve_forever(void **state) {
    (void)state;
    assert_int_equal(cio_run(clients_main, NULL, NULL), 0);
}

/* Freeing a server with live connections, then leaving cio_run with them
 * still open: everything is released (ASan's leak check). */
static stats free_stats; /* handlers outlive free_main */

static void *free_main(void *arg) {
    (void)arg;
    cio_server *srv = cio_start_server("127.0.0.1", 0, line_echo, &free_stats);
    cio_stream *a = cio_open_connection("127.0.0.1", cio_server_port(srv));
    roundtrip(a, "x\n");
    cio_server_free(srv);
    char buf[4];
    assert_int_equal(cio_stream_read(a, buf, sizeof buf), 0);
    cio_stream_close(a);
    cio_server *srv2 = cio_start_server("127.0.0.1", 0, line_echo, &free_stats);
    cio_stream *b = cio_open_connection("127.0.0.1", cio_server_port(srv2));
    roundtrip(b, "y\n");
    cio_stream_close(b);
    cio_server_free(srv2);
    return NULL;
}

static void test_free_with_live_connections(void **state) {
    (void)state;
    assert_int_equal(cio_run(free_main, NULL, NULL), 0);
}

/* Freeing a server at every point of its accept cycle: connections accepted
 * but whose task never ran, tasks just started, handlers parked. Nothing
 * may leak or be touched after release (ASan). */
static void *free_race_main(void *arg) {
    (void)arg;
    for (int round = 0; round < 40; round++) {
        cio_server *srv = cio_start_server("127.0.0.1", 0, line_echo, &free_stats);
        assert_non_null(srv);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)cio_server_port(srv)),
                                .sin_addr.s_addr = htonl(0x7f000001)};
        int fds[4];
        for (int i = 0; i < 4; i++) {
            fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0);
        }
        for (int i = 0; i < round % 5; i++)
            cio_yield();
        cio_server_free(srv);
        for (int i = 0; i < 4; i++)
            close(fds[i]);
    }
    return NULL;
}

static void test_free_races_with_accepts(void **state) {
    (void)state;
    assert_int_equal(cio_run(free_race_main, NULL, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_close_wait_closed),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_thousand_concurrent_connections),
        cmocka_unit_test(test_reset_and_long_line_hit_one_connection),
        cmocka_unit_test(test_emfile_backs_off_and_keeps_serving),
        cmocka_unit_test(test_close_clients_and_serve_forever),
        cmocka_unit_test(test_free_with_live_connections),
        cmocka_unit_test(test_free_races_with_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
