/* UDP endpoints: unconnected and connected, IPv4 and IPv6, truncation flag,
 * drops reported when the receive buffer overflows, multicast join, bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>

static void run(cio_fn fn, void *arg) {
    void *res = NULL;
    assert_int_equal(cio_run(fn, arg, &res), 0);
}

static void *echo_main(void *arg) {
    const char *host = arg;
    cio_dgram *srv = cio_dgram_open(host, 0, NULL, 0);
    if (!srv && errno == EADDRNOTAVAIL)
        return NULL; /* no IPv6 on this host */
    assert_non_null(srv);
    int port = cio_dgram_local_port(srv);
    assert_true(port > 0);
    cio_dgram *cli = cio_dgram_open(NULL, 0, host, (unsigned)port);
    assert_non_null(cli);
    assert_int_equal(cio_dgram_send(cli, "hello", 5), 5);
    char buf[64];
    struct sockaddr_storage from;
    socklen_t fromlen = 0;
    int flags = -1;
    assert_int_equal(cio_dgram_recvfrom(srv, buf, sizeof buf, &from, &fromlen, &flags), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(flags, 0);
    assert_true(fromlen > 0);
    /* Unconnected reply to the sender's address. */
    assert_int_equal(cio_dgram_sendto(srv, "world!", 6, (struct sockaddr *)&from, fromlen), 6);
    assert_int_equal(cio_dgram_recv(cli, buf, sizeof buf, &flags), 6);
    assert_memory_equal(buf, "world!", 6);
    /* Truncation: the datagram is longer than the buffer. */
    char big[1000];
    memset(big, 'x', sizeof big);
    assert_int_equal(cio_dgram_send(cli, big, sizeof big), (ssize_t)sizeof big);
    assert_int_equal(cio_dgram_recv(srv, buf, 10, &flags), 10);
    assert_int_equal(flags, MSG_TRUNC);
    /* An unconnected endpoint needs a destination. */
    assert_int_equal(cio_dgram_send(srv, "x", 1), -EDESTADDRREQ);
    assert_int_equal(cio_dgram_close(cli), 0);
    assert_int_equal(cio_dgram_close(srv), 0);
    return NULL;
}

static void test_ipv4(void **state) {
    (void)state;
    run(echo_main, "127.0.0.1");
}

static void test_ipv6(void **state) {
    (void)state;
    run(echo_main, "::1");
}

/* A small receive buffer that nobody drains overflows; the next receive
 * reports how many datagrams the kernel dropped. */
static void *drops_main(void *arg) {
    (void)arg;
    cio_dgram *srv = cio_dgram_open("127.0.0.1", 0, NULL, 0);
    int small = 4096;
    assert_int_equal(setsockopt(cio_dgram_fd(srv), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    cio_dgram *cli = cio_dgram_open(NULL, 0, "127.0.0.1", (unsigned)cio_dgram_local_port(srv));
    char pkt[512] = {0};
    for (int i = 0; i < 200; i++)
        assert_int_equal(cio_dgram_send(cli, pkt, sizeof pkt), (ssize_t)sizeof pkt);
    char buf[600];
    int got = 0;
    while (cio_poll(cio_dgram_fd(srv), POLLIN, 0) > 0) {
        assert_int_equal(cio_dgram_recv(srv, buf, sizeof buf, NULL), 512);
        got++;
    }
    /* The count travels with the next datagram queued after the drops. */
    assert_int_equal(cio_dgram_send(cli, pkt, 1), 1);
    assert_int_equal(cio_dgram_recv(srv, buf, sizeof buf, NULL), 1);
    assert_true(cio_dgram_drops(srv) > 0);
    /* every datagram is either received or counted as dropped */
    assert_int_equal(got + (int)cio_dgram_drops(srv), 200);
    cio_dgram_close(cli);
    cio_dgram_close(srv);
    return NULL;
}

static void test_drops_reported(void **state) {
    (void)state;
    run(drops_main, NULL);
}

static void *mcast_main(void *arg) {
    (void)arg;
    cio_dgram *d = cio_dgram_open(NULL, 0, NULL, 0);
    assert_non_null(d);
    int r = cio_dgram_join(d, "239.255.0.42", 0);
    if (r == -ENODEV || r == -EADDRNOTAVAIL) { /* no multicast-capable interface */
        cio_dgram_close(d);
        return NULL;
    }
    assert_int_equal(r, 0);
    assert_int_equal(cio_dgram_join(d, "239.255.0.42", 0), -EADDRINUSE); /* twice */
    assert_int_equal(cio_dgram_leave(d, "239.255.0.42", 0), 0);
    assert_int_equal(cio_dgram_join(d, "::1", 0), -EINVAL); /* wrong family */
    assert_int_equal(cio_dgram_join(d, NULL, 0), -EINVAL);
    cio_dgram_close(d);
    return NULL;
}

static void test_multicast(void **state) {
    (void)state;
    run(mcast_main, NULL);
}

static void *bad_main(void *arg) {
    (void)arg;
    char buf[4];
    assert_int_equal(cio_dgram_send(NULL, "x", 1), -EINVAL);
    assert_int_equal(cio_dgram_recv(NULL, buf, 4, NULL), -EINVAL);
    assert_int_equal(cio_dgram_close(NULL), -EINVAL);
    assert_int_equal(cio_dgram_local_port(NULL), -EINVAL);
    assert_null(cio_dgram_open("127.0.0.1", 70000, NULL, 0));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_dgram_open("not an address", 0, NULL, 0));
    /* local IPv6 and remote IPv4 do not mix */
    assert_null(cio_dgram_open("::1", 0, "127.0.0.1", 9));
    cio_dgram *a = cio_dgram_open("127.0.0.1", 0, NULL, 0);
    unsigned port = (unsigned)cio_dgram_local_port(a);
    assert_null(cio_dgram_open("127.0.0.1", port, NULL, 0));
    assert_int_equal(errno, EADDRINUSE);
    cio_dgram_close(a);
    return NULL;
}

static void test_bad_input(void **state) {
    (void)state;
    run(bad_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),           cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_drops_reported), cmocka_unit_test(test_multicast),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
