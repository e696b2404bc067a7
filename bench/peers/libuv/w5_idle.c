/* W5 on libuv: a chain of 10,000,000 callbacks, each scheduling the next.
 * libuv's "run this on the next turn of the loop" is a uv_idle_t: its
 * callback runs once per loop iteration while it is active, so a chain of
 * n callbacks is the idle handle running n times and stopping itself at the
 * end. Same RESULT line as bench/w5_call_soon.c. */
#include "../../bench.h"

#include <uv.h>

static long remaining, ran;

static void on_idle(uv_idle_t *h) {
    ran++;
    if (--remaining == 0)
        uv_idle_stop(h);
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 10000000);
    remaining = n;
    uv_loop_t *loop = uv_default_loop();
    uv_idle_t idle;
    double t0 = bench_now();
    uv_idle_init(loop, &idle);
    uv_idle_start(&idle, on_idle);
    uv_run(loop, UV_RUN_DEFAULT);
    double dt = bench_now() - t0;
    BENCH_CHECK(ran == n);
    uv_close((uv_handle_t *)&idle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    BENCH_RESULT("W5", "libuv-idle", (double)n / dt, "callbacks/s");
    return 0;
}
