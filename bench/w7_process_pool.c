/* W7: 50,000 calls of x+1 through a 2-worker process pool, at most 64 in
 * flight. Figure: calls/s. */
#include "bench.h"

#include <cio.h>
#include <stdint.h>

#define IN_FLIGHT 64

static void *plus_one(void *arg) {
    return (void *)((intptr_t)arg + 1);
}

static void *run(void *arg) {
    long n = (long)arg, sum = 0;
    cio_executor *pool = cio_process_pool_new(2);
    BENCH_CHECK(pool != NULL);
    cio_future *fs[IN_FLIGHT] = {0};
    double t0 = bench_now();
    for (long i = 0; i < n + IN_FLIGHT; i++) {
        int s = (int)(i % IN_FLIGHT);
        if (fs[s]) {
            void *r;
            BENCH_CHECK(cio_await(fs[s], &r) == 0);
            sum += (long)(intptr_t)r;
            cio_future_unref(fs[s]);
            fs[s] = NULL;
        }
        if (i < n)
            BENCH_CHECK((fs[s] = cio_run_in_executor(pool, plus_one, (void *)(intptr_t)i)));
    }
    double dt = bench_now() - t0;
    BENCH_CHECK(sum == n * (n - 1) / 2 + n);
    BENCH_RESULT("W7", "cio", (double)n / dt, "calls/s");
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
    return NULL;
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 50000);
    BENCH_CHECK(cio_run(run, (void *)n, NULL) == 0);
    return 0;
}
