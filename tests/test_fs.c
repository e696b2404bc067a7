/* File I/O on io_uring: reads and writes at offsets and at the file
 * position, vectors, stat, directory operations, whole-file helpers, and a
 * cancelled read that leaves the caller's buffer alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <sys/uio.h>
#include <unistd.h>

static char dir[64];

static void path_of(char *out, const char *name) {
    snprintf(out, 128, "%s/%s", dir, name);
}

static void *basics(void *arg) {
    (void)arg;
    char p[128];
    path_of(p, "a.txt");
    int fd = cio_open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(cio_write(fd, "hello ", 6, -1), 6); /* at the position */
    assert_int_equal(cio_write(fd, "world", 5, -1), 5);
    assert_int_equal(cio_write(fd, "W", 1, 6), 1); /* at an offset */
    char buf[32] = {0};
    assert_int_equal(cio_read(fd, buf, sizeof buf, 0), 11);
    assert_string_equal(buf, "hello World");
    assert_int_equal(cio_read(fd, buf, sizeof buf, 11), 0); /* EOF */
    struct iovec iov[2] = {{buf, 2}, {buf + 2, 3}};
    memset(buf, 0, sizeof buf);
    assert_int_equal(cio_readv(fd, iov, 2, 6), 5);
    assert_string_equal(buf, "World");
    assert_int_equal(cio_write_all(fd, "!!", 2, 20), 2); /* past the end: a hole before it */
    assert_int_equal(cio_read(fd, buf, sizeof buf, 20), 2);
    assert_int_equal(cio_write_all(fd, "x", 0, 0), 0);
    assert_int_equal(ftruncate(fd, 11), 0);
    assert_int_equal(cio_fsync(fd), 0);
    assert_int_equal(cio_fdatasync(fd), 0);
    struct statx st;
    assert_int_equal(cio_fstat(fd, &st), 0);
    assert_int_equal(st.stx_size, 11);
    assert_int_equal(cio_close(fd), 0);
    assert_int_equal(cio_stat(p, &st), 0);
    assert_true(S_ISREG(st.stx_mode));
    /* errors are negative errno values */
    assert_int_equal(cio_open("/nonexistent/x", O_RDONLY, 0), -ENOENT);
    assert_int_equal(cio_read(-1, buf, 1, 0), -EBADF);
    assert_int_equal(cio_stat(NULL, &st), -EINVAL);
    /* directories */
    char d[128], q[128];
    path_of(d, "sub");
    assert_int_equal(cio_mkdir(d, 0700), 0);
    assert_int_equal(cio_mkdir(d, 0700), -EEXIST);
    path_of(q, "sub/b.txt");
    assert_int_equal(cio_rename(p, q), 0);
    assert_int_equal(cio_stat(p, &st), -ENOENT);
    assert_int_equal(cio_unlink(q), 0);
    assert_int_equal(cio_rmdir(d), 0);
    return NULL;
}

static void test_basics(void **state) {
    (void)state;
    assert_int_equal(cio_run(basics, NULL, NULL), 0);
    char buf[4];
    assert_int_equal(cio_read(0, buf, 1, 0), -EPERM); /* outside a task */
}

/* Whole files: small and big (read in parts), atomic replace. */
static void *whole_files(void *arg) {
    (void)arg;
    char p[128];
    path_of(p, "big.bin");
    size_t n = 5 * 1024 * 1024 + 123;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    assert_int_equal(cio_write_file(p, data, n), 0);
    void *back;
    assert_int_equal(cio_read_file(p, &back), (ssize_t)n);
    assert_memory_equal(back, data, n);
    free(back);
    assert_int_equal(cio_write_file(p, "small", 5), 0); /* replaces it whole */
    assert_int_equal(cio_read_file(p, &back), 5);
    assert_string_equal(back, "small");
    free(back);
    assert_int_equal(cio_read_file("/nonexistent", &back), -ENOENT);
    assert_null(back);
    cio_unlink(p);
    free(data);
    return NULL;
}

static void test_whole_files(void **state) {
    (void)state;
    assert_int_equal(cio_run(whole_files, NULL, NULL), 0);
}

/* A read from an empty pipe, cancelled: -ECANCELED, and the buffer is left
 * alone afterwards (the kernel let go of it before the call returned). */
typedef struct pipe_reader {
    int fd;
    char buf[16];
} pipe_reader;

static void *read_pipe(void *arg) {
    pipe_reader *r = arg;
    return (void *)(intptr_t)cio_read(r->fd, r->buf, sizeof r->buf, -1);
}

static void *cancel_read(void *arg) {
    (void)arg;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pipe_reader r = {.fd = fds[0]};
    memset(r.buf, 'x', sizeof r.buf);
    cio_future *t = cio_create_task(read_pipe, &r);
    cio_sleep(0.01);
    cio_cancel(t);
    void *v;
    assert_int_equal(cio_await(t, &v), 0);
    assert_int_equal((intptr_t)v, -ECANCELED);
    cio_future_unref(t);
    /* The data written now goes to the next read, not to the cancelled one. */
    assert_int_equal(write(fds[1], "data", 4), 4);
    cio_sleep(0.01);
    for (size_t i = 0; i < sizeof r.buf; i++)
        assert_int_equal(r.buf[i], 'x');
    char buf[8] = {0};
    assert_int_equal(cio_read(fds[0], buf, sizeof buf, -1), 4);
    assert_string_equal(buf, "data");
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

static void test_cancelled_read(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancel_read, NULL, NULL), 0);
}

/* Files whose size stat does not know, and bad input. */
static void *odd_files(void *arg) {
    (void)arg;
    void *data;
    ssize_t n = cio_read_file("/proc/self/status", &data); /* st_size 0 */
    assert_true(n > 0);
    assert_non_null(strstr(data, "Name:"));
    assert_int_equal(strlen(data), (size_t)n);
    free(data);
    char p[128];
    path_of(p, "empty");
    assert_int_equal(cio_write_file(p, NULL, 0), 0);
    assert_int_equal(cio_read_file(p, &data), 0);
    assert_string_equal(data, "");
    free(data);
    assert_int_equal(cio_unlink(p), 0);
    assert_int_equal(cio_read_file(dir, &data), -EISDIR);
    assert_null(data);
    path_of(p, "no/such/dir/f");
    assert_int_equal(cio_write_file(p, "x", 1), -ENOENT);
    assert_int_equal(cio_write_file(NULL, "x", 1), -EINVAL);
    assert_int_equal(cio_read_file(NULL, &data), -EINVAL);
    char buf[4];
    struct iovec iov = {buf, sizeof buf};
    assert_int_equal(cio_read(0, buf, sizeof buf, -2), -EINVAL);
    assert_int_equal(cio_readv(0, &iov, -1, 0), -EINVAL);
    assert_int_equal(cio_writev(0, NULL, 1, 0), -EINVAL);
    assert_int_equal(cio_close(-1), -EBADF);
    assert_int_equal(cio_unlink(NULL), -EINVAL);
    assert_int_equal(cio_rename(NULL, p), -EINVAL);
    return NULL;
}

static void test_odd_files(void **state) {
    (void)state;
    assert_int_equal(cio_run(odd_files, NULL, NULL), 0);
}

/* Concurrent atomic replaces of one path: the result is one writer's whole
 * content, and no temporary file is left behind. */
#define WRITERS 8
#define WSIZE (256 * 1024)

static void *writer(void *arg) {
    intptr_t i = (intptr_t)arg;
    char p[128];
    path_of(p, "shared");
    char *d = malloc(WSIZE);
    memset(d, 'a' + (int)i, WSIZE);
    int r = cio_write_file(p, d, WSIZE);
    free(d);
    return r ? cio_fail(r) : NULL;
}

static size_t dir_entries(void) {
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void *concurrent_writes(void *arg) {
    (void)arg;
    cio_future *fs[WRITERS];
    for (intptr_t i = 0; i < WRITERS; i++)
        fs[i] = cio_create_task(writer, (void *)i);
    for (int i = 0; i < WRITERS; i++) {
        assert_int_equal(cio_await(fs[i], NULL), 0);
        cio_future_unref(fs[i]);
    }
    char p[128];
    path_of(p, "shared");
    char *back;
    assert_int_equal(cio_read_file(p, (void **)&back), WSIZE);
    for (size_t k = 1; k < WSIZE; k++)
        assert_int_equal(back[k], back[0]);
    free(back);
    assert_int_equal(dir_entries(), 1);
    assert_int_equal(cio_unlink(p), 0);
    return NULL;
}

static void test_concurrent_writes(void **state) {
    (void)state;
    assert_int_equal(cio_run(concurrent_writes, NULL, NULL), 0);
}

/* read_file cancelled at different points of a big read: -ECANCELED or the
 * whole file, and nothing writes into the buffer after the call returned
 * (ASan would see a part task outliving it). */
static void *read_big(void *arg) {
    void *data;
    ssize_t n = cio_read_file(arg, &data);
    if (n >= 0)
        free(data);
    return (void *)(intptr_t)n;
}

static void *cancel_read_file(void *arg) {
    (void)arg;
    char p[128];
    path_of(p, "big2.bin");
    size_t n = 24 << 20;
    char *d = calloc(1, n);
    assert_int_equal(cio_write_file(p, d, n), 0);
    free(d);
    for (int delay = 0; delay < 12; delay++) {
        cio_future *t = cio_create_task(read_big, p);
        for (int k = 0; k < delay; k++)
            cio_yield();
        cio_cancel(t);
        void *v;
        int e = cio_await(t, &v);
        intptr_t r = e == 0 ? (intptr_t)v : e;
        assert_true(r == -ECANCELED || r == (intptr_t)n);
        cio_future_unref(t);
    }
    assert_int_equal(cio_unlink(p), 0);
    return NULL;
}

static void test_cancel_read_file(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancel_read_file, NULL, NULL), 0);
}

/* A task whose read completed in the same iteration as its cancellation:
 * the read's bytes are delivered, its close still closes the fd (the
 * cancellation pending), and the cancellation comes at the next wait. */
typedef struct closer {
    int rfd;
    ssize_t n;
    int closed, after;
} closer;

static void *read_then_close(void *arg) {
    closer *c = arg;
    char buf[8];
    c->n = cio_read(c->rfd, buf, sizeof buf, -1);
    c->closed = cio_close(c->rfd);
    c->after = cio_sleep(0);
    return NULL;
}

static void *close_cancelled(void *arg) {
    (void)arg;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    closer c = {.rfd = fds[0]};
    cio_future *t = cio_create_task(read_then_close, &c);
    cio_yield(); /* t is parked in its read */
    assert_int_equal(write(fds[1], "data", 4), 4);
    cio_yield(); /* the read completes while we are queued before t */
    cio_cancel(t);
    cio_await(t, NULL);
    cio_future_unref(t);
    assert_int_equal(c.closed, 0);
    assert_int_equal(fcntl(fds[0], F_GETFD), -1); /* closed on every path */
    assert_int_equal(errno, EBADF);
    if (c.n == 4) /* the read won: its cancellation waited for the next suspension */
        assert_int_equal(c.after, -ECANCELED);
    else
        assert_int_equal(c.n, -ECANCELED);
    close(fds[1]);
    return NULL;
}

static void test_close_cancelled(void **state) {
    (void)state;
    assert_int_equal(cio_run(close_cancelled, NULL, NULL), 0);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/cio-test-fs-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_whole_files),
        cmocka_unit_test(test_cancelled_read),
        cmocka_unit_test(test_odd_files),
        cmocka_unit_test(test_concurrent_writes),
        cmocka_unit_test(test_cancel_read_file),
        cmocka_unit_test(test_close_cancelled),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return r;
}
