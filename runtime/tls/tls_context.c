/* cio-tls configurations: an OpenSSL SSL_CTX with cio's defaults
 * (verification on, TLS 1.2 at least, no renegotiation) and a reference
 * count, so that connections keep what they use alive. */
#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool cio__tls_debug(void) {
    cio_loop *loop = cio_get_running_loop();
    if (loop)
        return cio_loop_debug(loop);
    const char *v = getenv("CIO_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

void cio__tls_log_failure(SSL *ssl, const char *what) {
    if (!cio__tls_debug()) {
        ERR_clear_error();
        return;
    }
    char reason[256] = "no OpenSSL error queued";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK)
        cio_log(CIO_LOG_WARNING, "tls: %s: certificate verification failed: %s (%s)", what,
                X509_verify_cert_error_string(v), reason);
    else
        cio_log(CIO_LOG_WARNING, "tls: %s: %s", what, reason);
    ERR_clear_error();
}

void cio__tls_ref(cio_tls *tls) {
    atomic_fetch_add_explicit(&tls->refs, 1, memory_order_relaxed);
}

void cio__tls_unref(cio_tls *tls) {
    if (atomic_fetch_sub_explicit(&tls->refs, 1, memory_order_acq_rel) != 1)
        return;
    SSL_CTX_free(tls->ctx);
    free(tls->alpn);
    free(tls);
}

void cio_tls_free(cio_tls *tls) {
    if (tls)
        cio__tls_unref(tls);
}

/* errno for a file OpenSSL could not use: the system's reason when it
 * cannot even be read, else EINVAL (bad PEM, key mismatch). */
static int file_errno(const char *path) {
    if (path && access(path, R_OK) < 0)
        return errno;
    return EINVAL;
}

static cio_tls *tls_alloc(bool server) {
    cio_tls *tls = calloc(1, sizeof *tls);
    if (!tls)
        return NULL;
    tls->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!tls->ctx) {
        free(tls);
        return NULL;
    }
    tls->server = server;
    tls->verify = !server;
    tls->handshake_timeout = 60.0;
    atomic_init(&tls->refs, 1);
    SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(tls->ctx, SSL_OP_NO_RENEGOTIATION);
    /* Writes are encrypted record by record into a bounded buffer. */
    SSL_CTX_set_mode(tls->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!server)
        SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
    return tls;
}

static cio_tls *fail(cio_tls *tls, int err, const char *what) {
    cio__tls_log_failure(NULL, what);
    if (tls) {
        SSL_CTX_free(tls->ctx);
        free(tls);
    }
    errno = err;
    return NULL;
}

cio_tls *cio_tls_client_new(const char *ca_file) {
    cio_tls *tls = tls_alloc(false);
    if (!tls)
        return fail(NULL, ENOMEM, "client configuration");
    int ok = ca_file ? SSL_CTX_load_verify_locations(tls->ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(tls->ctx);
    if (ok != 1)
        return fail(tls, file_errno(ca_file), "loading the trusted CAs");
    return tls;
}

cio_tls *cio_tls_server_new(const char *cert_file, const char *key_file) {
    if (!cert_file || !key_file)
        return fail(NULL, EINVAL, "server configuration");
    cio_tls *tls = tls_alloc(true);
    if (!tls)
        return fail(NULL, ENOMEM, "server configuration");
    if (SSL_CTX_use_certificate_chain_file(tls->ctx, cert_file) != 1)
        return fail(tls, file_errno(cert_file), "loading the certificate");
    if (SSL_CTX_use_PrivateKey_file(tls->ctx, key_file, SSL_FILETYPE_PEM) != 1)
        return fail(tls, file_errno(key_file), "loading the private key");
    if (SSL_CTX_check_private_key(tls->ctx) != 1)
        return fail(tls, EINVAL, "the key does not match the certificate");
    return tls;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
    (void)ssl;
    cio_tls *tls = arg;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, tls->alpn, tls->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

int cio_tls_set_alpn(cio_tls *tls, const char *const *protos, size_t n) {
    if (!tls || (!protos && n))
        return -EINVAL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = protos[i] ? strlen(protos[i]) : 0;
        if (l == 0 || l > 255 || len + 1 + l > UINT_MAX / 2)
            return -EINVAL;
        len += 1 + l;
    }
    unsigned char *wire = len ? malloc(len) : NULL;
    if (len && !wire)
        return -ENOMEM;
    unsigned char *p = wire;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(protos[i]);
        *p++ = (unsigned char)l;
        memcpy(p, protos[i], l);
        p += l;
    }
    if (!tls->server && SSL_CTX_set_alpn_protos(tls->ctx, wire, (unsigned)len) != 0) {
        free(wire);
        return -ENOMEM;
    }
    free(tls->alpn);
    tls->alpn = wire;
    tls->alpn_len = (unsigned)len;
    if (tls->server)
        SSL_CTX_set_alpn_select_cb(tls->ctx, len ? alpn_select : NULL, tls);
    return 0;
}

int cio_tls_set_verify(cio_tls *tls, bool verify, const char *ca_file) {
    if (!tls)
        return -EINVAL;
    if (!tls->server) {
        if (ca_file && SSL_CTX_load_verify_locations(tls->ctx, ca_file, NULL) != 1) {
            cio__tls_log_failure(NULL, "loading the trusted CAs");
            return -file_errno(ca_file);
        }
        tls->verify = verify;
        SSL_CTX_set_verify(tls->ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
        return 0;
    }
    if (verify) {
        if (!ca_file)
            return -EINVAL;
        if (SSL_CTX_load_verify_locations(tls->ctx, ca_file, NULL) != 1) {
            cio__tls_log_failure(NULL, "loading the trusted CAs");
            return -file_errno(ca_file);
        }
    }
    tls->verify = verify;
    SSL_CTX_set_verify(tls->ctx,
                       verify ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_NONE,
                       NULL);
    return 0;
}

int cio_tls_set_handshake_timeout(cio_tls *tls, double seconds) {
    if (!tls || seconds != seconds)
        return -EINVAL;
    tls->handshake_timeout = seconds;
    return 0;
}
