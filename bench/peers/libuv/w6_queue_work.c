/* W6 on libuv: uv_queue_work, 64 in flight, and sequential round trips. */
#include "../../bench.h"

#include <uv.h>

#define IN_FLIGHT 64

typedef struct job {
    uv_work_t req;
    long x, r;
} job;

static long n, issued, sum, seq_left;
static double seq_t0, *rtts;
static long nrtt;
static uv_loop_t *loop;

static void work(uv_work_t *req) {
    job *j = (job *)req;
    j->r = j->x + 1;
}

static void after(uv_work_t *req, int status) {
    (void)status;
    job *j = (job *)req;
    sum += j->r;
    if (issued < n) {
        j->x = issued++;
        uv_queue_work(loop, &j->req, work, after);
    } else {
        free(j);
    }
}

static void after_seq(uv_work_t *req, int status) {
    (void)status;
    rtts[nrtt++] = bench_now() - seq_t0;
    if (--seq_left > 0) {
        seq_t0 = bench_now();
        uv_queue_work(loop, req, work, after_seq);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    n = bench_scale(argc, argv, 200000);
    loop = uv_default_loop();
    double t0 = bench_now();
    for (int i = 0; i < IN_FLIGHT && issued < n; i++) {
        job *j = malloc(sizeof *j);
        j->x = issued++;
        uv_queue_work(loop, &j->req, work, after);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    BENCH_CHECK(sum == n * (n - 1) / 2 + n);
    BENCH_RESULT("W6", "libuv", (double)n / (bench_now() - t0), "calls/s");

    seq_left = bench_scale(argc, argv, 10000);
    rtts = malloc((size_t)seq_left * sizeof *rtts);
    long total = seq_left;
    job j = {.x = 1};
    seq_t0 = bench_now();
    uv_queue_work(loop, &j.req, work, after_seq);
    uv_run(loop, UV_RUN_DEFAULT);
    qsort(rtts, (size_t)total, sizeof *rtts, cmp_double);
    BENCH_RESULT("W6-rtt", "libuv", rtts[total / 2] * 1e6, "us");
    free(rtts);
    return 0;
}
