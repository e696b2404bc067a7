/* Stream writing: the send buffer, its background send request, drain's
 * flow control, write_eof and close.
 *
 * The send request belongs to the stream, not to a task, so write never
 * suspends. The kernel reads the buffer until the request's completion: the
 * buffer is never moved under it. Growing allocates a new buffer and keeps
 * the old one until that completion. */
#include "stream.h"

#include "owner.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { SEND_MAX = 1 << 30 };

static size_t wpending(const cio_stream *s) {
    return s->wend - s->wpos;
}

size_t cio_stream_write_buffer_size(const cio_stream *s) {
    return s ? wpending(s) : 0;
}

static void send_done(cio__req *req, int res, unsigned flags);

static void wake_writers(cio_stream *s) {
    if (s->werr || wpending(s) <= s->low)
        cio__waitq_wake_all(&s->writers, 0);
}

/* A broken connection drops what it could not send. */
static void write_fail(cio_stream *s, int err) {
    if (!s->werr)
        s->werr = err;
    s->wpos = s->wend = 0;
    wake_writers(s);
}

static void send_start(cio_stream *s, bool poll_first) {
    size_t n = wpending(s);
    s->send_req = (cio__req){
        .done = send_done,
        .ctx = s,
        .op = CIO__OP_SEND,
        /* the socket said EAGAIN: wait for room, do not spin */
        .flags = poll_first ? CIO__REQ_POLL_FIRST : 0,
        .fd = s->fd,
        .addr = s->wbuf + s->wpos,
        .len = (uint32_t)(n > SEND_MAX ? SEND_MAX : n),
        .arg = MSG_NOSIGNAL, /* a reset peer is an error, not a signal */
    };
    int r = cio__backend_submit(s->loop->backend, &s->send_req);
    if (r < 0) {
        write_fail(s, r);
        return;
    }
    s->wbuf_kernel = s->wbuf;
    s->sending = true;
    s->busy++;
}

static void send_flushed(cio_stream *s) {
    s->wpos = s->wend = 0;
    /* An idle connection keeps no send buffer (W11); malloc is cheap next to a send. */
    free(s->wbuf);
    s->wbuf = NULL;
    s->wcap = 0;
    if (s->eof_wanted && !s->eof_done && !s->werr) {
        s->eof_done = true;
        if (shutdown(s->fd, SHUT_WR) < 0)
            s->werr = -errno;
    }
}

static void send_done(cio__req *req, int res, unsigned flags) {
    (void)flags;
    cio_stream *s = req->ctx;
    s->sending = false;
    s->busy--;
    if (s->wbuf_kernel != s->wbuf)
        free(s->wbuf_kernel);
    s->wbuf_kernel = NULL;
    if (res < 0 && res != -EAGAIN && res != -EINTR)
        write_fail(s, res == -ECANCELED ? -EPIPE : res);
    else if (res > 0 && !s->werr) /* after an abort the bytes were dropped already */
        s->wpos += (size_t)res;
    if (!wpending(s))
        send_flushed(s);
    else if (!s->werr)
        send_start(s, res == -EAGAIN);
    wake_writers(s);
    cio__stream_release(s);
}

/* Room for n more bytes without moving what the kernel may be reading. */
static int wbuf_reserve(cio_stream *s, size_t n) {
    size_t pend = wpending(s);
    if (s->wcap - s->wend >= n)
        return 0;
    if (!s->sending && s->wcap - pend >= n) {
        memmove(s->wbuf, s->wbuf + s->wpos, pend);
        s->wpos = 0;
        s->wend = pend;
        return 0;
    }
    if (n > SIZE_MAX / 4 - pend)
        return -ENOMEM;
    size_t cap = CIO__WBUF_MIN;
    while (cap < pend + n)
        cap *= 2;
    char *nb = malloc(cap);
    if (!nb)
        return -ENOMEM;
    if (pend)
        memcpy(nb, s->wbuf + s->wpos, pend);
    if (s->wbuf != s->wbuf_kernel)
        free(s->wbuf);
    s->wbuf = nb;
    s->wcap = cap;
    s->wpos = 0;
    s->wend = pend;
    return 0;
}

int cio_stream_write(cio_stream *s, const void *data, size_t n) {
    if (!s || (!data && n))
        return -EINVAL;
    if (s->werr)
        return s->werr;
    if (s->closed || s->eof_wanted)
        return -EPIPE;
    if (!n)
        return 0;
    /* A stream made before the loop ran takes the loop it is first written on. */
    if (!s->loop && !(s->loop = cio__loop_running()))
        return -EPERM;
    cio__loop_check_owner(s->loop, "cio_stream_write");
    int r = wbuf_reserve(s, n);
    if (r < 0)
        return r;
    memcpy(s->wbuf + s->wend, data, n);
    s->wend += n;
    if (!s->sending)
        send_start(s, false);
    return s->werr;
}

int cio_stream_drain(cio_stream *s) {
    int r = s ? cio__task_require(__func__) : -EINVAL;
    if (r < 0)
        return r;
    if (wpending(s) <= s->high)
        return s->werr;
    /* Counted as in flight: a close from another task must not free s under us. */
    s->busy++;
    while (r == 0 && !s->werr && wpending(s) > s->low)
        r = cio__waitq_wait(&s->writers, &(cio__waiter){0});
    s->busy--;
    if (r == 0)
        r = s->werr;
    cio__stream_release(s);
    return r;
}

int cio_stream_write_eof(cio_stream *s) {
    if (!s)
        return -EINVAL;
    if (s->werr)
        return s->werr;
    if (s->closed)
        return -EPIPE;
    s->eof_wanted = true;
    if (!s->sending)
        send_flushed(s);
    return s->werr;
}

/* ---- closing ---- */

/* In a task: waits until everything is sent. 0, the error, or -ECANCELED. */
static int flush_all(cio_stream *s) {
    while (!s->werr && wpending(s)) {
        int r = cio__waitq_wait(&s->writers, &(cio__waiter){0});
        if (r < 0)
            return r;
    }
    return s->werr;
}

static int stream_close(cio_stream *s, bool graceful) {
    if (s->closed)
        return -EBADF;
    s->closed = true; /* from here on writes fail and a second close is refused */
    bool had_data = wpending(s) > 0;
    int r = 0;
    if (graceful && had_data && cio__task_current()) {
        s->busy++; /* the send's completion must not free s while we wait */
        r = flush_all(s);
        s->busy--;
    } else if (had_data) {
        r = -EPIPE;
    }
    if (s->sending)
        cio__backend_cancel(s->loop->backend, &s->send_req);
    write_fail(s, -EPIPE);
    /* A reader parked in another task gets EOF. */
    if (s->reading)
        shutdown(s->fd, SHUT_RDWR);
    cio__stream_release(s);
    return r;
}

int cio_stream_close(cio_stream *s) {
    return s ? stream_close(s, true) : -EINVAL;
}

void cio__stream_finish(cio_stream *s, bool abort) {
    if (!s->closed)
        stream_close(s, !abort);
    s->server_owned = false;
    cio__stream_release(s);
}

int cio__stream_abort(cio_stream *s) {
    return s ? stream_close(s, false) : -EINVAL;
}
