/* cio-tls internals: the configuration object shared by tls_context.c
 * (cio_tls_*), tls_stream.c (the stream transport, handshake, STARTTLS) and
 * tls_server.c (open_connection_tls, start_server_tls). */
#ifndef CIO_TLS_INTERNAL_H
#define CIO_TLS_INTERNAL_H

#include "cio_tls.h"

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>

struct cio_tls {
    SSL_CTX *ctx;
    bool server;
    bool verify; /* clients: chain + host name (default on) */
    double handshake_timeout;
    unsigned char *alpn; /* wire format: length-prefixed names */
    unsigned alpn_len;
    atomic_uint refs; /* the user's, plus one per connection and server */
};

void cio__tls_ref(cio_tls *tls);
void cio__tls_unref(cio_tls *tls);

/* Whether the running loop (or, outside one, env CIO_DEBUG) asks for the
 * reasons of TLS failures to be logged. */
bool cio__tls_debug(void);

/* Logs OpenSSL's queued errors (and the verification result of ssl, if
 * any) under `what` in debug mode, then clears the queue. */
void cio__tls_log_failure(SSL *ssl, const char *what);

#endif
