/* cio_process_communicate: a writer task feeds stdin while reader tasks
 * drain stdout and stderr, so neither side can fill a pipe and stall the
 * other (megabytes both ways), then the exit is waited for. */
#include "subprocess.h"

#include "task.h"
#include "vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 64 * 1024 };

typedef struct feed {
    cio_process *p;
    const char *data;
    size_t len;
} feed;

typedef struct sink {
    cio_stream *s;
    char *buf;
    size_t len, cap;
} sink;

/* Writes in chunks with drain, so the send buffer never holds all of it. */
static void *write_input(void *arg) {
    feed *f = arg;
    cio_stream *s = f->p->in;
    int r = 0;
    for (size_t off = 0; r == 0 && off < f->len; off += CHUNK) {
        size_t n = f->len - off < CHUNK ? f->len - off : CHUNK;
        r = cio_stream_write(s, f->data + off, n);
        if (r == 0)
            r = cio_stream_drain(s);
    }
    f->p->in = NULL; /* stdin is closed from here on, as asyncio's communicate does */
    int c = cio_stream_close(s);
    r = r ? r : c;
    /* A child that does not read all its input is not an error. */
    if (r == -EPIPE || r == -ECONNRESET)
        r = 0;
    return r ? cio_fail(r) : NULL;
}

static int grow(sink *k) {
    return cio__vec_reserve(k->buf, &k->cap, k->len + 2, CHUNK);
}

/* Reads to EOF, keeping one byte for the NUL. */
static void *read_all(void *arg) {
    sink *k = arg;
    for (;;) {
        int r = grow(k);
        if (r < 0)
            return cio_fail(r);
        ssize_t n = cio_stream_read(k->s, k->buf + k->len, k->cap - k->len - 1);
        if (n == 0)
            break;
        if (n < 0)
            return cio_fail((int)n);
        k->len += (size_t)n;
    }
    return NULL;
}

/* Hands a sink's bytes to the caller (or frees them when not wanted). */
static int deliver(sink *k, char **out, size_t *out_len) {
    if (k->s && !k->buf && grow(k) < 0)
        return -ENOMEM;
    if (k->buf)
        k->buf[k->len] = '\0';
    if (out)
        *out = k->buf;
    else
        free(k->buf);
    if (out_len)
        *out_len = k->len;
    k->buf = NULL;
    return 0;
}

static int run_helpers(cio_process *p, feed *in, sink *out, sink *err) {
    cio_future *fs[3];
    size_t n = 0;
    int r = 0;
    if (p->in && !(fs[n++] = cio_create_task(write_input, in)))
        r = -errno;
    if (r == 0 && out->s && !(fs[n++] = cio_create_task(read_all, out)))
        r = -errno;
    if (r == 0 && err->s && !(fs[n++] = cio_create_task(read_all, err)))
        r = -errno;
    if (r < 0) {
        n--;
        for (size_t i = 0; i < n; i++)
            cio_cancel(fs[i]);
    }
    /* Waits for every helper (also when cancelled: they use our stack). */
    int g = n ? cio_gather(fs, n, CIO_RETURN_EXCEPTIONS) : 0;
    for (size_t i = 0; i < n; i++) {
        int e = cio_future_error(fs[i]);
        if (r == 0 && e < 0)
            r = e;
        cio_future_unref(fs[i]);
    }
    return g < 0 ? g : r;
}

int cio_process_communicate(cio_process *p, const void *input, size_t input_len, char **out,
                            size_t *out_len, char **err, size_t *err_len) {
    if (!p || (input_len && !input) || (input_len && !p->in))
        return -EINVAL;
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    feed in = {.p = p, .data = input, .len = input_len};
    sink o = {.s = p->out}, e = {.s = p->err};
    r = run_helpers(p, &in, &o, &e);
    if (r == 0)
        r = cio_process_wait(p, NULL);
    if (r == 0)
        r = deliver(&o, out, out_len);
    if (r == 0 && (r = deliver(&e, err, err_len)) < 0 && out)
        free(*out);
    free(o.buf);
    free(e.buf);
    if (r < 0) {
        if (out)
            *out = NULL;
        if (err)
            *err = NULL;
    }
    return r;
}
