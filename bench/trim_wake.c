/* The cost of waking a task whose stack was trimmed (cio_options.
 * stack_trim_after), against one whose stack was not: N tasks each await
 * their own future; once they have been parked well past the threshold, all
 * futures are completed at once and the time until every task has run and
 * finished is divided by N. Not a row of `make bench`: run by hand,
 *   trim_wake off|on [N]   (default 10,000; one mode per process)
 * prints ns per wake, and the RSS per parked task just before the wake
 * (which shows whether trimming happened). */
#include "bench.h"

#include <cio.h>

typedef struct run {
    long n;
    double ns_per_wake;
    long rss_per_task;
} run;

static void *waiter(void *arg) {
    void *r = NULL;
    cio_await(arg, &r);
    return r;
}

static void *main_task(void *arg) {
    run *rn = arg;
    long n = rn->n;
    cio_future **fs = malloc((size_t)n * sizeof *fs), **ts = malloc((size_t)n * sizeof *ts);
    BENCH_CHECK(fs && ts);
    long before = bench_rss_bytes();
    for (long i = 0; i < n; i++) {
        fs[i] = cio_future_new();
        ts[i] = cio_create_task(waiter, fs[i]);
    }
    cio_sleep(3.0); /* 300 thresholds of 0.01 s: every waiter has been trimmed */
    rn->rss_per_task = (bench_rss_bytes() - before) / n;
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        cio_future_set_result(fs[i], (void *)(i + 1));
    for (long i = 0; i < n; i++) {
        void *r = NULL;
        BENCH_CHECK(cio_await(ts[i], &r) == 0 && r == (void *)(i + 1));
    }
    rn->ns_per_wake = (bench_now() - t0) * 1e9 / (double)n;
    for (long i = 0; i < n; i++) {
        cio_future_unref(fs[i]);
        cio_future_unref(ts[i]);
    }
    free(fs);
    free(ts);
    return NULL;
}

int main(int argc, char **argv) {
    bool on = argc > 1 && strcmp(argv[1], "on") == 0;
    long n = argc > 2 ? atol(argv[2]) : 10000;
    BENCH_CHECK(n > 0);
    run rn = {.n = n};
    cio_options o = {.stack_trim_after = on ? 0.01 : -1};
    BENCH_CHECK(cio_run_with(&o, main_task, &rn, NULL) == 0);
    BENCH_RESULT(on ? "trim_wake-on" : "trim_wake-off", "cio", rn.ns_per_wake, "ns/wake");
    BENCH_RESULT(on ? "trim_wake-on-rss" : "trim_wake-off-rss", "cio", (double)rn.rss_per_task,
                 "bytes/task");
    return 0;
}
