/* Sockets on io_uring: TCP over IPv4 and IPv6, Unix and UDP sockets, short
 * reads, EOF, cancellation of accept and recv without losing data, poll with
 * a timeout, a reset peer, SIGPIPE, getaddrinfo, 1,000 connections at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_on(int family, struct sockaddr_storage *ss, socklen_t *len) {
    int fd = cio_socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        *len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof *a;
    }
    assert_int_equal(bind(fd, (struct sockaddr *)ss, *len), 0);
    assert_int_equal(listen(fd, 1024), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)ss, len), 0);
    return fd;
}

typedef struct echo_arg {
    int lfd;
    int conns;
} echo_arg;

static void *echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[256];
    ssize_t n;
    while ((n = cio_recv(fd, buf, sizeof buf, 0)) > 0)
        if (cio_send_all(fd, buf, (size_t)n, 0) != n)
            break;
    cio_close(fd);
    return NULL;
}

static void *echo_server(void *arg) {
    echo_arg *e = arg;
    for (int i = 0; i < e->conns; i++) {
        int fd = cio_accept(e->lfd, NULL, NULL);
        if (fd < 0)
            return cio_fail(fd);
        cio_future_unref(cio_create_task(echo_conn, (void *)(intptr_t)fd));
    }
    return NULL;
}

static void round_trip(int family) {
    struct sockaddr_storage ss;
    socklen_t len;
    echo_arg e = {.lfd = listen_on(family, &ss, &len), .conns = 1};
    cio_future *srv = cio_create_task(echo_server, &e);
    int fd = cio_socket(family, SOCK_STREAM, 0);
    assert_int_equal(cio_connect(fd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(cio_send_all(fd, "ping", 4, 0), 4);
    char buf[8] = {0};
    ssize_t got = 0;
    while (got < 4) { /* TCP may deliver it in pieces */
        ssize_t n = cio_recv(fd, buf + got, sizeof buf - 1 - (size_t)got, 0);
        assert_true(n > 0);
        got += n;
    }
    assert_string_equal(buf, "ping");
    assert_int_equal(cio_shutdown(fd, SHUT_WR), 0);
    assert_int_equal(cio_recv(fd, buf, sizeof buf, 0), 0); /* EOF after the echo */
    cio_close(fd);
    assert_int_equal(cio_await(srv, NULL), 0);
    cio_future_unref(srv);
    cio_close(e.lfd);
}

static void *tcp_both_families(void *arg) {
    (void)arg;
    round_trip(AF_INET);
    round_trip(AF_INET6);
    return NULL;
}

static void test_tcp_ipv4_ipv6(void **state) {
    (void)state;
    assert_int_equal(cio_run(tcp_both_families, NULL, NULL), 0);
}

/* ---- cancellation: accept and recv, data kept for the next recv ---- */

static void *accept_one(void *arg) {
    return (void *)(intptr_t)cio_accept((int)(intptr_t)arg, NULL, NULL);
}

typedef struct recv_arg {
    int fd;
    char buf[16];
} recv_arg;

static void *recv_one(void *arg) {
    recv_arg *r = arg;
    return (void *)(intptr_t)cio_recv(r->fd, r->buf, sizeof r->buf, 0);
}

static void *cancellation(void *arg) {
    (void)arg;
    struct sockaddr_storage ss;
    socklen_t len;
    int lfd = listen_on(AF_INET, &ss, &len);
    cio_future *t = cio_create_task(accept_one, (void *)(intptr_t)lfd);
    cio_sleep(0.01);
    cio_cancel(t);
    void *v;
    assert_int_equal(cio_await(t, &v), 0);
    assert_int_equal((intptr_t)v, -ECANCELED);
    cio_future_unref(t);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    recv_arg r = {.fd = sv[0]};
    memset(r.buf, 'x', sizeof r.buf);
    t = cio_create_task(recv_one, &r);
    cio_sleep(0.01);
    cio_cancel(t);
    assert_int_equal(cio_await(t, &v), 0);
    assert_int_equal((intptr_t)v, -ECANCELED);
    cio_future_unref(t);
    assert_int_equal(send(sv[1], "kept", 4, 0), 4);
    cio_sleep(0.01);
    assert_int_equal(r.buf[0], 'x'); /* the cancelled recv took nothing */
    char buf[8] = {0};
    assert_int_equal(cio_recv(sv[0], buf, sizeof buf, 0), 4);
    assert_string_equal(buf, "kept");

    /* poll: a timeout, then readiness */
    assert_int_equal(cio_poll(sv[0], POLLIN, 0.02), 0);
    assert_int_equal(send(sv[1], "!", 1, 0), 1);
    assert_true(cio_poll(sv[0], POLLIN, 1.0) & POLLIN);
    close(sv[0]);
    close(sv[1]);
    cio_close(lfd);
    return NULL;
}

static void test_cancellation_and_poll(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancellation, NULL, NULL), 0);
}

/* ---- UDP, Unix sockets, reset peers, SIGPIPE ---- */

static void *datagrams_and_faults(void *arg) {
    (void)arg;
    int a = cio_socket(AF_INET, SOCK_DGRAM, 0), b = cio_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    assert_int_equal(bind(b, (struct sockaddr *)&addr, len), 0);
    assert_int_equal(getsockname(b, (struct sockaddr *)&addr, &len), 0);
    assert_int_equal(cio_connect(a, (struct sockaddr *)&addr, len), 0);
    assert_int_equal(cio_send(a, "dgram", 5, 0), 5);
    char buf[16] = {0};
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(cio_recvmsg(b, &msg, 0), 5);
    assert_string_equal(buf, "dgram");
    cio_close(a);
    cio_close(b);

    /* Unix stream socket to a closed peer: EPIPE, not a SIGPIPE death */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    assert_int_equal(cio_send(sv[0], "x", 1, 0), -EPIPE);
    close(sv[0]);

    /* A TCP peer that resets: ECONNRESET for this connection only */
    struct sockaddr_storage ss;
    socklen_t sl;
    int lfd = listen_on(AF_INET, &ss, &sl);
    int c = cio_socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(cio_connect(c, (struct sockaddr *)&ss, sl), 0);
    int s = cio_accept(lfd, NULL, NULL);
    assert_true(s >= 0);
    struct linger lg = {1, 0};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c); /* RST */
    assert_int_equal(cio_recv(s, buf, sizeof buf, 0), -ECONNRESET);
    cio_close(s);
    cio_close(lfd);
    return NULL;
}

static void test_udp_unix_reset_sigpipe(void **state) {
    (void)state;
    assert_int_equal(cio_run(datagrams_and_faults, NULL, NULL), 0);
}

/* ---- many connections at once ---- */

#define CONNS 1000

static void *client(void *arg) {
    struct sockaddr_storage *ss = arg;
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return cio_fail(fd);
    int r = cio_connect(fd, (struct sockaddr *)ss, sizeof(struct sockaddr_in));
    char msg[32], back[32] = {0};
    int n = snprintf(msg, sizeof msg, "hello %d", fd);
    if (r == 0)
        r = cio_send_all(fd, msg, (size_t)n, 0) == n ? 0 : -EIO;
    ssize_t got = 0;
    while (r == 0 && got < n) {
        ssize_t k = cio_recv(fd, back + got, sizeof back - 1 - (size_t)got, 0);
        r = k > 0 ? 0 : k < 0 ? (int)k : -EPIPE;
        got += k > 0 ? k : 0;
    }
    cio_close(fd);
    if (r == 0 && strcmp(msg, back) != 0)
        r = -EBADMSG;
    return r ? cio_fail(r) : NULL;
}

static void *thousand(void *arg) {
    (void)arg;
    struct sockaddr_storage ss;
    socklen_t len;
    echo_arg e = {.lfd = listen_on(AF_INET, &ss, &len), .conns = CONNS};
    cio_future *srv = cio_create_task(echo_server, &e);
    cio_future *cs[CONNS];
    for (int i = 0; i < CONNS; i++)
        cs[i] = cio_create_task(client, &ss);
    int ok = 0;
    for (int i = 0; i < CONNS; i++) {
        ok += cio_await(cs[i], NULL) == 0;
        cio_future_unref(cs[i]);
    }
    assert_int_equal(ok, CONNS);
    assert_int_equal(cio_await(srv, NULL), 0);
    cio_future_unref(srv);
    cio_close(e.lfd);
    return NULL;
}

static void test_thousand_connections(void **state) {
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * CONNS + 64 && rl.rlim_max >= 2 * CONNS + 64) {
        rl.rlim_cur = 2 * CONNS + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    assert_int_equal(cio_run(thousand, NULL, NULL), 0);
}

/* ---- add_reader / add_writer: level-triggered callbacks ---- */

typedef struct watch {
    int fd, reads, writes;
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

static void *watchers(void *arg) {
    (void)arg;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    watch w = {.fd = sv[0]};
    assert_int_equal(cio_add_reader(sv[0], on_readable, &w), 0);
    assert_int_equal(cio_add_writer(sv[0], on_writable, &w), 0);
    cio_sleep(0.01);
    assert_int_equal(w.reads, 0); /* nothing to read yet */
    assert_int_equal(w.writes, 1);
    assert_int_equal(write(sv[1], "abcd", 4), 4);
    for (int i = 0; i < 20 && w.reads < 4; i++)
        cio_yield();
    assert_int_equal(w.reads, 4);
    assert_memory_equal(w.got, "abcd", 4);
    assert_int_equal(cio_remove_reader(sv[0]), 1);
    assert_int_equal(cio_remove_reader(sv[0]), 0);
    assert_int_equal(write(sv[1], "e", 1), 1);
    cio_sleep(0.01);
    assert_int_equal(w.reads, 4); /* removed: no more calls */
    assert_int_equal(w.writes, 1);
    assert_int_equal(cio_add_reader(-1, on_readable, &w), -EINVAL);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_reader_writer_callbacks(void **state) {
    (void)state;
    assert_int_equal(cio_run(watchers, NULL, NULL), 0);
    assert_int_equal(cio_add_reader(0, on_readable, NULL), -EPERM);
}

/* ---- name resolution ---- */

static void *resolve(void *arg) {
    (void)arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    assert_int_equal(cio_getaddrinfo("localhost", "80", &hints, &res), 0);
    assert_non_null(res);
    assert_int_equal(res->ai_family, AF_INET);
    freeaddrinfo(res);
    hints.ai_flags = AI_NUMERICHOST;
    int r = cio_getaddrinfo("not an address", NULL, &hints, &res);
    assert_true(r <= CIO_EGAI && r > CIO_EGAI - 100);
    assert_non_null(strstr(cio_strerror(r), "ame")); /* "Name or service not known" */
    return NULL;
}

static void test_getaddrinfo(void **state) {
    (void)state;
    assert_int_equal(cio_run(resolve, NULL, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_ipv4_ipv6),
        cmocka_unit_test(test_cancellation_and_poll),
        cmocka_unit_test(test_udp_unix_reset_sigpipe),
        cmocka_unit_test(test_thousand_connections),
        cmocka_unit_test(test_getaddrinfo),
        cmocka_unit_test(test_reader_writer_callbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
