/* W5: a chain of 10,000,000 call_soon callbacks, each scheduling the next.
 * Figure: callbacks/s. */
#include "bench.h"

#include <cio.h>

static long remaining, ran;

static void link_cb(void *arg) {
    ran++;
    if (--remaining > 0)
        cio_call_soon(link_cb, arg);
    else
        cio_loop_stop(arg);
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 10000000);
    remaining = n;
    cio_loop *loop = cio_loop_new(NULL);
    BENCH_CHECK(loop != NULL);
    double t0 = bench_now();
    cio_loop_call_soon(loop, link_cb, loop);
    BENCH_CHECK(cio_loop_run_forever(loop) == 0);
    double dt = bench_now() - t0;
    cio_loop_close(loop);
    BENCH_CHECK(ran == n);
    BENCH_RESULT("W5", "cio", (double)n / dt, "callbacks/s");
    return 0;
}
