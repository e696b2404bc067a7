/* W7: 50,000 calls of x+1 through a 2-worker process pool, at most 64 in
 * flight. Figure: calls/s. */
#include "cio_in_flight.h"

static void *run(void *arg) {
    long n = (long)arg;
    cio_executor *pool = cio_process_pool_new(2);
    BENCH_CHECK(pool != NULL);
    double t0 = bench_now();
    bench_calls_in_flight(pool, n);
    BENCH_RESULT("W7", "cio", (double)n / (bench_now() - t0), "calls/s");
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
    return NULL;
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 50000);
    BENCH_CHECK(cio_run(run, (void *)n, NULL) == 0);
    return 0;
}
