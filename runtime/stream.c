/* Streams: asyncio's StreamReader and StreamWriter over one socket; this
 * file has their lifetime and the reading side (stream_write.c the rest).
 *
 * Reading happens in the caller's task. An idle connection holds no read
 * buffer: while none is allocated the reader waits for readability with a
 * poll request, and allocates only once data is there. The buffer doubles
 * while recvs keep filling it and is dropped again when a connection that
 * held a large one goes quiet. A plain read with nothing buffered receives
 * straight into the caller's memory.
 *
 * Lifetime: the struct and the fd outlive cio_stream_close while the send
 * request or a reader is still in flight (`busy`); the fd number is closed
 * only then, so no queued request can ever hit a reused descriptor. */
#include "stream.h"

#include "owner.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- lifetime ---- */

static cio_stream *stream_alloc(int fd, bool server_owned) {
    cio_stream *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    s->fd = fd;
    s->loop = cio__loop_running();
    s->limit = CIO_STREAM_LIMIT;
    s->high = CIO_STREAM_HIGH_WATER;
    s->low = CIO_STREAM_LOW_WATER;
    s->server_owned = server_owned;
    if (s->loop)
        cio__loop_fd_owned(s->loop, fd);
    /* Small writes answer requests: Nagle would hold them (asyncio does the same). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}

/* The fd and memory go once closed and nothing is in flight any more. */
void cio__stream_release(cio_stream *s) {
    if (!s->closed || s->busy)
        return;
    if (s->fd >= 0) {
        if (s->loop)
            cio__loop_fd_closing(s->loop, s->fd);
        close(s->fd);
        s->fd = -1;
    }
    if (s->server_owned)
        return;
    if (s->transport)
        s->transport->release(s);
    free(s->rbuf);
    if (s->wbuf_kernel && s->wbuf_kernel != s->wbuf)
        free(s->wbuf_kernel);
    free(s->wbuf);
    free(s);
}

cio_stream *cio__stream_adopt(int fd, bool server_owned) {
    return stream_alloc(fd, server_owned);
}

cio_stream *cio_stream_new(int fd) {
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    return stream_alloc(fd, false);
}

int cio_stream_fd(const cio_stream *s) {
    return s ? s->fd : -EBADF;
}

void cio_stream_set_limit(cio_stream *s, size_t limit) {
    if (s)
        s->limit = limit ? limit : CIO_STREAM_LIMIT;
}

int cio_stream_set_write_limits(cio_stream *s, size_t high, size_t low) {
    if (!s)
        return -EINVAL;
    if (!high) {
        high = CIO_STREAM_HIGH_WATER;
        low = CIO_STREAM_LOW_WATER;
    }
    if (low > high)
        return -EINVAL;
    s->high = high;
    s->low = low;
    return 0;
}

/* ---- reading ---- */

static size_t rbuffered(const cio_stream *s) {
    return s->rend - s->rpos;
}

bool cio_stream_at_eof(const cio_stream *s) {
    return s && s->eof && !rbuffered(s);
}

void cio_stream_consume(cio_stream *s, size_t n) {
    if (!s)
        return;
    size_t have = rbuffered(s);
    s->rpos += n < have ? n : have;
    if (s->rpos == s->rend)
        s->rpos = s->rend = 0;
}

static size_t take(cio_stream *s, void *buf, size_t n) {
    size_t have = rbuffered(s);
    if (n > have)
        n = have;
    if (!n)
        return 0;
    memcpy(buf, s->rbuf + s->rpos, n);
    cio_stream_consume(s, n);
    return n;
}

/* Reader bracket: one reader at a time, and the stream stays allocated
 * until the reader is out even if another task closes it meanwhile. */
static int read_begin(cio_stream *s) {
    if (!s)
        return -EINVAL;
    int r = cio__task_require("cio_stream_read");
    if (r < 0)
        return r;
    cio__loop_check_owner(s->loop, "cio_stream_read");
    if (s->reading)
        return -EBUSY;
    if (s->closed)
        return -EBADF;
    s->reading = true;
    s->busy++;
    return 0;
}

enum { READ_DIRECT = 512 }; /* reads at least this big bypass the buffer */

static ssize_t read_end(cio_stream *s, ssize_t r) {
    s->reading = false;
    s->busy--;
    if (s->closed) {
        cio__stream_release(s);
        return r < 0 ? r : 0;
    }
    return r;
}

/* A recv result: EOF and connection errors stick; a cancellation does not. */
static ssize_t note_recv(cio_stream *s, ssize_t n) {
    if (n == 0)
        s->eof = true;
    else if (n < 0 && n != -ECANCELED && n != -EINTR && n != -EAGAIN)
        s->rerr = (int)n;
    return n;
}

static int wait_readable(cio_stream *s) {
    int r = cio__io(&(cio__req){.op = CIO__OP_POLL, .fd = s->fd, .len = POLLIN | POLLRDHUP});
    return r < 0 ? r : 0;
}

/* Room for at least `need` more bytes after rend. */
static int rbuf_reserve(cio_stream *s, size_t need) {
    if (s->rpos && s->rcap - s->rend < need) {
        memmove(s->rbuf, s->rbuf + s->rpos, rbuffered(s));
        s->rend -= s->rpos;
        s->rpos = 0;
    }
    size_t cap = s->rcap ? s->rcap : CIO__RBUF_MIN;
    if (s->rgrow && cap < CIO__RBUF_MAX)
        cap *= 2;
    while (cap - s->rend < need)
        cap *= 2;
    s->rgrow = false;
    if (cap == s->rcap)
        return 0;
    char *nb = realloc(s->rbuf, cap);
    if (!nb)
        return -ENOMEM;
    s->rbuf = nb;
    s->rcap = cap;
    return 0;
}

/* A connection that went quiet gives its large buffer back, and an idle one
 * (its reader's stack was trimmed in its last wait: task_trim.c) any empty
 * buffer; with no buffer the wait for data happens without one. */
static int await_data(cio_stream *s) {
    if (s->rbuf && !rbuffered(s) &&
        (s->quiet || (s->rcap > CIO__RBUF_KEEP && s->last_fill < CIO__RBUF_KEEP))) {
        free(s->rbuf);
        s->rbuf = NULL;
        s->rcap = s->rpos = s->rend = 0;
    }
    if (s->rbuf)
        return 1;
    int r = wait_readable(s);
    return r < 0 ? r : 0;
}

/* A transport may hold decoded bytes the socket no longer shows as
 * readable: it is asked directly, never after a readiness wait. */
static ssize_t fill_transport(cio_stream *s, size_t need) {
    int r = rbuf_reserve(s, need ? need : 1);
    if (r < 0)
        return r;
    size_t room = s->rcap - s->rend;
    ssize_t n = note_recv(s, s->transport->recv(s, s->rbuf + s->rend, room));
    if (n <= 0)
        return n;
    s->rend += (size_t)n;
    s->last_fill = (size_t)n;
    s->rgrow = (size_t)n == room;
    return n;
}

/* A recv straight into the caller's memory (through the transport if any). */
static ssize_t recv_direct(cio_stream *s, void *buf, size_t n) {
    if (s->transport)
        return note_recv(s, s->transport->recv(s, buf, n));
    return note_recv(s, cio_recv(s->fd, buf, n > UINT_MAX ? UINT_MAX : n, 0));
}

/* One recv into the buffer: > 0 bytes, 0 at EOF, an error, or -EAGAIN
 * when a readiness wakeup was spurious. */
static ssize_t fill_waited(cio_stream *s, size_t need) {
    if (s->transport)
        return fill_transport(s, need);
    int ready = await_data(s);
    if (ready < 0)
        return ready;
    int r = rbuf_reserve(s, need ? need : 1);
    if (r < 0)
        return r;
    size_t room = s->rcap - s->rend;
    if (room > UINT_MAX)
        room = UINT_MAX;
    ssize_t n;
    if (ready) {
        n = cio_recv(s->fd, s->rbuf + s->rend, room, 0);
        /* A non-blocking socket may bounce the request: wait, then retry. */
        if (n == -EAGAIN && (r = wait_readable(s)) < 0)
            return r;
    } else {
        /* Readable already: one plain syscall instead of another round trip. */
        n = recv(s->fd, s->rbuf + s->rend, room, MSG_DONTWAIT);
        if (n < 0)
            n = -errno;
    }
    if (note_recv(s, n) <= 0)
        return n;
    s->rend += (size_t)n;
    s->last_fill = (size_t)n;
    s->rgrow = (size_t)n == room;
    return n;
}

/* A wait that outlasted the loop's trim threshold marks the connection
 * idle: its next wait starts without a buffer (a poll, then a plain recv). */
static ssize_t fill_once(cio_stream *s, size_t need) {
    cio__task *t = cio__task_current();
    uint32_t trims = t->trims;
    ssize_t n = fill_waited(s, need);
    s->quiet = t->trims != trims;
    return n;
}

/* Receives more into the buffer: > 0 bytes, 0 at EOF, or an error. */
static ssize_t fill(cio_stream *s, size_t need) {
    for (;;) {
        if (s->rerr)
            return s->rerr;
        if (s->eof)
            return 0;
        ssize_t n = fill_once(s, need);
        if (n != -EAGAIN && n != -EWOULDBLOCK)
            return n;
    }
}

ssize_t cio_stream_read(cio_stream *s, void *buf, size_t n) {
    int r = !buf && n ? -EINVAL : read_begin(s);
    if (r < 0)
        return r;
    ssize_t got;
    if (!n || rbuffered(s)) {
        got = (ssize_t)take(s, buf, n);
    } else if (s->rerr || s->eof) {
        got = s->rerr;
    } else if (n >= READ_DIRECT) {
        got = recv_direct(s, buf, n);
    } else {
        got = fill(s, 0);
        if (got > 0)
            got = (ssize_t)take(s, buf, n);
    }
    return read_end(s, got);
}

ssize_t cio_stream_peek(cio_stream *s, const void **data) {
    int r = !data ? -EINVAL : read_begin(s);
    if (r < 0)
        return r;
    ssize_t got = rbuffered(s) ? 1 : fill(s, 0);
    if (got > 0) {
        got = (ssize_t)rbuffered(s);
        *data = s->rbuf + s->rpos;
    }
    return read_end(s, got);
}

static ssize_t readexactly(cio_stream *s, char *buf, size_t n, size_t *got) {
    *got = take(s, buf, n);
    while (*got < n) {
        size_t want = n - *got;
        ssize_t r;
        if (want >= READ_DIRECT && !s->eof && !s->rerr) {
            r = recv_direct(s, buf + *got, want);
            if (r > 0)
                *got += (size_t)r;
        } else {
            r = fill(s, 0);
            if (r > 0)
                *got += take(s, buf + *got, want);
        }
        if (r == 0)
            return CIO_EINCOMPLETE;
        if (r < 0)
            return r;
    }
    return (ssize_t)n;
}

ssize_t cio_stream_readexactly(cio_stream *s, void *buf, size_t n, size_t *got) {
    size_t dummy = 0;
    if (!got)
        got = &dummy;
    *got = 0;
    int r = !buf && n ? -EINVAL : read_begin(s);
    if (r < 0)
        return r;
    return read_end(s, readexactly(s, buf, n, got));
}

/* 0 and the line's length (delimiter included) once one is buffered. */
static ssize_t find_delim(cio_stream *s, const void *delim, size_t dlen, size_t limit,
                          size_t *scanned, size_t *len) {
    for (;;) {
        size_t have = rbuffered(s);
        /* No buffer before the first data: NULL + 0 is undefined behaviour. */
        const char *base = s->rbuf ? s->rbuf + s->rpos : NULL;
        const char *hit =
            have > *scanned ? memmem(base + *scanned, have - *scanned, delim, dlen) : NULL;
        if (hit) {
            *len = (size_t)(hit - base) + dlen;
            return *len > limit ? CIO_ELIMIT : 0;
        }
        if (have >= limit)
            return CIO_ELIMIT;
        /* A delimiter may straddle what came and what comes next. */
        *scanned = have >= dlen ? have - dlen + 1 : 0;
        ssize_t r = fill(s, 0);
        if (r <= 0)
            return r == 0 ? (have ? CIO_EINCOMPLETE : 0) : r;
    }
}

static ssize_t readuntil(cio_stream *s, const void *delim, size_t dlen, char *buf, size_t cap,
                         bool partial_ok) {
    if (!dlen || !delim || !buf || cap < 2)
        return -EINVAL;
    int r = read_begin(s);
    if (r < 0)
        return r;
    size_t limit = s->limit < cap - 1 ? s->limit : cap - 1;
    size_t scanned = 0, len = 0;
    ssize_t res = find_delim(s, delim, dlen, limit, &scanned, &len);
    if (res == CIO_EINCOMPLETE && partial_ok) {
        len = rbuffered(s);
        res = 0;
    }
    if (res == 0 && len) {
        take(s, buf, len);
        buf[len] = '\0';
        res = (ssize_t)len;
    } else if (res == 0) {
        buf[0] = '\0';
    }
    return read_end(s, res);
}

ssize_t cio_stream_readuntil(cio_stream *s, const void *delim, size_t dlen, char *buf, size_t cap) {
    return readuntil(s, delim, dlen, buf, cap, false);
}

ssize_t cio_stream_readline(cio_stream *s, char *buf, size_t cap) {
    return readuntil(s, "\n", 1, buf, cap, true);
}
