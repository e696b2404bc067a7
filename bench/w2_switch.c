/* W2: two tasks each yield 1,000,000 times, interleaving. Figure: yields/s. */
#include "bench.h"

#include <cio.h>

static long turn_errors;
static int last;

static void *yielder(void *arg) {
    long id = (long)arg & 1, n = (long)arg >> 1;
    for (long i = 0; i < n; i++) {
        if (i > 0 && last == id)
            turn_errors++; /* they must alternate */
        last = (int)id;
        cio_yield();
    }
    return NULL;
}

static void *main_task(void *arg) {
    long n = (long)arg;
    cio_future *a = cio_create_task(yielder, (void *)(n << 1 | 0));
    cio_future *b = cio_create_task(yielder, (void *)(n << 1 | 1));
    cio_await(a, NULL);
    cio_await(b, NULL);
    cio_future_unref(a);
    cio_future_unref(b);
    return NULL;
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 1000000);
    double t0 = bench_now();
    BENCH_CHECK(cio_run(main_task, (void *)n, NULL) == 0);
    double dt = bench_now() - t0;
    BENCH_CHECK(turn_errors == 0);
    BENCH_RESULT("W2", "cio", 2.0 * (double)n / dt, "yields/s");
    return 0;
}
