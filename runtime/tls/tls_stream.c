/* TLS as a stream transport: OpenSSL runs over a BIO pair, so ciphertext
 * moves only through the stream's own machinery. The reader's task feeds
 * what cio_recv brings into the pair and decrypts into the stream's buffer
 * (or straight into the caller's memory); cio_stream_write encrypts into
 * the pair and hands the records to the stream's send buffer, never
 * suspending. The pair's buffers are where recv lands and where send reads
 * from, so there is no extra copy on either side. A cancelled recv leaves
 * every byte either in the pair or in OpenSSL's record buffer. */
#include "stream.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

enum {
    PAIR_OUT = 64 * 1024, /* records waiting to enter the send buffer */
    PAIR_IN = 64 * 1024,  /* what one recv may bring */
};

typedef struct tls_conn {
    SSL *ssl;
    BIO *net; /* our end of the pair; SSL owns the other */
    cio_tls *tls;
    int err;    /* sticky once the session broke */
    bool ready; /* handshake done */
    bool shut;  /* close_notify sent */
    char alpn[256];
} tls_conn;

static const cio__stream_transport tls_transport;

static tls_conn *conn_of(const cio_stream *s) {
    return s && s->transport == &tls_transport ? s->transport_ctx : NULL;
}

/* Everything OpenSSL wrote goes to the send buffer (dropped once the
 * connection is broken: the stream reports that error). */
static int flush_out(cio_stream *s, tls_conn *c) {
    int r = 0;
    char *p;
    int n;
    while ((n = BIO_nread0(c->net, &p)) > 0) {
        if (r == 0)
            r = cio__stream_write_raw(s, p, (size_t)n);
        BIO_nread(c->net, &p, n);
    }
    return r;
}

/* In a task: one recv from the socket straight into the pair. > 0, 0 at
 * EOF, or a negative errno (nothing lost on -ECANCELED). */
static ssize_t feed_in(cio_stream *s, tls_conn *c) {
    char *p;
    int room = BIO_nwrite0(c->net, &p);
    if (room <= 0) /* OpenSSL asks for more only once it took what it had */
        return -EPROTO;
    ssize_t n = cio_recv(s->fd, p, (size_t)room, 0);
    if (n > 0)
        BIO_nwrite(c->net, &p, (int)n);
    return n;
}

static int fail(tls_conn *c, const char *what) {
    cio__tls_log_failure(c->ssl, what);
    c->err = CIO_ETLS;
    return c->err;
}

/* TCP EOF: between two records it is the end of the stream (a peer that
 * skips close_notify, as many do); inside a record the data was cut. */
static ssize_t tcp_eof(tls_conn *c) {
    if (!SSL_has_pending(c->ssl))
        return 0;
    if (cio__tls_debug())
        cio_log(CIO_LOG_WARNING, "tls: the peer closed the connection inside a TLS record");
    c->err = CIO_ETLS;
    return c->err;
}

static ssize_t tls_recv(cio_stream *s, void *buf, size_t n) {
    tls_conn *c = s->transport_ctx;
    int cap = n > INT_MAX ? INT_MAX : (int)n, got = 0;
    while (!c->err) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, (char *)buf + got, cap - got);
        int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        flush_out(s, c); /* key updates, alerts */
        if (r > 0) {
            got += r;
            if (got == cap)
                return got;
        } else if (e == SSL_ERROR_WANT_READ) {
            if (got) /* more only while it comes without waiting */
                return got;
            ssize_t m = feed_in(s, c);
            if (m < 0)
                return m;
            if (m == 0)
                return tcp_eof(c);
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            return got; /* close_notify */
        } else {
            fail(c, "reading");
        }
    }
    return got ? got : c->err;
}

static int tls_write(cio_stream *s, const void *data, size_t n) {
    tls_conn *c = s->transport_ctx;
    if (c->err)
        return c->err;
    if (c->shut)
        return -EPIPE;
    size_t off = 0;
    while (off < n) {
        size_t chunk = n - off > INT_MAX ? INT_MAX : n - off;
        ERR_clear_error();
        int r = SSL_write(c->ssl, (const char *)data + off, (int)chunk);
        if (r > 0) {
            off += (size_t)r;
            continue;
        }
        if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_WRITE) {
            flush_out(s, c);
            return fail(c, "writing");
        }
        int fr = flush_out(s, c); /* the pair is full: empty it and go on */
        if (fr < 0)
            return fr;
    }
    return flush_out(s, c);
}

static void tls_shutdown(cio_stream *s) {
    tls_conn *c = s->transport_ctx;
    if (c->shut || c->err || !c->ready)
        return;
    c->shut = true;
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* queues close_notify; the peer's is not awaited */
    ERR_clear_error();
    flush_out(s, c);
}

static void conn_free(tls_conn *c) {
    SSL_free(c->ssl);
    BIO_free(c->net);
    cio__tls_unref(c->tls);
    free(c);
}

static void tls_release(cio_stream *s) {
    conn_free(s->transport_ctx);
    s->transport = NULL;
    s->transport_ctx = NULL;
}

static const cio__stream_transport tls_transport = {
    .recv = tls_recv,
    .write = tls_write,
    .shutdown = tls_shutdown,
    .release = tls_release,
};

/* ---- setting a connection up ---- */

static int set_peer_name(tls_conn *c, const char *name) {
    unsigned char addr[sizeof(struct in6_addr)];
    bool ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
    if (ip) /* no SNI for addresses (RFC 6066) */
        return c->tls->verify && !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name)
                   ? -EINVAL
                   : 0;
    if (!SSL_set_tlsext_host_name(c->ssl, name))
        return -EINVAL;
    if (c->tls->verify && !SSL_set1_host(c->ssl, name))
        return -ENOMEM;
    return 0;
}

static int conn_new(cio_tls *tls, const char *name, tls_conn **out) {
    tls_conn *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    cio__tls_ref(tls);
    c->tls = tls;
    BIO *inner = NULL;
    c->ssl = SSL_new(tls->ctx);
    if (!c->ssl || !BIO_new_bio_pair(&inner, PAIR_OUT, &c->net, PAIR_IN)) {
        ERR_clear_error();
        conn_free(c);
        return -ENOMEM;
    }
    SSL_set_bio(c->ssl, inner, inner);
    int r = 0;
    if (tls->server)
        SSL_set_accept_state(c->ssl);
    else {
        SSL_set_connect_state(c->ssl);
        if (name)
            r = set_peer_name(c, name);
    }
    if (r < 0) {
        ERR_clear_error();
        conn_free(c);
        return r;
    }
    *out = c;
    return 0;
}

/* Bytes the stream buffered before TLS started belong to the handshake. */
static int take_buffered(cio_stream *s, tls_conn *c) {
    size_t have = s->rend - s->rpos;
    if (!have)
        return 0;
    if (have > PAIR_IN || BIO_write(c->net, s->rbuf + s->rpos, (int)have) != (int)have)
        return -EPROTO;
    cio_stream_consume(s, have);
    return 0;
}

static int handshake(cio_stream *s, tls_conn *c) {
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        int fr = flush_out(s, c); /* our next flight, or the alert that says why */
        if (r == 1)
            return fr;
        if (e == SSL_ERROR_WANT_WRITE)
            continue;
        if (e != SSL_ERROR_WANT_READ)
            return fail(c, "handshake");
        ssize_t m = feed_in(s, c);
        if (m == 0) {
            if (cio__tls_debug())
                cio_log(CIO_LOG_WARNING, "tls: handshake: the peer closed the connection");
            return c->err = CIO_ETLS;
        }
        if (m < 0)
            return c->err = (int)m;
    }
}

static int handshake_timed(cio_stream *s, tls_conn *c) {
    double limit = c->tls->handshake_timeout;
    if (limit <= 0)
        return handshake(s, c);
    cio_timeout to;
    int r = cio_timeout_enter(&to, limit);
    if (r == 0)
        r = cio_timeout_exit(&to, handshake(s, c));
    if (r == -ETIMEDOUT && cio__tls_debug())
        cio_log(CIO_LOG_WARNING, "tls: handshake: no answer within %.1f s", limit);
    return r;
}

static void note_ready(tls_conn *c) {
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(c->ssl, &p, &len);
    if (p && len < sizeof c->alpn) {
        memcpy(c->alpn, p, len);
        c->alpn[len] = '\0';
    }
    c->ready = true;
}

static int check_start(cio_stream *s, cio_tls *tls, const char *name) {
    if (!s || !tls || (!tls->server && tls->verify && !name))
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (s->transport)
        return -EALREADY;
    if (s->reading)
        return -EBUSY;
    if (s->closed)
        return -EBADF;
    return s->rerr ? s->rerr : s->werr;
}

int cio_stream_start_tls(cio_stream *s, cio_tls *tls, const char *server_hostname) {
    int r = check_start(s, tls, server_hostname);
    tls_conn *c = NULL;
    if (r == 0)
        r = conn_new(tls, server_hostname, &c);
    if (r == 0 && (r = take_buffered(s, c)) < 0)
        conn_free(c);
    if (r < 0)
        return r;
    s->transport = &tls_transport;
    s->transport_ctx = c;
    /* The handshake reads: no other reader meanwhile, and a close from
     * another task leaves the stream allocated until we are out. */
    s->reading = true;
    s->busy++;
    r = handshake_timed(s, c);
    s->reading = false;
    s->busy--;
    if (r == 0)
        note_ready(c);
    else
        s->rerr = c->err = r;
    if (s->closed) {
        cio__stream_release(s);
        return r < 0 ? r : -EBADF;
    }
    return r;
}

bool cio_stream_is_tls(const cio_stream *s) {
    tls_conn *c = conn_of(s);
    return c && c->ready;
}

const char *cio_stream_tls_alpn(const cio_stream *s) {
    tls_conn *c = conn_of(s);
    return c && c->ready && c->alpn[0] ? c->alpn : NULL;
}

const char *cio_stream_tls_version(const cio_stream *s) {
    tls_conn *c = conn_of(s);
    return c && c->ready ? SSL_get_version(c->ssl) : NULL;
}

const char *cio_stream_tls_cipher(const cio_stream *s) {
    tls_conn *c = conn_of(s);
    return c && c->ready ? SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)) : NULL;
}
