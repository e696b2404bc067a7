/* Sockets on io_uring: TCP over IPv4 and IPv6, Unix and UDP sockets, short
 * reads and writes, EOF, cancellation of accept and recv without losing
 * data, a reset peer, SIGPIPE, EMFILE, 1,000 connections at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

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
#include <fcntl.h>
#include <unistd.h>

#include "acceptor.h"
#include "loop.h"

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
    close(sv[0]);
    close(sv[1]);
    cio_close(lfd);
    return NULL;
}

static void test_cancellation(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancellation, NULL, NULL), 0);
}

/* ---- short reads and writes, non-blocking fds ---- */

typedef struct drain_arg {
    int fd;
    size_t want, got;
} drain_arg;

static void *drain(void *arg) {
    drain_arg *d = arg;
    char buf[4096]; /* tasks have small stacks */
    while (d->got < d->want) {
        ssize_t n = cio_recv(d->fd, buf, sizeof buf, 0);
        if (n <= 0)
            return cio_fail(n < 0 ? (int)n : -EPIPE);
        d->got += (size_t)n;
    }
    return NULL;
}

static void *short_io(void *arg) {
    (void)arg;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    /* a read smaller than what is there: short, the rest stays */
    assert_int_equal(cio_send(sv[1], "0123456789", 10, 0), 10);
    char buf[16] = {0};
    assert_int_equal(cio_recv(sv[0], buf, 4, 0), 4);
    assert_memory_equal(buf, "0123", 4);
    assert_int_equal(cio_recv(sv[0], buf, sizeof buf, 0), 6);
    assert_memory_equal(buf, "456789", 6);
    /* a send bigger than the socket buffer with nobody reading: partial */
    size_t big = 8 << 20;
    char *data = calloc(1, big);
    ssize_t n = cio_send(sv[1], data, big, 0);
    assert_true(n > 0 && (size_t)n < big);
    /* send_all finishes it once somebody reads */
    drain_arg d = {.fd = sv[0], .want = big + (size_t)n};
    cio_future *t = cio_create_task(drain, &d);
    assert_int_equal(cio_send_all(sv[1], data, big, 0), (ssize_t)big);
    assert_int_equal(cio_await(t, NULL), 0);
    assert_int_equal(d.got, d.want);
    cio_future_unref(t);
    free(data);
    /* a socket somebody made non-blocking still waits for data */
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    recv_arg r = {.fd = sv[0]};
    t = cio_create_task(recv_one, &r);
    cio_sleep(0.01);
    assert_false(cio_future_done(t));
    assert_int_equal(send(sv[1], "late", 4, 0), 4);
    void *v;
    assert_int_equal(cio_await(t, &v), 0);
    assert_int_equal((intptr_t)v, 4);
    cio_future_unref(t);
    /* MSG_DONTWAIT keeps its meaning */
    assert_int_equal(cio_recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), -EAGAIN);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_short_io(void **state) {
    (void)state;
    assert_int_equal(cio_run(short_io, NULL, NULL), 0);
}

/* ---- cancelled recvs racing with data: not a byte lost or misplaced ---- */

#define ROUNDS 200

static void *cancel_storm(void *arg) {
    (void)arg;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    unsigned char sentv[ROUNDS];
    size_t sent = 0, got = 0;
    for (int i = 0; i < ROUNDS; i++) {
        recv_arg *r = malloc(sizeof *r);
        r->fd = sv[0];
        cio_future *t = cio_create_task(recv_one, r);
        if (i % 3)
            cio_yield(); /* sometimes parked in the kernel, sometimes not started */
        unsigned char b = (unsigned char)i;
        if (i % 2) { /* data and cancel in the same iteration: either may win */
            assert_int_equal(send(sv[1], &b, 1, 0), 1);
            sentv[sent++] = b;
        }
        cio_cancel(t);
        void *v;
        int e = cio_await(t, &v);
        cio_future_unref(t);
        intptr_t n = e == 0 ? (intptr_t)v : e;
        assert_true(n == -ECANCELED || n > 0);
        for (intptr_t k = 0; k < n; k++) /* what a recv took is in order */
            assert_int_equal((unsigned char)r->buf[k], sentv[got++]);
        /* the buffer goes back to malloc and is reused at once: the kernel
         * must not write into it any more */
        free(r);
        char *reuse = malloc(sizeof(recv_arg));
        memset(reuse, 'z', sizeof(recv_arg));
        cio_yield();
        for (size_t k = 0; k < sizeof(recv_arg); k++)
            assert_int_equal(reuse[k], 'z');
        free(reuse);
        while (got < sent) { /* what the cancelled recv did not take is still there */
            char c;
            assert_int_equal(cio_recv(sv[0], &c, 1, 0), 1);
            assert_int_equal((unsigned char)c, sentv[got++]);
        }
    }
    assert_int_equal(got, sent);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_cancel_storm(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancel_storm, NULL, NULL), 0);
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

/* ---- EMFILE: accept fails, then serves again once fds free up ---- */

/* The lowest free fd number: with RLIMIT_NOFILE set to it, no fd can open. */
static int lowest_free_fd(void) {
    int fd = dup(0);
    assert_true(fd >= 0);
    close(fd);
    return fd;
}

static void *emfile(void *arg) {
    (void)arg;
    struct sockaddr_storage ss;
    socklen_t len;
    int lfd = listen_on(AF_INET, &ss, &len);
    int cl[3];
    for (int i = 0; i < 3; i++) { /* queued in the backlog, not accepted yet */
        cl[i] = cio_socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(cio_connect(cl[i], (struct sockaddr *)&ss, len), 0);
    }
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)lowest_free_fd();
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    /* a plain accept */
    assert_int_equal(cio_accept(lfd, NULL, NULL), -EMFILE);
    close(cl[0]); /* an fd frees up */
    int s0 = cio_accept(lfd, NULL, NULL);
    assert_true(s0 >= 0);
    /* the multishot acceptor: the error once, then it arms again and serves */
    cio__acceptor *a = cio__acceptor_new(cio_get_running_loop(), lfd);
    assert_non_null(a);
    assert_int_equal(cio__acceptor_next(a), -EMFILE);
    close(cl[1]);
    int s1 = cio__acceptor_next(a);
    assert_true(s1 >= 0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    /* the request may have hit the limit again on the last queued
     * connection before the limit went back up: reported once, then served */
    int s2 = cio__acceptor_next(a);
    if (s2 == -EMFILE)
        s2 = cio__acceptor_next(a);
    assert_true(s2 >= 0);
    cio__acceptor_free(a);
    /* the accepted sockets work */
    assert_int_equal(cio_send(cl[2], "ok", 2, 0), 2);
    char buf[4];
    assert_int_equal(cio_recv(s2, buf, sizeof buf, 0), 2);
    cio_close(s0);
    cio_close(s1);
    cio_close(s2);
    cio_close(cl[2]);
    cio_close(lfd);
    return NULL;
}

static void test_emfile(void **state) {
    (void)state;
    assert_int_equal(cio_run(emfile, NULL, NULL), 0);
}

/* ---- Unix sockets on a path, passing an fd; UDP over IPv6 ---- */

static void *unix_and_udp6(void *arg) {
    const char *path = arg;
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
    unlink(path);
    int lfd = cio_socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&un, sizeof un), 0);
    assert_int_equal(listen(lfd, 8), 0);
    int c = cio_socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(cio_connect(c, (struct sockaddr *)&un, sizeof un), 0);
    struct sockaddr_un peer;
    socklen_t pl = sizeof peer;
    int s = cio_accept(lfd, (struct sockaddr *)&peer, &pl);
    assert_true(s >= 0);
    assert_int_equal(peer.sun_family, AF_UNIX);
    /* an fd across, with SCM_RIGHTS */
    int p[2];
    assert_int_equal(pipe(p), 0);
    char x = 'F';
    struct iovec iov = {&x, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
    assert_int_equal(cio_sendmsg(c, &msg, 0), 1);
    memset(&ctl, 0, sizeof ctl);
    x = 0;
    msg.msg_controllen = sizeof ctl.buf;
    assert_int_equal(cio_recvmsg(s, &msg, 0), 1);
    assert_int_equal(x, 'F');
    cm = CMSG_FIRSTHDR(&msg);
    assert_non_null(cm);
    assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
    int got;
    memcpy(&got, CMSG_DATA(cm), sizeof got);
    assert_int_equal(cio_write(got, "via", 3, -1), 3); /* the passed pipe end works */
    char buf[8] = {0};
    assert_int_equal(cio_read(p[0], buf, sizeof buf, -1), 3);
    assert_string_equal(buf, "via");
    cio_close(got);
    cio_close(p[0]);
    cio_close(p[1]);
    cio_close(s);
    cio_close(c);
    cio_close(lfd);
    unlink(path);
    assert_int_equal(cio_sendmsg(c, NULL, 0), -EINVAL);

    /* UDP over IPv6 loopback, addressed per datagram */
    int a = cio_socket(AF_INET6, SOCK_DGRAM, 0), b = cio_socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback}, from;
    socklen_t tl = sizeof to;
    assert_int_equal(bind(b, (struct sockaddr *)&to, tl), 0);
    assert_int_equal(getsockname(b, (struct sockaddr *)&to, &tl), 0);
    struct iovec out = {"six", 3}, in = {buf, sizeof buf};
    struct msghdr sm = {.msg_name = &to, .msg_namelen = tl, .msg_iov = &out, .msg_iovlen = 1};
    struct msghdr rm = {
        .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &in, .msg_iovlen = 1};
    assert_int_equal(cio_sendmsg(a, &sm, 0), 3);
    assert_int_equal(cio_recvmsg(b, &rm, 0), 3);
    assert_memory_equal(buf, "six", 3);
    assert_int_equal(from.sin6_family, AF_INET6);
    cio_close(a);
    cio_close(b);
    return NULL;
}

static void test_unix_path_and_udp6(void **state) {
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/cio-test-net-%d.sock", (int)getpid());
    assert_int_equal(cio_run(unix_and_udp6, path, NULL), 0);
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

/* ---- the public acceptor: one multishot accept for a whole accept loop ---- */

#define ACCEPTS 50

static void *accept_loop(void *arg) {
    cio_acceptor *a = arg;
    for (int i = 0; i < ACCEPTS; i++) {
        int fd = cio_acceptor_accept(a);
        if (fd < 0)
            return cio_fail(fd);
        cio_future_unref(cio_create_task(echo_conn, (void *)(intptr_t)fd));
    }
    return NULL;
}

static void *accept_once(void *arg) {
    return (void *)(intptr_t)cio_acceptor_accept(arg);
}

static void *acceptor_api(void *arg) {
    (void)arg;
    struct sockaddr_storage ss;
    socklen_t len;
    int lfd = listen_on(AF_INET, &ss, &len);
    cio_acceptor *a = cio_acceptor_new(lfd);
    assert_non_null(a);
    cio_future *srv = cio_create_task(accept_loop, a);
    cio_yield();                                      /* the loop waits in accept now */
    assert_int_equal(cio_acceptor_accept(a), -EBUSY); /* one waiter at a time */
    cio_future *cs[ACCEPTS];
    for (int i = 0; i < ACCEPTS; i++)
        cs[i] = cio_create_task(client, &ss);
    for (int i = 0; i < ACCEPTS; i++) {
        assert_int_equal(cio_await(cs[i], NULL), 0);
        cio_future_unref(cs[i]);
    }
    assert_int_equal(cio_await(srv, NULL), 0);
    cio_future_unref(srv);
    /* connections queued but never taken are closed with the acceptor */
    int extra = cio_socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(cio_connect(extra, (struct sockaddr *)&ss, len), 0);
    cio_sleep(0.01);
    cio_acceptor_free(a);
    cio_close(lfd);
    char c;
    ssize_t r = cio_recv(extra, &c, 1, 0);
    assert_true(r == 0 || r == -ECONNRESET);
    cio_close(extra);
    /* freed while a task waits in it: that task gets CIO_ESHUTDOWN */
    lfd = listen_on(AF_INET, &ss, &len);
    a = cio_acceptor_new(lfd);
    cio_future *waiter = cio_create_task(accept_once, a);
    cio_yield();
    cio_acceptor_free(a);
    void *got;
    assert_int_equal(cio_await(waiter, &got), 0);
    assert_int_equal((intptr_t)got, CIO_ESHUTDOWN);
    cio_future_unref(waiter);
    cio_close(lfd);
    assert_null(cio_acceptor_new(-1));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(cio_acceptor_accept(NULL), -EINVAL);
    cio_acceptor_free(NULL);
    return NULL;
}

static void test_acceptor_api(void **state) {
    (void)state;
    assert_int_equal(cio_run(acceptor_api, NULL, NULL), 0);
    assert_null(cio_acceptor_new(0));
    assert_int_equal(errno, EPERM);
}

/* ---- cio_close on an fd that tasks wait on ---- */

typedef struct waiter_arg {
    int fd, op; /* 0 recv, 1 poll, 2 accept, 3 read */
    char buf[8];
} waiter_arg;

static void *wait_on(void *arg) {
    waiter_arg *w = arg;
    switch (w->op) {
    case 0:
        return (void *)(intptr_t)cio_recv(w->fd, w->buf, sizeof w->buf, 0);
    case 1:
        return (void *)(intptr_t)cio_poll(w->fd, POLLIN, -1);
    case 2:
        return (void *)(intptr_t)cio_accept(w->fd, NULL, NULL);
    default:
        return (void *)(intptr_t)cio_read(w->fd, w->buf, sizeof w->buf, -1);
    }
}

static int listener(void) {
    int fd = cio_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

static void *close_wakes(void *arg) {
    (void)arg;
    int sv[2], other[2], pfd[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, other), 0);
    assert_int_equal(pipe(pfd), 0);
    int lfd = listener();
    waiter_arg ws[] = {
        {sv[0], 0, {0}}, {sv[0], 1, {0}}, {lfd, 2, {0}}, {pfd[0], 3, {0}}, {other[0], 0, {0}}};
    enum { N = sizeof ws / sizeof *ws };
    cio_future *ts[N];
    for (int i = 0; i < N; i++)
        ts[i] = cio_create_task(wait_on, &ws[i]);
    for (int i = 0; i < 5; i++)
        cio_yield(); /* every waiter is parked now */
    assert_int_equal(send(other[1], "keep", 4, 0), 4);
    assert_int_equal(cio_close(sv[0]), 0);
    assert_int_equal(cio_close(lfd), 0);
    assert_int_equal(cio_close(pfd[0]), 0);
    for (int i = 0; i < N; i++) {
        void *r;
        assert_int_equal(cio_await(ts[i], &r), 0);
        if (i < N - 1) {
            assert_int_equal((intptr_t)r, -EBADF);
        } else { /* the fd nobody closed lost nothing */
            assert_int_equal((intptr_t)r, 4);
            assert_memory_equal(ws[i].buf, "keep", 4);
        }
        cio_future_unref(ts[i]);
    }
    /* the numbers are free again and new fds on them work */
    int again[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, again), 0);
    assert_int_equal(send(again[1], "x", 1, 0), 1);
    char c;
    assert_int_equal(cio_recv(again[0], &c, 1, 0), 1);
    close(again[0]);
    close(again[1]);
    close(sv[1]);
    close(other[0]);
    close(other[1]);
    close(pfd[1]);
    return NULL;
}

static void test_close_wakes_waiters(void **state) {
    (void)state;
    assert_int_equal(cio_run(close_wakes, NULL, NULL), 0);
}

/* A plain close(2) behind cio's back, then the number reused: the new fd is
 * waited on correctly (no stale registration swallows its events). */
static void *reuse_after_plain_close(void *arg) {
    (void)arg;
    for (int round = 0; round < 50; round++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        waiter_arg w = {sv[0], 0, {0}};
        cio_future *t = cio_create_task(wait_on, &w);
        cio_yield();
        cio_yield();
        assert_int_equal(send(sv[1], "ab", 2, 0), 2);
        void *r;
        assert_int_equal(cio_await(t, &r), 0);
        assert_int_equal((intptr_t)r, 2);
        cio_future_unref(t);
        close(sv[0]); /* plain close: cio does not see it */
        close(sv[1]);
    }
    return NULL;
}

static void test_reuse_after_plain_close(void **state) {
    (void)state;
    assert_int_equal(cio_run(reuse_after_plain_close, NULL, NULL), 0);
}

/* The same number, first waited on raw and closed with close(2), then owned
 * by a stream: the stream still hears of its data. */
static void *read3(void *arg) {
    char buf[4];
    size_t got = 0;
    assert_int_equal(cio_stream_readexactly(arg, buf, 3, &got), 3);
    assert_memory_equal(buf, "xyz", 3);
    return NULL;
}

static void *raw_then_stream(void *arg) {
    (void)arg;
    for (int round = 0; round < 20; round++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        waiter_arg w = {sv[0], 0, {0}};
        cio_future *t = cio_create_task(wait_on, &w);
        cio_yield();
        cio_yield(); /* the raw recv waits: the number is registered */
        assert_int_equal(send(sv[1], "a", 1, 0), 1);
        assert_int_equal(cio_await(t, NULL), 0);
        cio_future_unref(t);
        int n0 = sv[0];
        close(sv[0]);
        close(sv[1]);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_int_equal(sv[0], n0); /* the lowest free number again */
        cio_stream *s = cio_stream_new(sv[0]);
        cio_future *r = cio_create_task(read3, s);
        cio_yield();
        cio_yield(); /* the stream waits for data on the reused number */
        assert_int_equal(send(sv[1], "xyz", 3, 0), 3);
        assert_int_equal(cio_await(r, NULL), 0);
        cio_future_unref(r);
        assert_int_equal(cio_stream_close(s), 0);
        close(sv[1]);
    }
    return NULL;
}

static void test_raw_then_stream_same_number(void **state) {
    (void)state;
    assert_int_equal(cio_run(raw_then_stream, NULL, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_ipv4_ipv6),
        cmocka_unit_test(test_cancellation),
        cmocka_unit_test(test_short_io),
        cmocka_unit_test(test_cancel_storm),
        cmocka_unit_test(test_udp_unix_reset_sigpipe),
        cmocka_unit_test(test_emfile),
        cmocka_unit_test(test_unix_path_and_udp6),
        cmocka_unit_test(test_thousand_connections),
        cmocka_unit_test(test_acceptor_api),
        cmocka_unit_test(test_close_wakes_waiters),
        cmocka_unit_test(test_reuse_after_plain_close),
        cmocka_unit_test(test_raw_then_stream_same_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
