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

struct cio_stream {
    int fd;
    cio_loop *loop;
    /* read side: buffered bytes are rbuf[rpos, rend) */
    char *rbuf;
    size_t rcap, rpos, rend, last_fill, limit;
    int rerr;
    bool eof, reading, rgrow;
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
};

/* The fd and memory go once closed with nothing in flight (the fd only, while
 * a server still owns the stream). */
void cio__stream_release(cio_stream *s);
/* A stream over an accepted socket that the server releases: the handler's
 * cio_stream_close then only closes the connection. NULL (fd closed) on ENOMEM. */
cio_stream *cio__stream_adopt(int fd, bool server_owned);
/* The server's end of a connection: closes s if the handler did not (in a
 * task, sending what is buffered unless `abort`), then releases it. */
void cio__stream_finish(cio_stream *s, bool abort);

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
