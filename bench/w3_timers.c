/* W3: 1,000,000 call_later callbacks with delays (i % 1000) ms; run until all
 * fired. Figures, measured the same way for every implementation: wall
 * seconds and CPU seconds (user + system) from before the loop is created and
 * the timers are inserted until the last one has fired (the wall floor is
 * 0.999 s), and peak RSS. */
#include "bench.h"

#include <cio.h>

typedef struct state {
    long fired, n;
} state;

static void fire(void *arg) {
    state *s = arg;
    if (++s->fired == s->n)
        cio_loop_stop(cio_get_running_loop());
}

int main(int argc, char **argv) {
    state s = {.n = bench_scale(argc, argv, 1000000)};
    double t0 = bench_now(), cpu0 = bench_cpu_seconds();
    cio_loop *loop = cio_loop_new(NULL);
    BENCH_CHECK(loop != NULL);
    double base = cio_loop_time(loop);
    for (long i = 0; i < s.n; i++)
        BENCH_CHECK(cio_loop_call_at(loop, base + (double)(i % 1000) * 1e-3, fire, &s).p);
    BENCH_CHECK(cio_loop_run_forever(loop) == 0);
    double dt = bench_now() - t0, cpu = bench_cpu_seconds() - cpu0;
    cio_loop_close(loop);
    BENCH_CHECK(s.fired == s.n);
    BENCH_RESULT("W3-wall", "cio", dt, "s");
    BENCH_RESULT("W3-cpu", "cio", cpu, "s");
    BENCH_RESULT("W3-rss", "cio", bench_peak_rss_kib() * 1024.0, "bytes");
    return 0;
}
