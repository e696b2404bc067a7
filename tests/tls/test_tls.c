/* cio-tls: TLS streams against cio's own TLS server, openssl s_server,
 * openssl s_client and nginx; verification failures (wrong host, unknown
 * CA, expired), peers that are not TLS or vanish mid-handshake or
 * mid-record, STARTTLS, ALPN, close_notify and write_eof, 100 concurrent
 * connections, and cancellation storms on TLS reads with every byte
 * accounted for. Certificates are made at test time (peers.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cio.h>
#include <cio_tls.h>

#include "peers.h"

static char dir[256];

static const char *file(const char *name) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    peers_path(p, 512, dir, name);
    return p;
}

static cio_tls *server_tls(const char *which) {
    char pem[64], key[64];
    snprintf(pem, sizeof pem, "%s.pem", which);
    snprintf(key, sizeof key, "%s.key", which);
    cio_tls *t = cio_tls_server_new(file(pem), file(key));
    assert_non_null(t);
    return t;
}

static cio_tls *client_tls(void) {
    cio_tls *t = cio_tls_client_new(file("ca.pem"));
    assert_non_null(t);
    return t;
}

/* ---- a cio TLS echo server: each line back, upper-cased ---- */

static void upper_echo(cio_stream *s, void *arg) {
    (void)arg;
    enum { CAP = 70000 };
    char *line = malloc(CAP);
    ssize_t n;
    while (line && (n = cio_stream_readline(s, line, CAP)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (line[i] >= 'a' && line[i] <= 'z')
                line[i] -= 32;
        if (cio_stream_write(s, line, (size_t)n) < 0 || cio_stream_drain(s) < 0)
            break;
    }
    free(line);
}

typedef struct ctx {
    cio_tls *srv_tls, *cli_tls;
    const char *name;
    int err;
    unsigned port;
} ctx;

static void *echo_roundtrip(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, upper_echo, NULL, c->srv_tls);
    assert_non_null(srv);
    cio_stream *s = cio_open_connection_tls("127.0.0.1", cio_server_port(srv), c->cli_tls, c->name);
    c->err = s ? 0 : -errno;
    if (s) {
        assert_true(cio_stream_is_tls(s));
        assert_non_null(cio_stream_tls_version(s));
        assert_int_equal(cio_stream_write(s, "hello tls\n", 10), 0);
        char buf[64];
        assert_int_equal(cio_stream_readline(s, buf, sizeof buf), 10);
        assert_string_equal(buf, "HELLO TLS\n");
        assert_int_equal(cio_stream_write(s, "a|b|", 4), 0);
        assert_int_equal(cio_stream_write(s, "exact\n", 6), 0);
        assert_int_equal(cio_stream_readuntil(s, "|", 1, buf, sizeof buf), 2);
        assert_string_equal(buf, "A|");
        size_t got;
        assert_int_equal(cio_stream_readexactly(s, buf, 8, &got), 8);
        assert_memory_equal(buf, "B|EXACT\n", 8);
        assert_int_equal(cio_stream_close(s), 0);
    }
    cio_server_free(srv);
    return NULL;
}

static void run_echo(const char *srv_cert, const char *name, cio_tls *cli) {
    ctx c = {.srv_tls = server_tls(srv_cert), .cli_tls = cli ? cli : client_tls(), .name = name};
    assert_int_equal(cio_run(echo_roundtrip, &c, NULL), 0);
    cio_tls_free(c.srv_tls);
    cio_tls_free(c.cli_tls);
    errno = -c.err;
}

static void test_echo_by_name_and_address(void **state) {
    (void)state;
    run_echo("good", "localhost", NULL);
    assert_int_equal(errno, 0);
    run_echo("good", NULL, NULL); /* checked as the address 127.0.0.1 */
    assert_int_equal(errno, 0);
}

static void test_wrong_host(void **state) {
    (void)state;
    run_echo("wrong", "localhost", NULL);
    assert_int_equal(-errno, CIO_ETLS);
    run_echo("good", "other.example", NULL);
    assert_int_equal(-errno, CIO_ETLS);
    assert_string_equal(cio_strerror(CIO_ETLS), "TLS handshake or verification failed");
}

static void test_unknown_ca(void **state) {
    (void)state;
    cio_tls *other = cio_tls_client_new(file("other-ca.pem"));
    assert_non_null(other);
    run_echo("good", "localhost", other);
    assert_int_equal(-errno, CIO_ETLS);
}

static void test_expired(void **state) {
    (void)state;
    run_echo("expired", "localhost", NULL);
    assert_int_equal(-errno, CIO_ETLS);
}

static void test_verify_off(void **state) {
    (void)state;
    cio_tls *cli = client_tls();
    assert_int_equal(cio_tls_set_verify(cli, false, NULL), 0);
    run_echo("wrong", "localhost", cli); /* a throwaway-certificate test setup */
    assert_int_equal(errno, 0);
}

static void test_bad_arguments(void **state) {
    (void)state;
    errno = 0;
    assert_null(cio_tls_client_new("/nonexistent/ca.pem"));
    assert_int_equal(errno, ENOENT);
    assert_null(cio_tls_server_new(file("good.pem"), file("wrong.key")));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_tls_server_new(file("ca.key"), file("good.key")));
    assert_int_equal(errno, EINVAL);
    cio_tls *t = client_tls();
    const char *bad[] = {""};
    assert_int_equal(cio_tls_set_alpn(t, bad, 1), -EINVAL);
    assert_int_equal(cio_tls_set_alpn(NULL, NULL, 0), -EINVAL);
    assert_int_equal(cio_stream_start_tls(NULL, t, "x"), -EINVAL);
    assert_null(cio_start_server_tls("127.0.0.1", 0, upper_echo, NULL, t)); /* a client config */
    assert_int_equal(errno, EINVAL);
    cio_tls_free(t);
}

/* ---- ALPN ---- */

static void *alpn_main(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, upper_echo, NULL, c->srv_tls);
    cio_stream *s =
        cio_open_connection_tls("127.0.0.1", cio_server_port(srv), c->cli_tls, "localhost");
    assert_non_null(s);
    const char *p = cio_stream_tls_alpn(s);
    assert_non_null(p);
    assert_string_equal(p, "http/1.1");
    cio_stream_close(s);
    cio_server_free(srv);
    return NULL;
}

static void test_alpn(void **state) {
    (void)state;
    ctx c = {.srv_tls = server_tls("good"), .cli_tls = client_tls()};
    const char *offer[] = {"h2", "http/1.1"}, *accept[] = {"spdy/3", "http/1.1"};
    assert_int_equal(cio_tls_set_alpn(c.cli_tls, offer, 2), 0);
    assert_int_equal(cio_tls_set_alpn(c.srv_tls, accept, 2), 0);
    assert_int_equal(cio_run(alpn_main, &c, NULL), 0);
    cio_tls_free(c.srv_tls);
    cio_tls_free(c.cli_tls);
}

/* ---- bulk both ways, checked byte for byte; write_eof; close_notify ---- */

enum { BULK = 3 * 1024 * 1024 + 777 };

static void bulk_sink(cio_stream *s, void *arg) {
    (void)arg;
    /* Reads to EOF (the client's close_notify), checking the pattern, then
     * answers with the count: TLS 1.3 half-close. */
    static unsigned char buf[100000];
    size_t total = 0;
    ssize_t n;
    while ((n = cio_stream_read(s, buf, 1 + total % sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != peers_pattern(total + (size_t)i, 1))
                return;
        total += (size_t)n;
    }
    char reply[64];
    int len = snprintf(reply, sizeof reply, "%zu %zd\n", total, n);
    cio_stream_write(s, reply, (size_t)len);
    /* then a large answer in big writes */
    unsigned char *big = malloc(BULK);
    for (size_t i = 0; i < BULK; i++)
        big[i] = peers_pattern(i, 2);
    for (size_t off = 0; off < BULK; off += 300000) {
        cio_stream_write(s, big + off, BULK - off < 300000 ? BULK - off : 300000);
        cio_stream_drain(s);
    }
    free(big);
}

static void *bulk_main(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, bulk_sink, NULL, c->srv_tls);
    cio_stream *s =
        cio_open_connection_tls("127.0.0.1", cio_server_port(srv), c->cli_tls, "localhost");
    assert_non_null(s);
    unsigned char *data = malloc(BULK);
    for (size_t i = 0; i < BULK; i++)
        data[i] = peers_pattern(i, 1);
    for (size_t off = 0; off < BULK; off += 65536) {
        assert_int_equal(cio_stream_write(s, data + off, BULK - off < 65536 ? BULK - off : 65536),
                         0);
        assert_int_equal(cio_stream_drain(s), 0);
    }
    assert_int_equal(cio_stream_write_eof(s), 0);
    assert_int_equal(cio_stream_write(s, "x", 1), -EPIPE);
    char line[64], want[64];
    snprintf(want, sizeof want, "%d 0\n", BULK);
    assert_true(cio_stream_readline(s, line, sizeof line) > 0);
    assert_string_equal(line, want);
    size_t got = 0;
    assert_int_equal(cio_stream_readexactly(s, data, BULK, &got), BULK);
    for (size_t i = 0; i < BULK; i++)
        if (data[i] != peers_pattern(i, 2))
            fail_msg("byte %zu differs", i);
    /* The server's close sent close_notify: a clean EOF. */
    assert_int_equal(cio_stream_read(s, line, sizeof line), 0);
    assert_true(cio_stream_at_eof(s));
    free(data);
    assert_int_equal(cio_stream_close(s), 0);
    cio_server_free(srv);
    return NULL;
}

static void test_bulk_and_half_close(void **state) {
    (void)state;
    ctx c = {.srv_tls = server_tls("good"), .cli_tls = client_tls()};
    assert_int_equal(cio_run(bulk_main, &c, NULL), 0);
    cio_tls_free(c.srv_tls);
    cio_tls_free(c.cli_tls);
}

/* ---- limits: readline beyond the limit keeps the data ---- */

static void long_line(cio_stream *s, void *arg) {
    (void)arg;
    char buf[300];
    memset(buf, 'x', sizeof buf);
    cio_stream_write(s, buf, sizeof buf);
    cio_stream_write(s, "\n", 1);
}

static void *limit_main(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, long_line, NULL, c->srv_tls);
    cio_stream *s =
        cio_open_connection_tls("127.0.0.1", cio_server_port(srv), c->cli_tls, "localhost");
    assert_non_null(s);
    cio_stream_set_limit(s, 100);
    char buf[400];
    assert_int_equal(cio_stream_readline(s, buf, sizeof buf), CIO_ELIMIT);
    size_t got;
    assert_int_equal(cio_stream_readexactly(s, buf, 301, &got), 301);
    assert_int_equal(buf[300], '\n');
    assert_int_equal(cio_stream_read(s, buf, sizeof buf), 0);
    cio_stream_close(s);
    cio_server_free(srv);
    return NULL;
}

static void test_limits(void **state) {
    (void)state;
    ctx c = {.srv_tls = server_tls("good"), .cli_tls = client_tls()};
    assert_int_equal(cio_run(limit_main, &c, NULL), 0);
    cio_tls_free(c.srv_tls);
    cio_tls_free(c.cli_tls);
}

/* ---- peers that are not TLS, or vanish ---- */

typedef enum { PLAIN_ECHO, PLAIN_HTTP, PLAIN_SILENT, CLOSE_IN_HANDSHAKE } plain_kind;

static void plain_peer(cio_stream *s, void *arg) {
    plain_kind k = (plain_kind)(intptr_t)arg;
    char buf[4096];
    ssize_t n = cio_stream_read(s, buf, sizeof buf); /* the ClientHello */
    if (n <= 0)
        return;
    if (k == PLAIN_ECHO)
        cio_stream_write(s, buf, (size_t)n);
    else if (k == PLAIN_HTTP)
        cio_stream_write(s, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
    else if (k == PLAIN_SILENT)
        cio_sleep(5);
    /* CLOSE_IN_HANDSHAKE: the handler returns, the server closes. */
}

static void *plain_main(void *arg) {
    plain_kind k = *(plain_kind *)arg;
    cio_server *srv = cio_start_server("127.0.0.1", 0, plain_peer, (void *)(intptr_t)k);
    cio_tls *cli = client_tls();
    if (k == PLAIN_SILENT) /* only the silent peer waits for the deadline */
        cio_tls_set_handshake_timeout(cli, 0.3);
    cio_stream *s = cio_open_connection_tls("127.0.0.1", cio_server_port(srv), cli, "localhost");
    assert_null(s);
    int err = -errno;
    cio_tls_free(cli);
    cio_server_close_clients(srv);
    cio_server_free(srv);
    return (void *)(intptr_t)err;
}

static int plain(plain_kind k) {
    void *res;
    assert_int_equal(cio_run(plain_main, &k, &res), 0);
    return (int)(intptr_t)res;
}

static void test_not_tls_peers(void **state) {
    (void)state;
    assert_int_equal(plain(PLAIN_ECHO), CIO_ETLS);
    assert_int_equal(plain(PLAIN_HTTP), CIO_ETLS);
    assert_int_equal(plain(CLOSE_IN_HANDSHAKE), CIO_ETLS);
    assert_int_equal(plain(PLAIN_SILENT), -ETIMEDOUT);
}

/* A TLS client against a plain client: the server side's handshake fails
 * and the handler never runs. */
static int handler_runs;

static void counting(cio_stream *s, void *arg) {
    (void)s;
    (void)arg;
    handler_runs++;
}

static void *server_vs_plain_main(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, counting, NULL, c->srv_tls);
    cio_stream *s = cio_open_connection("127.0.0.1", cio_server_port(srv));
    assert_non_null(s);
    cio_stream_write(s, "GET / HTTP/1.0\r\n\r\n", 18);
    char buf[512];
    ssize_t n, total = 0;
    while ((n = cio_stream_read(s, buf, sizeof buf)) > 0) /* an alert at most, then EOF */
        total += n;
    assert_int_equal(n, 0);
    assert_true(total < 100);
    cio_stream_close(s);
    cio_server_free(srv);
    return NULL;
}

static void test_server_against_plain_client(void **state) {
    (void)state;
    ctx c = {.srv_tls = server_tls("good")};
    handler_runs = 0;
    assert_int_equal(cio_run(server_vs_plain_main, &c, NULL), 0);
    assert_int_equal(handler_runs, 0);
    cio_tls_free(c.srv_tls);
}

/* A proxy that cuts the server's stream inside a record: after `cut` is
 * set, the next chunk from the server is forwarded short by 3 bytes, then
 * the client gets a TCP FIN. */
typedef struct proxy {
    unsigned target;
    bool cut;
    cio_stream *down; /* towards the client */
} proxy;

static void *pump_up(void *arg) {
    cio_stream **ends = arg; /* client -> server */
    char buf[16384];
    ssize_t n;
    while ((n = cio_stream_read(ends[0], buf, sizeof buf)) > 0)
        if (cio_stream_write(ends[1], buf, (size_t)n) < 0)
            break;
    return NULL;
}

static void cutting_proxy(cio_stream *down, void *arg) {
    proxy *p = arg;
    cio_stream *up = cio_open_connection("127.0.0.1", p->target);
    assert_non_null(up);
    cio_stream *ends[2] = {down, up};
    cio_future *t = cio_create_task(pump_up, ends);
    char buf[16384];
    ssize_t n;
    while ((n = cio_stream_read(up, buf, sizeof buf)) > 0) {
        if (p->cut && n > 3) {
            cio_stream_write(down, buf, (size_t)n - 3);
            break;
        }
        cio_stream_write(down, buf, (size_t)n);
    }
    cio_stream_write_eof(down);
    cio_cancel(t);
    cio_await(t, NULL);
    cio_future_unref(t);
    cio_stream_close(up);
}

static void talk_then_wait(cio_stream *s, void *arg) {
    (void)arg;
    char line[64];
    if (cio_stream_readline(s, line, sizeof line) <= 0)
        return;
    char big[1000];
    memset(big, 'z', sizeof big);
    cio_stream_write(s, big, sizeof big); /* one record */
    cio_sleep(5);                         /* the proxy cuts it; the client must not hang */
}

static void *cut_main(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, talk_then_wait, NULL, c->srv_tls);
    proxy p = {.target = cio_server_port(srv)};
    cio_server *px = cio_start_server("127.0.0.1", 0, cutting_proxy, &p);
    cio_stream *s =
        cio_open_connection_tls("127.0.0.1", cio_server_port(px), c->cli_tls, "localhost");
    assert_non_null(s);
    cio_sleep(0.1); /* session tickets pass uncut */
    p.cut = true;
    cio_stream_write(s, "go\n", 3);
    char buf[2000];
    ssize_t n, total = 0;
    /* Bounded, so that a hang is reported as one (after the loop ends). */
    cio_timeout to;
    cio_timeout_enter(&to, 10.0);
    while ((n = cio_stream_read(s, buf, sizeof buf)) > 0)
        total += n;
    c->err = cio_timeout_exit(&to, (int)n);
    c->port = (unsigned)total;
    cio_stream_close(s);
    cio_server_close_clients(srv);
    cio_server_close_clients(px);
    cio_server_free(srv);
    cio_server_free(px);
    return NULL;
}

static void test_peer_vanishes_mid_record(void **state) {
    (void)state;
    ctx c = {.srv_tls = server_tls("good"), .cli_tls = client_tls()};
    assert_int_equal(cio_run(cut_main, &c, NULL), 0);
    cio_tls_free(c.srv_tls);
    cio_tls_free(c.cli_tls);
    if (c.err == -ETIMEDOUT)
        fail_msg("the read hung: the peer's FIN after the cut record was never seen");
    assert_int_equal(c.err, CIO_ETLS);
    assert_true(c.port <
                1000); /* bytes of plaintext before the cut: the record was not delivered */
}

/* ---- STARTTLS: the ClientHello follows the command at once, so the
 * server's readline buffers part of the handshake ---- */

static void starttls_server(cio_stream *s, void *arg) {
    cio_tls *tls = arg;
    char line[64];
    if (cio_stream_readline(s, line, sizeof line) <= 0 || strcmp(line, "STARTTLS\n") != 0)
        return;
    if (cio_stream_start_tls(s, tls, NULL) < 0)
        return;
    upper_echo(s, NULL);
}

static void *starttls_main(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server("127.0.0.1", 0, starttls_server, c->srv_tls);
    cio_stream *s = cio_open_connection("127.0.0.1", cio_server_port(srv));
    assert_non_null(s);
    assert_false(cio_stream_is_tls(s));
    assert_int_equal(cio_stream_write(s, "STARTTLS\n", 9), 0);
    assert_int_equal(cio_stream_start_tls(s, c->cli_tls, "localhost"), 0);
    assert_int_equal(cio_stream_start_tls(s, c->cli_tls, "localhost"), -EALREADY);
    assert_true(cio_stream_is_tls(s));
    assert_int_equal(cio_stream_write(s, "secret\n", 7), 0);
    char buf[64];
    assert_int_equal(cio_stream_readline(s, buf, sizeof buf), 7);
    assert_string_equal(buf, "SECRET\n");
    cio_stream_close(s);
    cio_server_free(srv);
    return NULL;
}

static void test_starttls(void **state) {
    (void)state;
    ctx c = {.srv_tls = server_tls("good"), .cli_tls = client_tls()};
    assert_int_equal(cio_run(starttls_main, &c, NULL), 0);
    cio_tls_free(c.srv_tls);
    cio_tls_free(c.cli_tls);
}

/* ---- 100 concurrent connections ---- */

enum { NCONN = 100, ROUNDS = 20 };

typedef struct one {
    ctx *c;
    int id;
} one;

static void *one_client(void *arg) {
    one *o = arg;
    cio_stream *s = cio_open_connection_tls("127.0.0.1", o->c->port, o->c->cli_tls, "localhost");
    if (!s)
        return cio_fail(-errno);
    for (int i = 0; i < ROUNDS; i++) {
        char msg[64], want[64], got[64];
        int n = snprintf(msg, sizeof msg, "conn %d round %d\n", o->id, i);
        snprintf(want, sizeof want, "CONN %d ROUND %d\n", o->id, i);
        cio_stream_write(s, msg, (size_t)n);
        if (cio_stream_readline(s, got, sizeof got) != n || strcmp(got, want) != 0) {
            cio_stream_close(s);
            return cio_fail(-EPROTO);
        }
    }
    return (void *)(intptr_t)cio_stream_close(s);
}

static void *many_main(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, upper_echo, NULL, c->srv_tls);
    c->port = cio_server_port(srv);
    one ones[NCONN];
    cio_future *fs[NCONN];
    for (int i = 0; i < NCONN; i++) {
        ones[i] = (one){c, i};
        fs[i] = cio_create_task(one_client, &ones[i]);
    }
    assert_int_equal(cio_gather(fs, NCONN, 0), 0);
    for (int i = 0; i < NCONN; i++) {
        void *r;
        assert_int_equal(cio_future_result(fs[i], &r), 0);
        assert_null(r);
        cio_future_unref(fs[i]);
    }
    cio_server_free(srv);
    return NULL;
}

static void test_100_connections(void **state) {
    (void)state;
    ctx c = {.srv_tls = server_tls("good"), .cli_tls = client_tls()};
    assert_int_equal(cio_run(many_main, &c, NULL), 0);
    cio_tls_free(c.srv_tls);
    cio_tls_free(c.cli_tls);
}

/* ---- cancellation storm: a reader cancelled every few hundred µs still
 * receives every byte exactly once, in order ---- */

enum { STORM_BYTES = 4 * 1024 * 1024 };

static void storm_source(cio_stream *s, void *arg) {
    (void)arg;
    static unsigned char buf[8192];
    for (size_t off = 0; off < STORM_BYTES;) {
        size_t n = STORM_BYTES - off < 5000 ? STORM_BYTES - off : 1 + (off * 7) % 5000;
        for (size_t i = 0; i < n; i++)
            buf[i] = peers_pattern(off + i, 3);
        if (cio_stream_write(s, buf, n) < 0 || cio_stream_drain(s) < 0)
            return;
        off += n;
        if (off % 7 == 0)
            cio_sleep(0.0002); /* the reader finds nothing now and then */
    }
}

typedef struct storm {
    cio_stream *s;
    size_t total, cancels, mode_counts[3];
    bool done, bad;
} storm;

static void *storm_reader(void *arg) {
    storm *st = arg;
    unsigned char buf[3000];
    for (unsigned k = 0; !st->done; k++) {
        ssize_t n;
        size_t got = 0;
        int mode = (int)(k % 3);
        if (mode == 0) {
            n = cio_stream_read(st->s, buf, 1 + k % sizeof buf);
            got = n > 0 ? (size_t)n : 0;
        } else if (mode == 1) {
            n = cio_stream_readexactly(st->s, buf, 1 + k % 700, &got);
        } else {
            n = cio_stream_readuntil(st->s, "\x07", 1, (char *)buf, sizeof buf);
            if (n == CIO_ELIMIT) /* no delimiter within reach: plain read */
                n = cio_stream_read(st->s, buf, sizeof buf);
            got = n > 0 ? (size_t)n : 0;
        }
        for (size_t i = 0; i < got; i++)
            if (buf[i] != peers_pattern(st->total + i, 3))
                st->bad = true;
        st->total += got;
        st->mode_counts[mode] += got;
        if (n == -ECANCELED) {
            st->cancels++;
            cio_task_uncancel(cio_current_task());
        } else if (n == 0 || n == CIO_EINCOMPLETE) {
            st->done = true;
        } else if (n < 0) {
            return cio_fail((int)n);
        }
    }
    return NULL;
}

static void *storm_main(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, storm_source, NULL, c->srv_tls);
    storm st = {0};
    st.s = cio_open_connection_tls("127.0.0.1", cio_server_port(srv), c->cli_tls, "localhost");
    assert_non_null(st.s);
    cio_future *t = cio_create_task(storm_reader, &st);
    while (!cio_future_done(t)) {
        cio_sleep(0.0003);
        cio_cancel(t);
    }
    /* A cancel that lands between the reader's last wakeup (EOF) and its
     * return ends the task cancelled, as in asyncio: fine once it is done. */
    int r = cio_await(t, NULL);
    assert_true(r == 0 || (r == -ECANCELED && st.done));
    cio_future_unref(t);
    assert_false(st.bad);
    assert_int_equal(st.total, STORM_BYTES);
    assert_true(st.cancels > 0);
    cio_stream_close(st.s);
    cio_server_free(srv);
    return NULL;
}

static void test_cancellation_storm(void **state) {
    (void)state;
    ctx c = {.srv_tls = server_tls("good"), .cli_tls = client_tls()};
    assert_int_equal(cio_run(storm_main, &c, NULL), 0);
    cio_tls_free(c.srv_tls);
    cio_tls_free(c.cli_tls);
}

/* ---- openssl s_server, s_client, nginx ---- */

static void *s_server_main(void *arg) {
    unsigned port = *(unsigned *)arg;
    cio_tls *cli = client_tls();
    cio_stream *s = cio_open_connection_tls("127.0.0.1", port, cli, "localhost");
    assert_non_null(s);
    assert_int_equal(cio_stream_write(s, "hello s_server\n", 15), 0);
    char buf[64];
    assert_int_equal(cio_stream_readline(s, buf, sizeof buf), 15);
    assert_string_equal(buf, "revres_s olleh\n");
    cio_stream_close(s);
    cio_tls_free(cli);
    return NULL;
}

static void test_openssl_s_server(void **state) {
    (void)state;
    unsigned port = peers_free_port();
    char ports[16];
    snprintf(ports, sizeof ports, "%u", port);
    char *argv[] = {"openssl", "s_server",
                    "-accept", ports,
                    "-cert",   (char *)file("good.pem"),
                    "-key",    (char *)file("good.key"),
                    "-rev",    NULL};
    pid_t pid = peers_spawn(argv, -1, file("s_server.out"));
    assert_true(pid > 0);
    assert_int_equal(peers_wait_port(port), 0);
    assert_int_equal(cio_run(s_server_main, &port, NULL), 0);
    peers_stop(pid);
}

static void pong(cio_stream *s, void *arg) {
    (void)arg;
    char line[64];
    if (cio_stream_readline(s, line, sizeof line) > 0 && strcmp(line, "ping\n") == 0)
        cio_stream_write(s, "PONG from cio\n", 14);
}

static void *run_s_client(void *arg) {
    char *cmd = arg;
    return (void *)(intptr_t)system(cmd);
}

static void *s_client_main(void *arg) {
    ctx *c = arg;
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, pong, NULL, c->srv_tls);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "(printf 'ping\\n'; sleep 2) | timeout 20 openssl s_client -connect 127.0.0.1:%u "
             "-CAfile %s -verify_return_error -servername localhost -verify_hostname localhost "
             "-quiet > %s 2>&1",
             cio_server_port(srv), file("ca.pem"), file("s_client.out"));
    void *rc;
    assert_int_equal(cio_to_thread(run_s_client, cmd, &rc), 0);
    cio_server_free(srv);
    return rc;
}

static void test_openssl_s_client(void **state) {
    (void)state;
    ctx c = {.srv_tls = server_tls("good")};
    void *rc;
    assert_int_equal(cio_run(s_client_main, &c, &rc), 0);
    cio_tls_free(c.srv_tls);
    FILE *f = fopen(file("s_client.out"), "r");
    assert_non_null(f);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    if (!strstr(out, "PONG from cio"))
        fail_msg("s_client said: %s", out);
}

enum { NGINX_FILE = 2 * 1024 * 1024 + 5 };

static void *nginx_main(void *arg) {
    unsigned port = *(unsigned *)arg;
    cio_tls *cli = client_tls();
    cio_stream *s = cio_open_connection_tls("127.0.0.1", port, cli, "localhost");
    assert_non_null(s);
    const char *req = "GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    cio_stream_write(s, req, strlen(req));
    char line[1024];
    ssize_t n;
    long length = -1;
    assert_true(cio_stream_readline(s, line, sizeof line) > 0);
    assert_true(strncmp(line, "HTTP/1.1 200", 12) == 0);
    while ((n = cio_stream_readline(s, line, sizeof line)) > 2)
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            length = atol(line + 15);
    assert_int_equal(length, NGINX_FILE);
    unsigned char *body = malloc(NGINX_FILE + 1);
    size_t got;
    assert_int_equal(cio_stream_readexactly(s, body, NGINX_FILE, &got), NGINX_FILE);
    for (size_t i = 0; i < NGINX_FILE; i++)
        if (body[i] != peers_pattern(i, 9))
            fail_msg("byte %zu differs", i);
    assert_int_equal(cio_stream_read(s, body, 1), 0); /* nginx closes after the response */
    free(body);
    cio_stream_close(s);
    cio_tls_free(cli);
    return NULL;
}

static void test_nginx(void **state) {
    (void)state;
    unsigned port = peers_free_port();
    pid_t pid = peers_nginx(dir, port, 1, 0);
    if (pid < 0)
        fail_msg("nginx did not start (see %s/nginx-error.log)", dir);
    assert_int_equal(peers_write_file(file("www/big.bin"), NGINX_FILE, 9), 0);
    assert_int_equal(cio_run(nginx_main, &port, NULL), 0);
    peers_stop(pid);
}

/* ---- the example: examples/tls_echo's demo passes its own checks ---- */

static void test_tls_echo_example(void **state) {
    (void)state;
    char self[1024], cmd[2400];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    for (int i = 0; i < 3; i++) /* <build>/tests/tls/test_tls -> <build> */
        *strrchr(self, '/') = '\0';
    snprintf(cmd, sizeof cmd, "%s/examples/tls_echo", self);
    if (access(cmd, X_OK) != 0)
        fail_msg("%s is not built (make examples)", cmd);
    snprintf(cmd, sizeof cmd,
             "'%s/examples/tls_echo' > '%s/echo.out' 2>&1 && "
             "grep -q '10 of 10 clients verified' '%s/echo.out' && "
             "grep -q 'without the throwaway CA: TLS handshake or verification failed' "
             "'%s/echo.out'",
             self, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return peers_make_certs(dir, sizeof dir);
}

static int teardown(void **state) {
    (void)state;
    peers_rm_dir(dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_by_name_and_address),
        cmocka_unit_test(test_wrong_host),
        cmocka_unit_test(test_unknown_ca),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_verify_off),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_alpn),
        cmocka_unit_test(test_bulk_and_half_close),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_not_tls_peers),
        cmocka_unit_test(test_server_against_plain_client),
        cmocka_unit_test(test_peer_vanishes_mid_record),
        cmocka_unit_test(test_starttls),
        cmocka_unit_test(test_100_connections),
        cmocka_unit_test(test_cancellation_storm),
        cmocka_unit_test(test_openssl_s_server),
        cmocka_unit_test(test_openssl_s_client),
        cmocka_unit_test(test_nginx),
        cmocka_unit_test(test_tls_echo_example),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
