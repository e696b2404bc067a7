/* Bytes jobs (cio_run_in_executor_bytes) checked the same way on every
 * executor: included by test_executor.c (default pool, thread pool, user
 * executors) and test_process_pool.c. Call bytes_jobs_check in a task. */
#ifndef CIO_TESTS_BYTES_JOBS_H
#define CIO_TESTS_BYTES_JOBS_H

#include <cio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Writes in reversed; -ENOSPC when out is too small. */
static ssize_t bj_reverse(const void *in, size_t n, void *out, size_t cap) {
    if (n > cap)
        return -ENOSPC;
    const unsigned char *i = in;
    unsigned char *o = out;
    for (size_t k = 0; k < n; k++)
        o[k] = i[n - 1 - k];
    return (ssize_t)n;
}

static ssize_t bj_fail_eio(const void *in, size_t n, void *out, size_t cap) {
    (void)in, (void)n, (void)out, (void)cap;
    return -EIO;
}

static ssize_t bj_claims_more(const void *in, size_t n, void *out, size_t cap) {
    (void)in, (void)n, (void)out;
    return (ssize_t)cap + 1;
}

/* Writes 4 bytes past out_cap and says it wrote out_cap. */
static ssize_t bj_overruns(const void *in, size_t n, void *out, size_t cap) {
    (void)in, (void)n;
    memset(out, 0xAB, cap + 4);
    return (ssize_t)cap;
}

/* Nothing in, a 3-byte answer out. */
static ssize_t bj_hello(const void *in, size_t n, void *out, size_t cap) {
    (void)in, (void)n;
    if (cap < 3)
        return (ssize_t)3; /* "needs 3": more than out_cap */
    memcpy(out, "hi!", 3);
    return 3;
}

static ssize_t bj_slow_count(const void *in, size_t n, void *out, size_t cap) {
    (void)in, (void)out, (void)cap;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return (ssize_t)(n > cap ? cap : n);
}

static void *bj_plus_one(void *arg) {
    return (void *)((intptr_t)arg + 1);
}

static void bj_expect_reversed(cio_future *f, const unsigned char *orig, size_t n) {
    const void *data = NULL;
    size_t len = 7;
    assert_int_equal(cio_await(f, NULL), 0);
    assert_int_equal(cio_future_bytes(f, &data, &len), 0);
    assert_int_equal(len, n);
    const unsigned char *d = data;
    for (size_t k = 0; k < n; k++)
        if (d[k] != orig[n - 1 - k])
            fail_msg("byte %zu differs", k);
    void *r;
    assert_int_equal(cio_future_result(f, &r), 0);
    assert_ptr_equal(r, data); /* the result pointer is the data */
}

/* Sizes 0 .. 1 MiB, every error kind beside good jobs, the input copied
 * before the call returns, and cio_future_bytes' own errors. */
static void bytes_jobs_check(cio_executor *ex) {
    enum { BIG = 1 << 20, N = 6 };
    size_t sizes[N] = {0, 1, 15, 4096, 65537, BIG};
    unsigned char *src = malloc(BIG);
    assert_non_null(src);
    for (size_t k = 0; k < BIG; k++)
        src[k] = (unsigned char)(k * 7 + k / 251);
    unsigned char *copy = malloc(BIG);
    memcpy(copy, src, BIG);
    cio_future *good[N];
    for (int i = 0; i < N; i++) {
        good[i] = cio_run_in_executor_bytes(ex, bj_reverse, src, sizes[i], sizes[i]);
        assert_non_null(good[i]);
    }
    cio_future *eio = cio_run_in_executor_bytes(ex, bj_fail_eio, src, 10, 10);
    cio_future *more = cio_run_in_executor_bytes(ex, bj_claims_more, src, 10, 10);
    cio_future *over = cio_run_in_executor_bytes(ex, bj_overruns, NULL, 0, 32);
    cio_future *cap0 = cio_run_in_executor_bytes(ex, bj_hello, NULL, 0, 0);
    cio_future *small = cio_run_in_executor_bytes(ex, bj_reverse, src, 100, 50);
    cio_future *hello = cio_run_in_executor_bytes(ex, bj_hello, NULL, 0, 3);
    assert_non_null(eio), assert_non_null(more), assert_non_null(over);
    assert_non_null(cap0), assert_non_null(small), assert_non_null(hello);
    memset(src, 0, BIG); /* the jobs have their own copy */
    for (int i = 0; i < N; i++) {
        bj_expect_reversed(good[i], copy, sizes[i]);
        cio_future_unref(good[i]);
    }
    const void *data;
    size_t len;
    assert_int_equal(cio_await(eio, NULL), -EIO);
    assert_int_equal(cio_future_bytes(eio, &data, &len), -EIO);
    assert_int_equal(cio_await(more, NULL), CIO_EOUTCAP);
    assert_int_equal(cio_await(over, NULL), CIO_EOUTCAP);
    assert_int_equal(cio_await(cap0, NULL), CIO_EOUTCAP);
    assert_int_equal(cio_await(small, NULL), -ENOSPC);
    assert_int_equal(cio_await(hello, NULL), 0);
    assert_int_equal(cio_future_bytes(hello, &data, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "hi!", 3);
    cio_future_unref(eio), cio_future_unref(more), cio_future_unref(over);
    cio_future_unref(cap0), cio_future_unref(small), cio_future_unref(hello);
    /* bad input fails the call, nothing else */
    errno = 0;
    assert_null(cio_run_in_executor_bytes(ex, NULL, src, 1, 1));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(cio_run_in_executor_bytes(ex, bj_reverse, NULL, 5, 5));
    assert_int_equal(errno, EINVAL);
    /* cio_future_bytes: pending, not a bytes job, NULL */
    cio_future *slow = cio_run_in_executor_bytes(ex, bj_slow_count, copy, 8, 8);
    assert_non_null(slow);
    assert_int_equal(cio_future_bytes(slow, &data, &len), -EAGAIN);
    assert_int_equal(cio_await(slow, NULL), 0);
    assert_int_equal(cio_future_bytes(slow, NULL, &len), 0);
    assert_int_equal(len, 8);
    cio_future_unref(slow);
    cio_future *plain = cio_run_in_executor(ex, bj_plus_one, (void *)1);
    assert_int_equal(cio_await(plain, NULL), 0);
    assert_int_equal(cio_future_bytes(plain, &data, &len), -EINVAL);
    cio_future_unref(plain);
    assert_int_equal(cio_future_bytes(NULL, &data, &len), -EINVAL);
    free(src);
    free(copy);
}

#endif
