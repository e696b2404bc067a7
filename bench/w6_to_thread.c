/* W6: 200,000 calls of x+1 through the default thread pool with at most 64
 * in flight (calls/s), and 10,000 sequential awaited calls (median round
 * trip in µs). */
#include "cio_in_flight.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *throughput(void *arg) {
    bench_calls_in_flight(NULL, (long)arg);
    return NULL;
}

static void *round_trips(void *arg) {
    long n = (long)arg;
    double *rt = malloc((size_t)n * sizeof *rt);
    for (long i = 0; i < n; i++) {
        double t0 = bench_now();
        void *r;
        BENCH_CHECK(cio_to_thread(plus_one, (void *)(intptr_t)i, &r) == 0);
        rt[i] = bench_now() - t0;
        BENCH_CHECK((intptr_t)r == i + 1);
    }
    qsort(rt, (size_t)n, sizeof *rt, cmp_double);
    double median = rt[n / 2];
    free(rt);
    BENCH_RESULT("W6-rtt", "cio", median * 1e6, "us");
    return NULL;
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 200000);
    double t0 = bench_now();
    BENCH_CHECK(cio_run(throughput, (void *)n, NULL) == 0);
    BENCH_RESULT("W6", "cio", (double)n / (bench_now() - t0), "calls/s");
    BENCH_CHECK(cio_run(round_trips, (void *)(bench_scale(argc, argv, 10000)), NULL) == 0);
    return 0;
}
