/* W8: count primes below 1,000,000 by trial division (the seed's function)
 * in 64 chunks: in the loop thread, in 2 threads, in 2 worker processes.
 * Figures: seconds each, and the speedups over the loop thread. A run is
 * only ~0.1 s, so on a shared machine one neighbour's burst decides it:
 * each figure is the best of ROUNDS runs, rounds interleaved so that a
 * noisy period hits every variant alike (stderr says so; -q: one round). */
#include "bench.h"
#include "prime_chunk.h"

#include <cio.h>
#include <stdint.h>

#define CHUNKS 64
#define ROUNDS 7

static long limit; /* a variable, so the compiler cannot fold the work away */

static void *count_chunk(void *arg) {
    return (void *)(intptr_t)bench_primes_in_chunk(limit, (long)(intptr_t)arg, CHUNKS);
}

static void *in_loop(void *arg) {
    (void)arg;
    long total = 0;
    for (long i = 0; i < CHUNKS; i++)
        total += (long)(intptr_t)count_chunk((void *)(intptr_t)i);
    return (void *)(intptr_t)total;
}

static void *in_pool(void *arg) {
    cio_executor *ex = arg;
    cio_future *fs[CHUNKS];
    long total = 0;
    for (long i = 0; i < CHUNKS; i++)
        BENCH_CHECK((fs[i] = cio_run_in_executor(ex, count_chunk, (void *)(intptr_t)i)));
    for (long i = 0; i < CHUNKS; i++) {
        void *r;
        BENCH_CHECK(cio_await(fs[i], &r) == 0);
        total += (long)(intptr_t)r;
        cio_future_unref(fs[i]);
    }
    return (void *)(intptr_t)total;
}

static double timed(cio_fn fn, void *arg) {
    double t0 = bench_now();
    void *r;
    BENCH_CHECK(cio_run(fn, arg, &r) == 0);
    double dt = bench_now() - t0;
    BENCH_CHECK(limit != 1000000 || (intptr_t)r == 78498);
    return dt;
}

static double least(double a, double b) {
    return a < b ? a : b;
}

int main(int argc, char **argv) {
    int rounds = bench_scale(argc, argv, 10) < 10 ? 1 : ROUNDS;
    fprintf(stderr, "W8: best of %d rounds\n", rounds);
    limit = 1000000;
    cio_executor *threads = cio_thread_pool_new(2), *procs = cio_process_pool_new(2);
    BENCH_CHECK(threads && procs);
    double seq = 1e9, thr = 1e9, prc = 1e9;
    for (int r = 0; r < rounds; r++) {
        seq = least(seq, timed(in_loop, NULL));
        thr = least(thr, timed(in_pool, threads));
        prc = least(prc, timed(in_pool, procs));
    }
    BENCH_RESULT("W8-loop", "cio", seq, "s");
    BENCH_RESULT("W8-threads", "cio", thr, "s");
    BENCH_RESULT("W8-processes", "cio", prc, "s");
    BENCH_RESULT("W8-speedup-threads", "cio", seq / thr, "x");
    BENCH_RESULT("W8-speedup-processes", "cio", seq / prc, "x");
    cio_executor_shutdown(threads, true, false);
    cio_executor_shutdown(procs, true, false);
    cio_executor_free(threads);
    cio_executor_free(procs);
    return 0;
}
