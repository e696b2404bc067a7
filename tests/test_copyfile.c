/* cio_copy_file (content, modes, sparse files stay sparse, EXCL, errors,
 * cancellation removes the partial copy) and cio_sendfile (a file through a
 * socket whose buffer fills, offsets, EOF, errors). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "scratch_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int setup(void **state) {
    (void)state;
    return scratch_make("/tmp/cio_copy_XXXXXX");
}

static void write_pattern(int fd, off_t off, size_t len, unsigned seed) {
    char *b = malloc(len);
    for (size_t i = 0; i < len; i++)
        b[i] = (char)(seed + i * 31);
    assert_int_equal(pwrite(fd, b, len, off), (ssize_t)len);
    free(b);
}

static void same_content(const char *a, const char *b) {
    void *da, *db;
    ssize_t na = cio_read_file(a, &da), nb = cio_read_file(b, &db);
    assert_true(na >= 0);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, (size_t)na);
    free(da);
    free(db);
}

static void *copy_main(void *arg) {
    (void)arg;
    /* A plain file with an odd mode. */
    int fd = open(at("src"), O_CREAT | O_WRONLY, 0600);
    write_pattern(fd, 0, 3 << 20, 1);
    close(fd);
    assert_int_equal(chmod(at("src"), 0751), 0);
    assert_int_equal(cio_copy_file(at("src"), at("dst"), 0), 0);
    same_content(at("src"), at("dst"));
    struct stat st;
    assert_int_equal(stat(at("dst"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0751);
    /* Again over the existing copy (truncated first), and EXCL refuses. */
    assert_int_equal(cio_copy_file(at("src"), at("dst"), 0), 0);
    same_content(at("src"), at("dst"));
    assert_int_equal(cio_copy_file(at("src"), at("dst"), CIO_COPY_EXCL), -EEXIST);
    /* Sparse: 64 MiB with two small data islands and a hole at the end. */
    fd = open(at("sparse"), O_CREAT | O_WRONLY, 0644);
    write_pattern(fd, 4096, 8192, 2);
    write_pattern(fd, 32 << 20, 4096, 3);
    assert_int_equal(ftruncate(fd, 64 << 20), 0);
    close(fd);
    assert_int_equal(cio_copy_file(at("sparse"), at("sparse2"), CIO_COPY_EXCL), 0);
    same_content(at("sparse"), at("sparse2"));
    struct stat a, b;
    assert_int_equal(stat(at("sparse"), &a), 0);
    assert_int_equal(stat(at("sparse2"), &b), 0);
    assert_int_equal(b.st_size, 64 << 20);
    assert_true(b.st_blocks * 512 <= a.st_blocks * 512 + (1 << 20)); /* still sparse */
    assert_true(b.st_blocks * 512 < (8 << 20));
    /* An empty file. */
    close(open(at("empty"), O_CREAT | O_WRONLY, 0644));
    assert_int_equal(cio_copy_file(at("empty"), at("empty2"), 0), 0);
    assert_int_equal(stat(at("empty2"), &st), 0);
    assert_int_equal(st.st_size, 0);
    /* Across file systems (tmpfs): copy_file_range may refuse; the fallback copies. */
    char other[64];
    snprintf(other, sizeof other, "/dev/shm/cio_copy_%d", (int)getpid());
    assert_int_equal(cio_copy_file(at("src"), other, 0), 0);
    same_content(at("src"), other);
    unlink(other);
    /* Errors. */
    assert_int_equal(cio_copy_file(at("missing"), at("x"), 0), -ENOENT);
    assert_int_equal(cio_copy_file(dir, at("x"), 0), -EISDIR);
    assert_int_equal(cio_copy_file(at("src"), "/nonexistent/x", 0), -ENOENT);
    assert_int_equal(cio_copy_file(NULL, at("x"), 0), -EINVAL);
    assert_int_equal(cio_copy_file(at("src"), at("x"), 8), -EINVAL);
    assert_int_equal(access(at("x"), F_OK), -1); /* nothing left behind */
    return NULL;
}

static void test_copy(void **state) {
    (void)state;
    run(copy_main, NULL);
}

static void *copier(void *arg) {
    (void)arg;
    int r = cio_copy_file(at("huge"), at("huge2"), 0);
    return r < 0 ? cio_fail(r) : NULL;
}

/* Cancelled mid-copy: the copy stops and the partial file is removed. */
static void *cancel_main(void *arg) {
    (void)arg;
    int fd = open(at("huge"), O_CREAT | O_WRONLY, 0644);
    for (int i = 0; i < 256; i++) /* 256 MiB of data: many chunks */
        write_pattern(fd, (off_t)i << 20, 1 << 20, (unsigned)i);
    close(fd);
    cio_future *f = cio_create_task(copier, NULL);
    cio_sleep(0.005);
    cio_cancel(f);
    int r = cio_await(f, NULL);
    cio_future_unref(f);
    assert_true(r == -ECANCELED || r == 0);
    if (r == -ECANCELED)
        assert_int_equal(access(at("huge2"), F_OK), -1);
    else
        same_content(at("huge"), at("huge2"));
    return NULL;
}

static void test_cancel(void **state) {
    (void)state;
    run(cancel_main, NULL);
}

/* ---- sendfile ---- */

typedef struct rd {
    int fd;
    size_t want, got;
    unsigned long sum;
} rd;

static void *drain(void *arg) {
    rd *r = arg;
    char buf[8192]; /* a task's stack is 64 KiB */
    while (r->got < r->want) {
        ssize_t n = cio_recv(r->fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            r->sum = r->sum * 33 + (unsigned char)buf[i];
        r->got += (size_t)n;
        if (r->got < (1 << 20))
            cio_sleep(0.001); /* slow at first: the sender's socket fills and waits */
    }
    return NULL;
}

static void *sendfile_main(void *arg) {
    (void)arg;
    const size_t len = 8 << 20;
    int fd = open(at("payload"), O_CREAT | O_RDWR, 0644);
    write_pattern(fd, 0, len, 7);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    const off_t off = 12345;
    rd r = {.fd = sv[1], .want = len - (size_t)off};
    cio_future *t = cio_create_task(drain, &r);
    /* More than the file holds: stops at EOF. */
    assert_int_equal(cio_sendfile(sv[0], fd, off, len), (ssize_t)(len - (size_t)off));
    assert_int_equal(cio_await(t, NULL), 0);
    cio_future_unref(t);
    assert_int_equal(r.got, len - (size_t)off);
    /* The same bytes as the file from off. */
    char *b = malloc(len);
    assert_int_equal(pread(fd, b, len, 0), (ssize_t)len);
    unsigned long sum = 0;
    for (size_t i = (size_t)off; i < len; i++)
        sum = sum * 33 + (unsigned char)b[i];
    free(b);
    assert_int_equal(sum, r.sum);
    assert_int_equal(cio_sendfile(sv[0], fd, (off_t)len, 100), 0); /* at EOF */
    assert_int_equal(cio_sendfile(sv[0], fd, -1, 1), -EINVAL);
    assert_int_equal(cio_sendfile(-1, fd, 0, 1), -EBADF);
    close(sv[1]); /* the peer is gone */
    assert_int_equal(cio_sendfile(sv[0], fd, 0, 10), -EPIPE);
    close(sv[0]);
    close(fd);
    return NULL;
}

static void test_sendfile(void **state) {
    (void)state;
    run(sendfile_main, NULL);
    assert_int_equal(cio_sendfile(1, 0, 0, 1), -EPERM);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sendfile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
