/* W4 on libuv: 100,000 concurrent "sleepers" are 100,000 one-shot 1 s timers
 * (libuv has no tasks: this is its lower bound, labelled "libuv-bare-timers"
 * in the table, not a task runtime). */
#include "../../bench.h"

#include <uv.h>

static long fired;
static long rss_during;

static void on_timer(uv_timer_t *t) {
    (void)t;
    fired++;
}

static void on_sample(uv_timer_t *t) {
    (void)t;
    rss_during = bench_rss_bytes();
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 100000);
    long before = bench_rss_bytes();
    double t0 = bench_now();
    uv_loop_t *loop = uv_default_loop();
    uv_timer_t *timers = malloc((size_t)n * sizeof *timers), sample;
    BENCH_CHECK(timers != NULL);
    for (long i = 0; i < n; i++) {
        uv_timer_init(loop, &timers[i]);
        uv_timer_start(&timers[i], on_timer, 1000, 0);
    }
    uv_timer_init(loop, &sample);
    uv_timer_start(&sample, on_sample, 500, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    double dt = bench_now() - t0;
    BENCH_CHECK(fired == n);
    BENCH_RESULT("W4", "libuv-bare-timers", dt, "s");
    BENCH_RESULT("W4-rss", "libuv-bare-timers", (double)(rss_during - before) / (double)n,
                 "bytes/task");
    return 0;
}
