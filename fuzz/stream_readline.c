/* libFuzzer target: cio_stream's reading side against a model.
 *
 * Input: three control bytes, then the payload. A writer task sends the
 * payload through a socketpair in pieces of varying size (so delimiters
 * straddle recvs); a reader task runs a random mix of readline, readuntil
 * (with several delimiters), readexactly and read under a small limit, and
 * checks every result against the payload itself: the bytes returned are
 * the next bytes of the payload, a line ends where the first delimiter
 * ends, CIO_ELIMIT happens exactly when no delimiter ends within the limit
 * and leaves the bytes readable, and at the end every byte has been read
 * once. Any mismatch aborts (libFuzzer reports it as a crash). */
#include <cio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

enum { CTRL = 3, BUF_CAP = 256 };

typedef struct fz {
    const unsigned char *data; /* the payload */
    size_t len;
    size_t limit; /* the stream's readline/readuntil limit */
    size_t cap;   /* the caller's buffer size for readuntil (limit is cap - 1 when smaller) */
    uint32_t seed;
    int fd[2];
    size_t off; /* bytes of the payload the reader has consumed */
} fz;

static uint32_t next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* ---- the writer ---- */

static void *writer(void *arg) {
    fz *z = arg;
    uint32_t rng = z->seed ^ 0x9e3779b9u;
    size_t sent = 0;
    while (sent < z->len) {
        size_t n = 1 + next(&rng) % 97;
        if (n > z->len - sent)
            n = z->len - sent;
        ssize_t r = cio_send_all(z->fd[1], z->data + sent, n, 0);
        REQUIRE(r == (ssize_t)n);
        sent += n;
        if (next(&rng) % 3 == 0)
            REQUIRE(cio_yield() == 0);
    }
    REQUIRE(shutdown(z->fd[1], SHUT_WR) == 0);
    return NULL;
}

/* ---- the model ---- */

static size_t remaining(const fz *z) {
    return z->len - z->off;
}

/* Length of the text up to the end of the first delim, 0 if there is none. */
static size_t model_line(const fz *z, const char *delim, size_t dlen) {
    const void *hit = memmem(z->data + z->off, remaining(z), delim, dlen);
    return hit ? (size_t)((const unsigned char *)hit - (z->data + z->off)) + dlen : 0;
}

static void expect_bytes(fz *z, const void *got, size_t n) {
    REQUIRE(n <= remaining(z));
    REQUIRE(memcmp(got, z->data + z->off, n) == 0);
    z->off += n;
}

/* ---- the reader's operations ---- */

static void op_read(fz *z, cio_stream *s, size_t n) {
    char buf[BUF_CAP];
    ssize_t r = cio_stream_read(s, buf, n);
    REQUIRE(r >= 0 && (size_t)r <= n);
    REQUIRE(r > 0 || n == 0 || remaining(z) == 0);
    expect_bytes(z, buf, (size_t)r);
}

static void op_readexactly(fz *z, cio_stream *s, size_t n) {
    char buf[BUF_CAP];
    size_t got = 12345;
    ssize_t r = cio_stream_readexactly(s, buf, n, &got);
    if (n <= remaining(z)) {
        REQUIRE(r == (ssize_t)n && got == n);
    } else {
        REQUIRE(r == CIO_EINCOMPLETE && got == remaining(z));
        REQUIRE(cio_stream_at_eof(s) || got == 0);
    }
    expect_bytes(z, buf, got);
}

/* readline (partial) or readuntil, checked against the model. */
static void op_until(fz *z, cio_stream *s, const char *delim, size_t dlen, size_t cap,
                     bool line) {
    char buf[BUF_CAP + 1];
    memset(buf, 0x5a, sizeof buf);
    size_t limit = z->limit < cap - 1 ? z->limit : cap - 1;
    size_t want = model_line(z, delim, dlen);
    ssize_t r = line ? cio_stream_readline(s, buf, cap) : cio_stream_readuntil(s, delim, dlen, buf, cap);
    if ((want && want > limit) || (!want && remaining(z) >= limit)) {
        REQUIRE(r == CIO_ELIMIT);
        /* Nothing consumed: the same bytes come out of a plain read. */
        op_read(z, s, 1 + (size_t)(z->seed % BUF_CAP));
        return;
    }
    if (want) {
        REQUIRE(r == (ssize_t)want);
    } else if (remaining(z) == 0) {
        REQUIRE(r == 0);
    } else if (line) {
        REQUIRE(r == (ssize_t)remaining(z)); /* the last, unterminated line */
    } else {
        REQUIRE(r == CIO_EINCOMPLETE);
        op_read(z, s, BUF_CAP); /* the partial data stays readable */
        return;
    }
    REQUIRE((size_t)r < cap && buf[r] == '\0');
    expect_bytes(z, buf, (size_t)r);
}

static const struct {
    const char *d;
    size_t n;
} delims[] = {{"\n", 1}, {"\r\n", 2}, {"ab", 2}, {"\0\0\0", 3}, {"\r\n\r\n", 4}};

static void *reader(void *arg) {
    fz *z = arg;
    cio_stream *s = cio_stream_new(z->fd[0]);
    REQUIRE(s);
    cio_stream_set_limit(s, z->limit);
    uint32_t rng = z->seed | 1;
    /* Every operation consumes a byte or reports EOF: this bounds the loop. */
    for (size_t ops = 0; ops < 2 * z->len + 8; ops++) {
        uint32_t x = next(&rng);
        size_t n = x % 40;
        switch ((x >> 8) % 4) {
        case 0:
            op_until(z, s, "\n", 1, 2 + (x >> 16) % (BUF_CAP - 1), true);
            break;
        case 1: {
            size_t k = (x >> 12) % (sizeof delims / sizeof delims[0]);
            op_until(z, s, delims[k].d, delims[k].n, 2 + (x >> 16) % (BUF_CAP - 1), false);
            break;
        }
        case 2:
            op_readexactly(z, s, n);
            break;
        default:
            op_read(z, s, n);
        }
        if (remaining(z) == 0 && cio_stream_at_eof(s))
            break;
    }
    REQUIRE(remaining(z) == 0);
    char c;
    REQUIRE(cio_stream_read(s, &c, 1) == 0);
    REQUIRE(cio_stream_close(s) == 0);
    return NULL;
}

static void *fuzz_main(void *arg) {
    fz *z = arg;
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, z->fd) == 0);
    cio_future *w = cio_create_task(writer, z);
    cio_future *r = cio_create_task(reader, z);
    REQUIRE(w && r);
    REQUIRE(cio_await(w, NULL) == 0);
    REQUIRE(cio_await(r, NULL) == 0);
    cio_future_unref(w);
    cio_future_unref(r);
    close(z->fd[1]);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < CTRL)
        return 0;
    fz z = {
        .data = data + CTRL,
        .len = size - CTRL,
        .limit = 1 + data[0] % 64,
        .seed = (uint32_t)data[1] << 8 | data[2] | 0x10000u,
    };
    REQUIRE(cio_run(fuzz_main, &z, NULL) == 0);
    REQUIRE(z.off == z.len);
    return 0;
}
