/* cio-tls: TLS streams on OpenSSL, driven by the cio loop.
 *
 * Link with `pkg-config --libs cio-tls` (libcio-tls, libssl, libcrypto,
 * libcio). OpenSSL works on memory buffers only: every byte still moves
 * through the loop's own recv/send, so TLS runs on whichever backend the
 * loop uses, with no blocking socket and no extra thread.
 *
 * A TLS stream is a cio_stream: cio_stream_read, readexactly, readuntil,
 * readline, peek, write, drain, write_eof and close behave as on plain
 * streams, limits and "a cancelled read loses no data" included. On top:
 *   - write_eof and a graceful close send TLS close_notify first;
 *   - the peer's close_notify reads as EOF, and so does a TCP EOF that
 *     falls between two records (as asyncio's suppress_ragged_eofs); a
 *     connection that ends inside a record is an error (CIO_ETLS);
 *   - handshake and verification failures return CIO_ETLS; in debug mode
 *     (CIO_DEBUG=1 or cio_options.debug) OpenSSL's reason is logged
 *     through cio_log ("certificate has expired", "hostname mismatch"...).
 *
 * Verification is on by default for clients: the chain against the trust
 * store (the system's, or a CA file), the host name (DNS name or IP
 * address) against the certificate, with SNI sent for names. TLS 1.2 is the
 * minimum; renegotiation is refused. */
#ifndef CIO_TLS_H
#define CIO_TLS_H

#include <cio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CIO_ETLS is defined in cio.h: -(CIO_EBASE + 7). */

/* A TLS configuration (OpenSSL SSL_CTX): shared by any number of
   connections, on any loops; thread-safe to share once configured. */
typedef struct cio_tls cio_tls;

/* A client configuration. ca_file NULL: the system's trust store; else a
   PEM file of trusted CA certificates. NULL and errno: ENOENT/EACCES for an
   unreadable file, EINVAL for a file OpenSSL cannot use, ENOMEM. */
CIO_API cio_tls *cio_tls_client_new(const char *ca_file);
/* A server configuration from a PEM certificate chain (the server's
   certificate first) and its private key. NULL and errno: ENOENT/EACCES,
   EINVAL (not PEM, or the key does not match the certificate), ENOMEM. */
CIO_API cio_tls *cio_tls_server_new(const char *cert_file, const char *key_file);
/* Drops the caller's reference; connections made with tls keep theirs, so
   it may be freed while they run. NULL is a no-op. */
CIO_API void cio_tls_free(cio_tls *tls);
/* ALPN: a client offers protos in this order; a server picks the first of
   its protos that the client offers (no overlap: no protocol, not an
   error). Each name 1..255 bytes. 0, -EINVAL, -ENOMEM. Set before use. */
CIO_API int cio_tls_set_alpn(cio_tls *tls, const char *const *protos, size_t n);
/* Client: verify false skips chain and host name checks (tests against
   throwaway certificates only). Server: verify true asks for and checks a
   client certificate (against ca_file, required). 0 or -EINVAL. */
CIO_API int cio_tls_set_verify(cio_tls *tls, bool verify, const char *ca_file);
/* Seconds a handshake may take (default 60, as asyncio; <= 0: no limit).
   A handshake that takes longer fails with -ETIMEDOUT. 0 or -EINVAL. */
CIO_API int cio_tls_set_handshake_timeout(cio_tls *tls, double seconds);

/* In a task: cio_open_connection, then the TLS handshake as a client.
   server_hostname is the name checked against the certificate and sent as
   SNI (NULL: host; an IP literal is checked as an address and sends no
   SNI). NULL with errno as cio_open_connection, or -CIO_ETLS (the
   positive form: cio_strerror(-errno) names it), ETIMEDOUT, EINVAL (tls is
   a server configuration, or no name to verify: host and server_hostname
   both NULL with verification on). */
CIO_API cio_stream *cio_open_connection_tls(const char *host, unsigned port, cio_tls *tls,
                                            const char *server_hostname);
/* cio_start_server whose connections do the TLS handshake (as the server)
   in their own task before the handler runs; a connection whose handshake
   fails is closed without calling the handler (debug mode logs why). tls
   must be a server configuration (else NULL, errno EINVAL); the server
   holds a reference until it is freed. */
CIO_API cio_server *cio_start_server_tls(const char *host, unsigned port,
                                         cio_stream_handler handler, void *arg, cio_tls *tls);
/* In a task: STARTTLS. Upgrades a plain stream in place (the same
   cio_stream * from then on): what was written before goes out in clear
   first; bytes the stream had already buffered from the peer are the
   handshake's. Client or server by tls's kind (server_hostname as for
   cio_open_connection_tls, ignored by servers). 0, CIO_ETLS, -ETIMEDOUT,
   -ECANCELED, -EBUSY (a read in progress), -EALREADY (already TLS),
   -EINVAL. After a failure the stream is unusable (reads and writes return
   the error); close it. */
CIO_API int cio_stream_start_tls(cio_stream *s, cio_tls *tls, const char *server_hostname);
/* Whether s is a TLS stream (handshake done). */
CIO_API bool cio_stream_is_tls(const cio_stream *s);
/* The ALPN protocol agreed on, or NULL (none, or not TLS). Valid while s is. */
CIO_API const char *cio_stream_tls_alpn(const cio_stream *s);
/* The protocol version ("TLSv1.3"), or NULL when s is not TLS. A static string. */
CIO_API const char *cio_stream_tls_version(const cio_stream *s);
/* The cipher suite ("TLS_AES_256_GCM_SHA384"), or NULL when s is not TLS. A
   static string. */
CIO_API const char *cio_stream_tls_cipher(const cio_stream *s);

#ifdef __cplusplus
}
#endif

#endif
