/* Streams: readexactly / readline / readuntil edge cases, peek, limits, EOF,
 * drain flow control, reset and broken-pipe errors, close with a parked
 * reader, cancellation, open_connection. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ---- */

/* A connected TCP pair on loopback, made synchronously. */
static void tcp_pair(int fds[2]) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fds[0], (struct sockaddr *)&a, sizeof a), 0);
    fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fds[1] >= 0);
    close(l);
}

static void unix_pair(int fds[2]) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
}

/* A task that writes pieces to a raw fd with a pause between them, so that
 * each lands in its own recv. NULL piece: shut the writing side down. */
typedef struct feeder {
    int fd;
    const char *pieces[8];
} feeder;

static void *feed(void *arg) {
    feeder *f = arg;
    for (int i = 0; i < 8 && f->pieces[i]; i++) {
        size_t n = strlen(f->pieces[i]);
        assert_int_equal(write(f->fd, f->pieces[i], n), (ssize_t)n);
        cio_sleep(0.02);
    }
    shutdown(f->fd, SHUT_WR);
    return NULL;
}

static cio_future *start_feeder(feeder *f) {
    return cio_create_task(feed, f);
}

static void finish(cio_future *t) {
    assert_int_equal(cio_await(t, NULL), 0);
    cio_future_unref(t);
}

/* ---- readexactly ---- */

static void *readexactly_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    feeder f = {fds[1], {"he", "l", "lo wo", "rld!"}};
    cio_future *t = start_feeder(&f);
    char buf[64] = {0};
    size_t got = 99;
    assert_int_equal(cio_stream_readexactly(s, buf, 5, &got), 5);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "hello", 5);
    memset(buf, 0, sizeof buf);
    /* 600 bytes wanted, 7 come before EOF: the partial count is reported. */
    assert_int_equal(cio_stream_readexactly(s, buf, 600, &got), CIO_EINCOMPLETE);
    assert_int_equal(got, 7);
    assert_string_equal(buf, " world!");
    assert_true(cio_stream_at_eof(s));
    assert_int_equal(cio_stream_readexactly(s, buf, 1, &got), CIO_EINCOMPLETE);
    assert_int_equal(got, 0);
    assert_int_equal(cio_stream_readexactly(s, buf, 0, NULL), 0);
    finish(t);
    assert_int_equal(cio_stream_close(s), 0);
    close(fds[1]);
    return NULL;
}

static void test_readexactly_split_and_eof(void **state) {
    (void)state;
    assert_int_equal(cio_run(readexactly_main, NULL, NULL), 0);
}

/* ---- readline / readuntil ---- */

static void *readline_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    feeder f = {fds[1], {"ab", "c\nde", "f\n\n", "gh"}};
    cio_future *t = start_feeder(&f);
    char line[32];
    assert_int_equal(cio_stream_readline(s, line, sizeof line), 4);
    assert_string_equal(line, "abc\n");
    assert_int_equal(cio_stream_readline(s, line, sizeof line), 4);
    assert_string_equal(line, "def\n");
    assert_int_equal(cio_stream_readline(s, line, sizeof line), 1);
    assert_string_equal(line, "\n");
    /* EOF mid-line: readline returns the unterminated rest, then 0. */
    assert_int_equal(cio_stream_readline(s, line, sizeof line), 2);
    assert_string_equal(line, "gh");
    assert_int_equal(cio_stream_readline(s, line, sizeof line), 0);
    assert_string_equal(line, "");
    assert_true(cio_stream_at_eof(s));
    finish(t);
    cio_stream_close(s);
    close(fds[1]);
    return NULL;
}

static void test_readline_split_and_eof_mid_line(void **state) {
    (void)state;
    assert_int_equal(cio_run(readline_main, NULL, NULL), 0);
}

/* ---- a line asked for before any data came (no read buffer yet) ---- */

static void *line_before_data_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    char buf[16];
    /* Found by fuzz/stream_readline under clang's UBSan: the scan computed
       rbuf + rpos while rbuf was still NULL. */
    shutdown(fds[1], SHUT_WR);
    assert_int_equal(cio_stream_readuntil(s, "\r\n", 2, buf, sizeof buf), 0);
    assert_int_equal(cio_stream_readline(s, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_true(cio_stream_at_eof(s));
    assert_int_equal(cio_stream_close(s), 0);
    close(fds[1]);
    return NULL;
}

static void test_line_before_any_data(void **state) {
    (void)state;
    assert_int_equal(cio_run(line_before_data_main, NULL, NULL), 0);
}

static void *readuntil_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    /* The two-byte delimiter straddles two packets. */
    feeder f = {fds[1], {"foo\r", "\nbar\r\nz", "z"}};
    cio_future *t = start_feeder(&f);
    char buf[32];
    assert_int_equal(cio_stream_readuntil(s, "\r\n", 2, buf, sizeof buf), 5);
    assert_string_equal(buf, "foo\r\n");
    assert_int_equal(cio_stream_readuntil(s, "\r\n", 2, buf, sizeof buf), 5);
    assert_string_equal(buf, "bar\r\n");
    /* EOF before a delimiter: an error, and the bytes stay readable. */
    assert_int_equal(cio_stream_readuntil(s, "\r\n", 2, buf, sizeof buf), CIO_EINCOMPLETE);
    assert_int_equal(cio_stream_read(s, buf, sizeof buf), 2);
    assert_memory_equal(buf, "zz", 2);
    assert_int_equal(cio_stream_readuntil(s, "\r\n", 2, buf, sizeof buf), 0);
    assert_int_equal(cio_stream_readuntil(s, "", 0, buf, sizeof buf), -EINVAL);
    assert_int_equal(cio_stream_read(s, buf, sizeof buf), 0);
    finish(t);
    cio_stream_close(s);
    close(fds[1]);
    return NULL;
}

static void test_readuntil_straddling_delimiter(void **state) {
    (void)state;
    assert_int_equal(cio_run(readuntil_main, NULL, NULL), 0);
}

static void *limit_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    cio_stream_set_limit(s, 8);
    feeder f = {fds[1], {"0123", "456789abcdef\nxy\n", "tiny\n"}};
    cio_future *t = start_feeder(&f);
    char buf[64];
    /* Over the limit: an error for this call only, nothing consumed. */
    assert_int_equal(cio_stream_readline(s, buf, sizeof buf), CIO_ELIMIT);
    assert_int_equal(cio_stream_readline(s, buf, sizeof buf), CIO_ELIMIT);
    size_t got;
    assert_int_equal(cio_stream_readexactly(s, buf, 17, &got), 17);
    assert_memory_equal(buf, "0123456789abcdef\n", 17);
    assert_int_equal(cio_stream_readline(s, buf, sizeof buf), 3);
    assert_string_equal(buf, "xy\n");
    /* The caller's buffer is a limit too (room for the NUL). */
    assert_int_equal(cio_stream_readline(s, buf, 5), CIO_ELIMIT);
    assert_int_equal(cio_stream_readline(s, buf, 6), 5);
    assert_string_equal(buf, "tiny\n");
    assert_int_equal(cio_stream_readline(s, buf, 1), -EINVAL);
    finish(t);
    cio_stream_close(s);
    close(fds[1]);
    return NULL;
}

static void test_limit_exceeded_then_data_still_readable(void **state) {
    (void)state;
    assert_int_equal(cio_run(limit_main, NULL, NULL), 0);
}

/* A long line grows the buffer past its first size; the limit allows it. */
static void *long_line_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    size_t n = 40000;
    char *line = malloc(n + 1), *back = malloc(n + 1);
    memset(line, 'x', n - 1);
    line[n - 1] = '\n';
    line[n] = 0;
    cio_stream *peer = cio_stream_new(fds[1]);
    assert_int_equal(cio_stream_write(peer, line, n), 0);
    assert_int_equal(cio_stream_write_eof(peer), 0);
    assert_int_equal(cio_stream_readline(s, back, n + 1), (ssize_t)n);
    assert_string_equal(back, line);
    assert_int_equal(cio_stream_readline(s, back, n + 1), 0);
    assert_int_equal(cio_stream_close(peer), 0);
    assert_int_equal(cio_stream_close(s), 0);
    free(line);
    free(back);
    return NULL;
}

static void test_long_line_grows_buffer(void **state) {
    (void)state;
    assert_int_equal(cio_run(long_line_main, NULL, NULL), 0);
}

/* ---- peek / consume, plain reads ---- */

static void *peek_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    feeder f = {fds[1], {"abcdef", "gh"}};
    cio_future *t = start_feeder(&f);
    const void *p;
    assert_int_equal(cio_stream_peek(s, &p), 6);
    assert_memory_equal(p, "abcdef", 6);
    cio_stream_consume(s, 2);
    char buf[4];
    assert_int_equal(cio_stream_read(s, buf, 3), 3);
    assert_memory_equal(buf, "cde", 3);
    assert_int_equal(cio_stream_peek(s, &p), 1);
    cio_stream_consume(s, 100); /* clamped */
    assert_int_equal(cio_stream_read(s, buf, 4), 2);
    assert_memory_equal(buf, "gh", 2);
    assert_int_equal(cio_stream_peek(s, &p), 0);
    assert_true(cio_stream_at_eof(s));
    finish(t);
    cio_stream_close(s);
    close(fds[1]);
    return NULL;
}

static void test_peek_consume(void **state) {
    (void)state;
    assert_int_equal(cio_run(peek_main, NULL, NULL), 0);
}

/* ---- drain: flow control ---- */

enum { CHUNK = 16 * 1024, TOTAL = 8 * 1024 * 1024 };

typedef struct flow {
    cio_stream *w;
    size_t written;
    size_t max_buffered;
} flow;

static void *writer(void *arg) {
    flow *fl = arg;
    char *chunk = malloc(CHUNK);
    while (fl->written < TOTAL) {
        for (size_t i = 0; i < CHUNK; i++)
            chunk[i] = (char)((fl->written + i) % 251);
        assert_int_equal(cio_stream_write(fl->w, chunk, CHUNK), 0);
        fl->written += CHUNK;
        size_t b = cio_stream_write_buffer_size(fl->w);
        if (b > fl->max_buffered)
            fl->max_buffered = b;
        assert_int_equal(cio_stream_drain(fl->w), 0);
    }
    free(chunk);
    return NULL;
}

static void *drain_main(void *arg) {
    (void)arg;
    int fds[2];
    tcp_pair(fds);
    flow fl = {.w = cio_stream_new(fds[0])};
    cio_future *t = cio_create_task(writer, &fl);
    /* The peer does not read: the writer must stall in drain (once the
     * kernel's socket buffers have grown to their size: on a loaded machine
     * that can take a while, so wait until the count stands still). */
    size_t stalled = 0;
    for (int i = 0; i < 50 && (i < 2 || fl.written != stalled); i++) {
        stalled = fl.written;
        cio_sleep(0.2);
    }
    assert_false(cio_future_done(t));
    assert_true(stalled < TOTAL);
    assert_int_equal(fl.written, stalled);
    /* Bounded: never more than the high water mark plus one write. */
    assert_true(fl.max_buffered <= CIO_STREAM_HIGH_WATER + CHUNK);
    /* The peer reads: the writer resumes and everything arrives intact. */
    cio_stream *r = cio_stream_new(fds[1]);
    char *buf = malloc(65536);
    size_t seen = 0;
    while (seen < TOTAL) {
        ssize_t n = cio_stream_read(r, buf, 65536);
        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++)
            assert_int_equal((unsigned char)buf[i], (seen + (size_t)i) % 251);
        seen += (size_t)n;
    }
    finish(t);
    assert_int_equal(cio_stream_close(fl.w), 0);
    assert_int_equal(cio_stream_read(r, buf, 1), 0);
    cio_stream_close(r);
    free(buf);
    return NULL;
}

static void test_drain_blocks_until_peer_reads(void **state) {
    (void)state;
    assert_int_equal(cio_run(drain_main, NULL, NULL), 0);
}

/* ---- errors ---- */

static void *reset_main(void *arg) {
    (void)arg;
    int fds[2];
    tcp_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fds[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fds[1]); /* RST */
    char buf[16];
    assert_int_equal(cio_stream_read(s, buf, sizeof buf), -ECONNRESET);
    assert_int_equal(cio_stream_readline(s, buf, sizeof buf), -ECONNRESET);
    cio_stream_close(s);
    return NULL;
}

static void test_reset_peer_gives_econnreset(void **state) {
    (void)state;
    assert_int_equal(cio_run(reset_main, NULL, NULL), 0);
}

/* Writing to a closed peer is an error, never a SIGPIPE. */
static void *pipe_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    close(fds[1]);
    int r = 0;
    for (int i = 0; i < 100 && r == 0; i++) {
        r = cio_stream_write(s, "data", 4);
        if (r == 0)
            r = cio_stream_drain(s);
        if (r == 0)
            r = cio_sleep(0.001);
    }
    assert_int_equal(r, -EPIPE);
    assert_int_equal(cio_stream_write(s, "x", 1), -EPIPE);
    assert_int_equal(cio_stream_drain(s), -EPIPE);
    cio_stream_close(s);
    return NULL;
}

static void test_broken_pipe_is_an_error_not_a_signal(void **state) {
    (void)state;
    struct sigaction old, dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGPIPE, &dfl, &old); /* SIGPIPE would kill the test */
    assert_int_equal(cio_run(pipe_main, NULL, NULL), 0);
    sigaction(SIGPIPE, &old, NULL);
}

/* ---- close, cancellation ---- */

typedef struct parked {
    cio_stream *s;
    ssize_t r;
} parked;

static void *park_read(void *arg) {
    parked *p = arg;
    char buf[8];
    p->r = cio_stream_read(p->s, buf, sizeof buf);
    return NULL;
}

static void *close_reader_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    parked p = {cio_stream_new(fds[0]), 99};
    cio_future *t = cio_create_task(park_read, &p);
    cio_sleep(0.05);
    char buf[4];
    assert_int_equal(cio_stream_read(p.s, buf, 4), -EBUSY); /* one reader at a time */
    assert_int_equal(cio_stream_close(p.s), 0);
    finish(t);
    assert_int_equal(p.r, 0); /* the parked reader saw EOF */
    close(fds[1]);
    return NULL;
}

static void test_close_wakes_parked_reader(void **state) {
    (void)state;
    assert_int_equal(cio_run(close_reader_main, NULL, NULL), 0);
}

static void *cancel_main(void *arg) {
    (void)arg;
    int fds[2];
    unix_pair(fds);
    parked p = {cio_stream_new(fds[0]), 99};
    cio_future *t = cio_create_task(park_read, &p);
    cio_sleep(0.05);
    cio_cancel(t);
    finish(t);
    assert_int_equal(p.r, -ECANCELED);
    /* Data sent after the cancellation is all still there. */
    assert_int_equal(write(fds[1], "later\n", 6), 6);
    char line[16];
    assert_int_equal(cio_stream_readline(p.s, line, sizeof line), 6);
    assert_string_equal(line, "later\n");
    cio_stream_close(p.s);
    close(fds[1]);
    return NULL;
}

static void test_cancelled_read_loses_nothing(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancel_main, NULL, NULL), 0);
}

static void *closer(void *s) {
    return (void *)(intptr_t)cio_stream_close(s);
}

/* Close sends what is buffered before closing. */
static void *close_flush_main(void *arg) {
    (void)arg;
    int fds[2];
    tcp_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    size_t n = 1 << 20;
    char *big = malloc(n);
    memset(big, 'q', n);
    assert_int_equal(cio_stream_write(s, big, n), 0);
    cio_stream *r = cio_stream_new(fds[1]);
    cio_future *t = cio_create_task(park_read, &(parked){r, 0});
    /* park_read takes 8 bytes; the closer waits until the rest is sent. */
    finish(t);
    cio_future *c = cio_create_task(closer, s);
    size_t got = 8;
    char *buf = malloc(n);
    while (got < n) {
        ssize_t k = cio_stream_read(r, buf, n);
        assert_true(k > 0);
        got += (size_t)k;
    }
    finish(c);
    assert_int_equal(cio_stream_read(r, buf, 1), 0);
    cio_stream_close(r);
    free(big);
    free(buf);
    return NULL;
}

static void test_close_flushes(void **state) {
    (void)state;
    assert_int_equal(cio_run(close_flush_main, NULL, NULL), 0);
}

/* ---- open_connection ---- */

static void *connect_main(void *arg) {
    (void)arg;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    unsigned port = ntohs(a.sin_port);
    /* Bound but not listening: refused. */
    errno = 0;
    assert_null(cio_open_connection("127.0.0.1", port));
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(listen(l, 4), 0);
    cio_stream *s = cio_open_connection("127.0.0.1", port);
    assert_non_null(s);
    /* A name goes through the resolver in the default executor. */
    cio_stream *s2 = cio_open_connection("localhost", port);
    assert_non_null(s2);
    assert_int_equal(cio_stream_write(s2, "hi", 2), 0);
    int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    int c2 = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0 && c2 >= 0);
    cio_stream_close(s);
    cio_stream_close(s2);
    close(c);
    close(c2);
    close(l);
    errno = 0;
    assert_null(cio_open_connection("127.0.0.1", 70000));
    assert_int_equal(errno, EINVAL);
    return NULL;
}

static void test_open_connection(void **state) {
    (void)state;
    assert_int_equal(cio_run(connect_main, NULL, NULL), 0);
    errno = 0;
    assert_null(cio_open_connection("127.0.0.1", 1)); /* outside a task */
    assert_int_equal(errno, EPERM);
}

/* A close from another task while a writer waits in drain: the writer gets
 * an error, nothing is touched after the stream went (ASan). */
static void *drainer(void *arg) {
    cio_stream *s = arg;
    char *chunk = calloc(1, CHUNK);
    int r = 0;
    while (r == 0) {
        r = cio_stream_write(s, chunk, CHUNK);
        if (r == 0)
            r = cio_stream_drain(s);
    }
    free(chunk);
    return (void *)(intptr_t)r;
}

static void *close_drainer_main(void *arg) {
    (void)arg;
    int fds[2];
    tcp_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    cio_future *t = cio_create_task(drainer, s);
    /* until the writer waits in drain (the socket buffers are full) */
    for (int i = 0; i < 200 && cio_stream_write_buffer_size(s) <= CIO_STREAM_HIGH_WATER; i++)
        cio_sleep(0.05);
    assert_false(cio_future_done(t));
    cio_cancel(cio_current_task()); /* close gives up flushing at once */
    assert_int_equal(cio_stream_close(s), -ECANCELED);
    void *r;
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal((intptr_t)r, -EPIPE);
    cio_future_unref(t);
    close(fds[1]);
    return NULL;
}

static void test_close_while_another_task_drains(void **state) {
    (void)state;
    assert_int_equal(cio_run(close_drainer_main, NULL, NULL), 0);
}

/* Bad arguments are errors, not crashes. */
static void *bad_args_main(void *arg) {
    (void)arg;
    const void *p;
    char buf[4];
    assert_int_equal(cio_stream_read(NULL, buf, 4), -EINVAL);
    assert_int_equal(cio_stream_peek(NULL, &p), -EINVAL);
    assert_int_equal(cio_stream_readline(NULL, buf, 4), -EINVAL);
    assert_int_equal(cio_stream_readexactly(NULL, buf, 4, NULL), -EINVAL);
    assert_int_equal(cio_stream_write(NULL, "x", 1), -EINVAL);
    assert_int_equal(cio_stream_drain(NULL), -EINVAL);
    assert_int_equal(cio_stream_write_eof(NULL), -EINVAL);
    assert_int_equal(cio_stream_close(NULL), -EINVAL);
    assert_false(cio_stream_at_eof(NULL));
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    assert_int_equal(cio_stream_read(s, NULL, 4), -EINVAL);
    assert_int_equal(cio_stream_peek(s, NULL), -EINVAL);
    assert_int_equal(cio_stream_write(s, NULL, 4), -EINVAL);
    assert_int_equal(cio_stream_set_write_limits(s, 10, 20), -EINVAL);
    assert_int_equal(cio_stream_set_write_limits(s, 0, 0), 0);
    assert_int_equal(cio_stream_write_eof(s), 0);
    assert_int_equal(cio_stream_write(s, "x", 1), -EPIPE);
    assert_int_equal(read(fds[1], buf, 4), 0); /* the peer saw EOF */
    assert_int_equal(cio_stream_close(s), 0);
    assert_null(cio_stream_new(-1));
    close(fds[1]);
    return NULL;
}

static void test_bad_arguments(void **state) {
    (void)state;
    assert_int_equal(cio_run(bad_args_main, NULL, NULL), 0);
}

/* A stream made before any loop runs works once one does. */
static void *late_loop_main(void *arg) {
    cio_stream *s = arg;
    assert_int_equal(cio_stream_write(s, "ok\n", 3), 0);
    char line[8];
    assert_int_equal(cio_stream_readline(s, line, sizeof line), 3);
    assert_string_equal(line, "ok\n");
    assert_int_equal(cio_stream_close(s), 0);
    return NULL;
}

static void test_stream_made_before_the_loop(void **state) {
    (void)state;
    int fds[2];
    unix_pair(fds);
    cio_stream *s = cio_stream_new(fds[0]);
    assert_non_null(s);
    assert_int_equal(write(fds[1], "ok\n", 3), 3);
    assert_int_equal(cio_run(late_loop_main, s, NULL), 0);
    char buf[4];
    assert_int_equal(read(fds[1], buf, 3), 3);
    close(fds[1]);
}

/* Non-blocking sockets (as some callers hand over) behave the same. */
static void *nb_reader(void *arg) {
    cio_stream *r = arg;
    cio_sleep(0.1); /* the writer fills the socket and waits in drain first */
    char *buf = malloc(65536);
    size_t seen = 0;
    ssize_t n;
    while ((n = cio_stream_read(r, buf, 65536)) > 0)
        seen += (size_t)n;
    free(buf);
    return (void *)seen;
}

static void *nonblocking_main(void *arg) {
    (void)arg;
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    cio_stream *w = cio_stream_new(fds[0]), *r = cio_stream_new(fds[1]);
    cio_future *t = cio_create_task(nb_reader, r);
    char *chunk = calloc(1, CHUNK);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(cio_stream_write(w, chunk, CHUNK), 0);
        assert_int_equal(cio_stream_drain(w), 0);
    }
    assert_int_equal(cio_stream_write_eof(w), 0);
    void *seen;
    assert_int_equal(cio_await(t, &seen), 0);
    assert_int_equal((size_t)seen, 64 * (size_t)CHUNK);
    cio_future_unref(t);
    cio_stream_close(w);
    cio_stream_close(r);
    free(chunk);
    return NULL;
}

static void test_nonblocking_sockets(void **state) {
    (void)state;
    assert_int_equal(cio_run(nonblocking_main, NULL, NULL), 0);
}

/* Data and the peer's shutdown arrive together (one readiness edge): after
 * a short read of the data, the EOF behind it is still seen. */
static void *read_to_eof(void *arg) {
    cio_stream *s = arg;
    char buf[64];
    size_t total = 0;
    ssize_t n;
    while ((n = cio_stream_read(s, buf, sizeof buf)) > 0)
        total += (size_t)n;
    return n < 0 ? cio_fail((int)n) : (void *)total;
}

static void *data_then_eof(void *arg) {
    (void)arg;
    for (int kind = 0; kind < 2; kind++) {
        int fds[2];
        if (kind)
            tcp_pair(fds);
        else
            unix_pair(fds);
        cio_stream *s = cio_stream_new(fds[0]);
        for (int round = 0; round < 2; round++) { /* idle, then with a buffer */
            cio_future *t = cio_create_task(read_to_eof, s);
            cio_yield();
            cio_yield(); /* the reader waits: nothing has come yet */
            assert_int_equal(write(fds[1], "abc", 3), 3);
            if (round)
                assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
            void *r;
            if (!round) { /* no EOF yet: the data, then the reader waits again */
                cio_sleep(0.05);
                assert_false(cio_future_done(t));
                assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
            }
            assert_int_equal(cio_await(t, &r), 0);
            assert_int_equal((intptr_t)r, 3);
            cio_future_unref(t);
            if (!round) { /* a fresh connection for the one-edge case */
                cio_stream_close(s);
                close(fds[1]);
                if (kind)
                    tcp_pair(fds);
                else
                    unix_pair(fds);
                s = cio_stream_new(fds[0]);
                char c;
                assert_int_equal(write(fds[1], "x", 1), 1); /* the stream gets a buffer */
                assert_int_equal(cio_stream_read(s, &c, 1), 1);
            }
        }
        assert_int_equal(cio_stream_close(s), 0);
        close(fds[1]);
    }
    return NULL;
}

static void test_data_and_eof_in_one_edge(void **state) {
    (void)state;
    assert_int_equal(cio_run(data_then_eof, NULL, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readexactly_split_and_eof),
        cmocka_unit_test(test_readline_split_and_eof_mid_line),
        cmocka_unit_test(test_readuntil_straddling_delimiter),
        cmocka_unit_test(test_line_before_any_data),
        cmocka_unit_test(test_limit_exceeded_then_data_still_readable),
        cmocka_unit_test(test_long_line_grows_buffer),
        cmocka_unit_test(test_peek_consume),
        cmocka_unit_test(test_drain_blocks_until_peer_reads),
        cmocka_unit_test(test_reset_peer_gives_econnreset),
        cmocka_unit_test(test_broken_pipe_is_an_error_not_a_signal),
        cmocka_unit_test(test_close_wakes_parked_reader),
        cmocka_unit_test(test_cancelled_read_loses_nothing),
        cmocka_unit_test(test_close_flushes),
        cmocka_unit_test(test_open_connection),
        cmocka_unit_test(test_close_while_another_task_drains),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_stream_made_before_the_loop),
        cmocka_unit_test(test_nonblocking_sockets),
        cmocka_unit_test(test_data_and_eof_in_one_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
