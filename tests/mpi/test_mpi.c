/* cio-mpi under mpirun -np 3 (tests/mpi/run_test_mpi.sh starts it): rank 0
 * runs these cmocka tests inside its loop, ranks 1 and 2 serve the jobs.
 * `--crash` instead runs one job that crashes its rank (the runner checks
 * that the run ends, naming the job); `--leave` returns from main with jobs
 * in flight (the run must end cleanly). */
#include <cio.h>
#include <cio_mpi.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- jobs (they run on ranks 1 and 2) ---- */

static long slept; /* per rank: sleep_job calls run here */

static void *square_plus_one(void *arg) {
    intptr_t i = (intptr_t)arg;
    return (void *)(i * i + 1);
}

static void *where(void *arg) {
    (void)arg;
    return (void *)(intptr_t)cio_mpi_rank();
}

/* Sleeps arg milliseconds; returns arg. */
static void *sleep_job(void *arg) {
    slept++;
    usleep((useconds_t)((intptr_t)arg * 1000));
    return arg;
}

static void *slept_here(void *arg) {
    (void)arg;
    return (void *)(intptr_t)(cio_mpi_rank() * 1000000L + slept);
}

/* Writes in reversed. */
static ssize_t reverse(const void *in, size_t len, void *out, size_t cap) {
    if (len > cap)
        return -ENOSPC;
    for (size_t i = 0; i < len; i++)
        ((unsigned char *)out)[i] = ((const unsigned char *)in)[len - 1 - i];
    return (ssize_t)len;
}

static ssize_t fails(const void *in, size_t len, void *out, size_t cap) {
    (void)in, (void)len, (void)out, (void)cap;
    return -EIO;
}

static ssize_t claims_too_much(const void *in, size_t len, void *out, size_t cap) {
    (void)in, (void)len, (void)out;
    return (ssize_t)cap + 1;
}

static ssize_t writes_past_cap(const void *in, size_t len, void *out, size_t cap) {
    (void)in, (void)len;
    memset(out, 0x5a, cap + 4); /* the canary after out notices */
    return (ssize_t)cap;
}

/* Non-static and exported (-rdynamic) so that the crash message names it. */
void *crash_job(void *arg);
void *crash_job(void *arg) {
    *(volatile int *)((intptr_t)arg + 16) = 1; /* not NULL itself: UBSan would stop first */
    return NULL;
}

/* ---- helpers ---- */

static cio_executor *ex(void) {
    cio_executor *e = cio_mpi_executor();
    assert_non_null(e);
    return e;
}

static intptr_t run1(cio_fn fn, intptr_t arg) {
    cio_future *f = cio_run_in_executor(ex(), fn, (void *)arg);
    assert_non_null(f);
    void *v = NULL;
    assert_int_equal(cio_await(f, &v), 0);
    cio_future_unref(f);
    return (intptr_t)v;
}

/* How many sleep_job calls ranks 1 and 2 have run, asked until both answered. */
static long slept_total(void) {
    long per_rank[3] = {-1, -1, -1};
    for (int tries = 0; tries < 50 && (per_rank[1] < 0 || per_rank[2] < 0); tries++) {
        cio_future *f[2] = {cio_run_in_executor(ex(), slept_here, NULL),
                            cio_run_in_executor(ex(), slept_here, NULL)};
        for (int k = 0; k < 2; k++) {
            void *v;
            assert_int_equal(cio_await(f[k], &v), 0);
            cio_future_unref(f[k]);
            long rank = (intptr_t)v / 1000000, n = (intptr_t)v % 1000000;
            assert_true(rank == 1 || rank == 2);
            per_rank[rank] = n;
        }
    }
    assert_true(per_rank[1] >= 0 && per_rank[2] >= 0);
    return per_rank[1] + per_rank[2];
}

/* ---- tests ---- */

static void test_not_outside_rank0_main(void **state) {
    (void)state;
    assert_int_equal(cio_mpi_size(), 3);
    assert_int_equal(cio_mpi_rank(), 0);
    int argc = 0;
    char **argv = NULL;
    assert_int_equal(cio_mpi_main(&argc, &argv, where, NULL, NULL), -EALREADY);
    assert_int_equal(cio_mpi_main(&argc, &argv, NULL, NULL, NULL), -EINVAL);
}

static void test_bad_input(void **state) {
    (void)state;
    errno = 0;
    assert_null(cio_run_in_executor(ex(), NULL, NULL));
    assert_int_equal(errno, EINVAL);
    /* A function of a shared library (libc) cannot cross: it may load elsewhere. */
    errno = 0;
    assert_null(cio_run_in_executor(ex(), (cio_fn)(void (*)(void))abort, NULL));
    assert_int_equal(errno, EINVAL);
}

/* Cancelled queued jobs never run. After 200 ms jobs a rank holds at most
 * 4 of them (2 + one per 2 ms of latency), so of 20 jobs at most 8 leave rank
 * 0 before jobs 8..19 are cancelled: exactly jobs 0..7 run. */
static void test_cancel_queued(void **state) {
    (void)state;
    assert_int_equal(run1(sleep_job, 200), 200); /* this function's window: 3 */
    long before = slept_total();
    enum { N = 20, KEPT = 8 };
    cio_future *f[N];
    for (int i = 0; i < N; i++)
        assert_non_null(f[i] = cio_run_in_executor(ex(), sleep_job, (void *)(intptr_t)100));
    for (int i = KEPT; i < N; i++)
        assert_true(cio_cancel(f[i]));
    for (int i = 0; i < N; i++) {
        void *v = NULL;
        int r = cio_await(f[i], &v);
        if (i < KEPT) {
            assert_int_equal(r, 0);
            assert_int_equal((intptr_t)v, 100);
        } else {
            assert_int_equal(r, -ECANCELED);
            assert_true(cio_future_cancelled(f[i]));
        }
        cio_future_unref(f[i]);
    }
    assert_int_equal(slept_total() - before, KEPT);
}

/* A job already on a rank: its future ends cancelled at once, the executor
 * goes on. */
static void test_cancel_running(void **state) {
    (void)state;
    cio_future *f = cio_run_in_executor(ex(), sleep_job, (void *)(intptr_t)100);
    assert_non_null(f);
    assert_int_equal(cio_sleep(0.02), 0);
    assert_true(cio_cancel(f));
    assert_int_equal(cio_await(f, NULL), -ECANCELED);
    cio_future_unref(f);
    assert_int_equal(run1(square_plus_one, 9), 82);
}

static void test_10000_scalar_jobs(void **state) {
    (void)state;
    enum { N = 10000 };
    cio_future **f = calloc(N, sizeof *f);
    assert_non_null(f);
    for (intptr_t i = 0; i < N; i++)
        assert_non_null(f[i] = cio_run_in_executor(ex(), square_plus_one, (void *)i));
    for (intptr_t i = 0; i < N; i++) {
        void *v = NULL;
        assert_int_equal(cio_await(f[i], &v), 0);
        assert_int_equal((intptr_t)v, i * i + 1);
        cio_future_unref(f[i]);
    }
    free(f);
}

static void test_both_ranks_used(void **state) {
    (void)state;
    enum { N = 200 };
    cio_future *f[N];
    int seen[3] = {0};
    for (int i = 0; i < N; i++)
        assert_non_null(f[i] = cio_run_in_executor(ex(), where, NULL));
    for (int i = 0; i < N; i++) {
        void *v;
        assert_int_equal(cio_await(f[i], &v), 0);
        intptr_t rank = (intptr_t)v;
        assert_true(rank == 1 || rank == 2);
        seen[rank]++;
        cio_future_unref(f[i]);
    }
    assert_true(seen[1] > 0 && seen[2] > 0);
}

typedef struct ticks {
    long n;
} ticks;

static void *ticker(void *arg) {
    ticks *t = arg;
    while (cio_sleep(0.01) == 0)
        t->n++;
    return NULL;
}

/* While both ranks work for 0.3 s, the loop's timers keep firing. */
static void test_loop_responsive(void **state) {
    (void)state;
    ticks t = {0};
    cio_future *tick = cio_create_task(ticker, &t);
    cio_future *f[4];
    for (int i = 0; i < 4; i++)
        assert_non_null(f[i] = cio_run_in_executor(ex(), sleep_job, (void *)(intptr_t)150));
    long during = -1;
    for (int i = 0; i < 4; i++) {
        void *v;
        assert_int_equal(cio_await(f[i], &v), 0);
        assert_int_equal((intptr_t)v, 150);
        cio_future_unref(f[i]);
        if (i == 0)
            during = t.n; /* the others are still running */
    }
    assert_true(during >= 2);
    assert_true(t.n > during);
    cio_cancel(tick);
    assert_int_equal(cio_await(tick, NULL), 0); /* the ticker ends on its cancelled sleep */
    cio_future_unref(tick);
}

/* Last: the executor stays shut down. Without waiting, cancel_futures cancels
 * what is queued and returns at once; the jobs on ranks still finish, and a
 * second shutdown that waits returns once they are back. */
static void test_shutdown(void **state) {
    (void)state;
    assert_int_equal(run1(sleep_job, 30), 30);
    enum { N = 12 };
    cio_future *f[N];
    for (int i = 0; i < N; i++)
        assert_non_null(f[i] = cio_run_in_executor(ex(), sleep_job, (void *)(intptr_t)100));
    assert_int_equal(cio_sleep(0.01), 0); /* the first ones leave rank 0 */
    assert_int_equal(cio_executor_shutdown(ex(), false, true), 0);
    errno = 0;
    assert_null(cio_run_in_executor(ex(), square_plus_one, NULL));
    assert_int_equal(errno, ESHUTDOWN);
    int cancelled = 0;
    for (int i = 0; i < N; i++)
        cancelled += cio_future_cancelled(f[i]);
    assert_true(cancelled >= N - 8); /* at most 4 per rank left rank 0 */
    assert_int_equal(cio_executor_shutdown(ex(), true, false), 0);
    int finished = 0;
    for (int i = 0; i < N; i++) {
        assert_true(cio_future_done(f[i]));
        void *v = NULL;
        if (!cio_future_cancelled(f[i])) {
            assert_int_equal(cio_future_result(f[i], &v), 0);
            assert_int_equal((intptr_t)v, 100);
            finished++;
        }
        cio_future_unref(f[i]);
    }
    assert_int_equal(finished + cancelled, N);
    assert_true(finished >= 1);
    cio_executor_free(ex()); /* shuts down again: owned by cio_mpi_main */
}

static size_t bytes_len(int i) {
    if (i % 10 == 0)
        return (size_t)i * 7919 % (1u << 20) + 1; /* up to 1 MiB */
    return (size_t)i * 131 % 4096;
}

static void fill(unsigned char *p, size_t n, int i) {
    for (size_t k = 0; k < n; k++)
        p[k] = (unsigned char)(k * 31 + (size_t)i);
}

static void check_reversed(cio_future *f, int i) {
    size_t n = bytes_len(i), len = 0;
    const unsigned char *out = NULL;
    assert_int_equal(cio_await(f, NULL), 0);
    assert_int_equal(cio_future_bytes(f, (const void **)&out, &len), 0);
    assert_int_equal(len, n);
    for (size_t k = 0; k < n; k++)
        if (out[k] != (unsigned char)((n - 1 - k) * 31 + (size_t)i))
            fail_msg("job %d: byte %zu of %zu is wrong", i, k, n);
    cio_future_unref(f);
}

/* 1,000 bytes jobs of 0 B to 1 MiB, 16 in flight, every byte checked. */
static void test_1000_bytes_jobs(void **state) {
    (void)state;
    enum { N = 1000, INFLIGHT = 16 };
    unsigned char *in = malloc(1u << 20);
    assert_non_null(in);
    cio_future *f[INFLIGHT] = {0};
    for (int i = 0; i < N + INFLIGHT; i++) {
        if (i >= INFLIGHT)
            check_reversed(f[i % INFLIGHT], i - INFLIGHT);
        if (i >= N)
            continue;
        size_t n = bytes_len(i);
        fill(in, n, i);
        f[i % INFLIGHT] = cio_run_in_executor_bytes(ex(), reverse, in, n, n);
        assert_non_null(f[i % INFLIGHT]);
        memset(in, 0, n); /* copied already: the job must not see this */
    }
    free(in);
}

static int bytes_error(cio_bytes_fn fn, size_t cap) {
    char in[8] = "abcdefg";
    cio_future *f = cio_run_in_executor_bytes(ex(), fn, in, sizeof in, cap);
    assert_non_null(f);
    int r = cio_await(f, NULL);
    const void *data;
    size_t len;
    if (r == 0) {
        assert_int_equal(cio_future_bytes(f, &data, &len), 0);
        r = (int)len;
    }
    cio_future_unref(f);
    return r;
}

static void test_bytes_errors(void **state) {
    (void)state;
    assert_int_equal(bytes_error(fails, 16), -EIO);
    assert_int_equal(bytes_error(claims_too_much, 16), CIO_EOUTCAP);
    assert_int_equal(bytes_error(writes_past_cap, 16), CIO_EOUTCAP);
    assert_int_equal(bytes_error(writes_past_cap, 200000), CIO_EOUTCAP); /* alone on the wire */
    assert_int_equal(bytes_error(reverse, 4), -ENOSPC);
    assert_int_equal(bytes_error(reverse, 8), 8);
    assert_int_equal(bytes_error(reverse, 300000), 8); /* a big buffer, a short result */
    /* A job with no result bytes still ends with bytes: none. */
    cio_future *f = cio_run_in_executor_bytes(ex(), reverse, NULL, 0, 0);
    assert_non_null(f);
    assert_int_equal(cio_await(f, NULL), 0);
    const void *data;
    size_t len = 99;
    assert_int_equal(cio_future_bytes(f, &data, &len), 0);
    assert_int_equal(len, 0);
    cio_future_unref(f);
    errno = 0; /* too big for one MPI message: refused before any copy */
    assert_null(cio_run_in_executor_bytes(ex(), reverse, "x", 1, (size_t)3 << 30));
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(run1(square_plus_one, 3), 10); /* the ranks go on */
}

/* --leave: main returns while jobs run on both ranks and more wait at rank
 * 0; the run must still end, every rank finalising MPI. */
static void *leave_jobs_behind(void) {
    for (int i = 0; i < 20; i++) {
        cio_future *f = cio_run_in_executor(cio_mpi_executor(), sleep_job, (void *)(intptr_t)200);
        if (!f)
            return (void *)1;
        cio_future_unref(f);
    }
    cio_sleep(0.05); /* the first ones reach the ranks */
    return NULL;
}

static void *rank0(void *arg) {
    if (arg == (void *)2)
        return leave_jobs_behind();
    if (arg) { /* --crash */
        void *v;
        cio_future *f = cio_run_in_executor(cio_mpi_executor(), crash_job, NULL);
        cio_await(f, &v);
        return (void *)1; /* never reached: the run ends */
    }
    printf("rank 0 loop backend: %s\n", cio_loop_backend_name(cio_get_running_loop()));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_outside_rank0_main), cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cancel_queued),          cmocka_unit_test(test_cancel_running),
        cmocka_unit_test(test_10000_scalar_jobs),      cmocka_unit_test(test_both_ranks_used),
        cmocka_unit_test(test_1000_bytes_jobs),        cmocka_unit_test(test_bytes_errors),
        cmocka_unit_test(test_loop_responsive),        cmocka_unit_test(test_shutdown),
    };
    return (void *)(intptr_t)cmocka_run_group_tests(tests, NULL, NULL);
}

int main(int argc, char **argv) {
    intptr_t mode = argc > 1 && strcmp(argv[1], "--crash") == 0   ? 1
                    : argc > 1 && strcmp(argv[1], "--leave") == 0 ? 2
                                                                  : 0;
    void *failed = NULL;
    int r = cio_mpi_main(&argc, &argv, rank0, (void *)mode, &failed);
    if (r < 0) {
        fprintf(stderr, "cio_mpi_main: %s\n", cio_strerror(r));
        return 1;
    }
    return failed != NULL;
}
