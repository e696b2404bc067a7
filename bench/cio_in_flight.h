/* W6 and W7's shape: n calls of x+1 through an executor (NULL: the default
 * pool), at most IN_FLIGHT at once, awaited in order, results checked. */
#ifndef CIO_BENCH_IN_FLIGHT_H
#define CIO_BENCH_IN_FLIGHT_H

#include "bench.h"

#include <cio.h>
#include <stdint.h>

#define IN_FLIGHT 64

static void *plus_one(void *arg) {
    return (void *)((intptr_t)arg + 1);
}

/* In a task. */
static inline void bench_calls_in_flight(cio_executor *ex, long n) {
    long sum = 0;
    cio_future *fs[IN_FLIGHT] = {0};
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
            BENCH_CHECK((fs[s] = cio_run_in_executor(ex, plus_one, (void *)(intptr_t)i)));
    }
    BENCH_CHECK(sum == n * (n - 1) / 2 + n);
}

#endif
