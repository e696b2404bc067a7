/* W1: create 1,000,000 tasks that each return their index; await them in
 * batches of 10,000 with gather-like awaiting. Figure: tasks/s. */
#include "bench.h"

#include <cio.h>
#include <stdint.h>

#define BATCH 10000

static void *ret_index(void *arg) {
    return arg;
}

static void *spawn(void *arg) {
    long n = (long)arg;
    static cio_future *fs[BATCH];
    long sum = 0;
    for (long done = 0; done < n; done += BATCH) {
        for (long i = 0; i < BATCH; i++)
            fs[i] = cio_create_task(ret_index, (void *)(intptr_t)(done + i));
        for (long i = 0; i < BATCH; i++) {
            void *r;
            BENCH_CHECK(cio_await(fs[i], &r) == 0);
            sum += (long)(intptr_t)r;
            cio_future_unref(fs[i]);
        }
    }
    return (void *)sum;
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 1000000);
    double t0 = bench_now();
    void *sum;
    BENCH_CHECK(cio_run(spawn, (void *)n, &sum) == 0);
    double dt = bench_now() - t0;
    BENCH_CHECK((long)sum == n * (n - 1) / 2);
    BENCH_RESULT("W1", "cio", (double)n / dt, "tasks/s");
    return 0;
}
