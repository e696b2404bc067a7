/* Streams and servers: the stream object shared by stream.c (lifetime,
 * reading), stream_write.c (writing, drain, close), stream_open.c (name
 * resolution, open_connection) and server.c. */
#ifndef CIO_STREAM_H
#define CIO_STREAM_H

#include "cio.h"
#include "loop.h"
#include "task.h"
#include "waitq.h"
#include <netdb.h>
#include <stdbool.h>

enum {
    CIO__RBUF_MIN = 1024,       /* first read buffer */
    CIO__RBUF_MAX = 256 * 1024, /* doubling stops here unless readuntil needs more */
    CIO__RBUF_KEEP = 16 * 1024, /* larger buffers are dropped when a connection goes quiet */
    CIO__WBUF_MIN = 1024,       /* the send buffer exists only while bytes wait */
};

/* A transport between the stream's buffers and the socket (cio-tls fills one
 * in; the core never knows what it is). Unset on plain streams, which pay one
 * predictable branch per recv and per write. */
typedef struct cio__stream_transport {
    /* In the reader's task, instead of recv: up to n bytes into buf, 0 at
     * EOF, or a negative errno (-ECANCELED keeps every byte for later). */
    ssize_t (*recv)(cio_stream *s, void *buf, size_t n);
    /* Instead of copying into the send buffer: encode data, then hand the
     * result to cio__stream_write_raw. Never suspends. */
    int (*write)(cio_stream *s, const void *data, size_t n);
    /* Before write_eof and a graceful close (TLS: close_notify). */
    void (*shutdown)(cio_stream *s);
    /* When the stream's memory goes. */
    void (*release)(cio_stream *s);
} cio__stream_transport;

struct cio_stream {
    int fd;
    cio_loop *loop;
    /* read side: buffered bytes are rbuf[rpos, rend) */
    char *rbuf;
    size_t rcap, rpos, rend, last_fill, limit;
    int rerr;
    bool eof, reading, rgrow;
    bool quiet; /* the reader's last wait was long enough for its stack to be trimmed */
    /* write side: unsent bytes are wbuf[wpos, wend) */
    char *wbuf, *wbuf_kernel; /* wbuf_kernel: the buffer the send request reads */
    size_t wcap, wpos, wend, high, low;
    int werr;
    bool sending, eof_wanted, eof_done;
    cio__req send_req;
    cio__waitq writers; /* drain and close */
    /* lifetime */
    unsigned busy; /* the send request and the reader in flight */
    bool closed, server_owned;
    /* optional transport (NULL: plain socket) and its state */
    const cio__stream_transport *transport;
    void *transport_ctx;
};

/* The fd and memory go once closed with nothing in flight (the fd only, while
 * a server still owns the stream). */
CIO_API void cio__stream_release(cio_stream *s); /* exported for cio-tls */
/* A stream over an accepted socket that the server releases: the handler's
 * cio_stream_close then only closes the connection. NULL (fd closed) on ENOMEM. */
cio_stream *cio__stream_adopt(int fd, bool server_owned);
/* The server's end of a connection: closes s if the handler did not (in a
 * task, sending what is buffered unless `abort`), then releases it. */
void cio__stream_finish(cio_stream *s, bool abort);

/* Puts n bytes into the send buffer as they are (no transport) and starts
 * sending: what a transport's write calls. 0 or the connection's error.
 * Exported for the optional modules (libcio-tls), not public API. */
CIO_API int cio__stream_write_raw(cio_stream *s, const void *data, size_t n);

/* A module that wraps the handler (cio-tls) frees its wrapper with the
 * server's memory. Exported for the optional modules, not public API. */
CIO_API void cio__server_set_arg_free(cio_server *srv, void (*arg_free)(void *arg));

/* Closes s without sending what is buffered (never suspends), then releases
 * it like cio_stream_close. */
int cio__stream_abort(cio_stream *s);

/* In a task when host is a name (the resolver runs in the default executor);
 * NULL and numeric hosts resolve at once (NULL: loopback, or with passive the
 * IPv4 wildcard). 0 and *res, or a negative errno / CIO_EGAI + EAI_x. */
int cio__resolve(const char *host, unsigned port, bool passive, struct addrinfo **res);

/* A server over a socket already listening (Unix sockets); it owns lfd from
 * now on, also on failure (NULL with errno: EPERM without a running loop,
 * EINVAL, ENOMEM). */
cio_server *cio__server_adopt(int lfd, cio_stream_handler handler, void *arg);

#endif
