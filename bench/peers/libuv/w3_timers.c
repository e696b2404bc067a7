/* W3 on libuv: 1,000,000 uv_timer_t with timeouts (i % 1000) ms; run until
 * all fired (wall and CPU time from before the
 * timers are inserted). Same RESULT lines as bench/w3_timers.c. */
#include "../../bench.h"

#include <uv.h>

static long fired, n;

static void on_timer(uv_timer_t *t) {
    (void)t;
    fired++;
}

int main(int argc, char **argv) {
    n = bench_scale(argc, argv, 1000000);
    double t0 = bench_now(), cpu0 = bench_cpu_seconds();
    uv_loop_t *loop = uv_default_loop();
    uv_timer_t *timers = malloc((size_t)n * sizeof *timers);
    BENCH_CHECK(timers != NULL);
    for (long i = 0; i < n; i++) {
        uv_timer_init(loop, &timers[i]);
        uv_timer_start(&timers[i], on_timer, (uint64_t)(i % 1000), 0);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    double dt = bench_now() - t0, cpu = bench_cpu_seconds() - cpu0;
    BENCH_CHECK(fired == n);
    for (long i = 0; i < n; i++)
        uv_close((uv_handle_t *)&timers[i], NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    free(timers);
    BENCH_RESULT("W3-wall", "libuv", dt, "s");
    BENCH_RESULT("W3-cpu", "libuv", cpu, "s");
    BENCH_RESULT("W3-rss", "libuv", bench_peak_rss_kib() * 1024.0, "bytes");
    return 0;
}
