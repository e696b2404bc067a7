/* W13: a plain thread submits a task to a running loop and waits for its
 * result (cio_run_coroutine_threadsafe + cio_future_wait), 10,000 times in
 * sequence (median round trip in µs). Peer:
 * bench/peers/python/w13_threadsafe.py (asyncio run_coroutine_threadsafe +
 * Future.result). */
#include "bench.h"

#include <cio.h>

#include <pthread.h>
#include <stdint.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *plus_one(void *arg) {
    return (void *)((intptr_t)arg + 1);
}

typedef struct run {
    cio_loop *loop;
    cio_event *done;
    long n;
    double median;
} run;

static void set_done(void *arg) {
    cio_event_set(arg);
}

static void *submitter(void *arg) {
    run *r = arg;
    double *rt = malloc((size_t)r->n * sizeof *rt);
    BENCH_CHECK(rt != NULL);
    for (long i = 0; i < r->n; i++) {
        double t0 = bench_now();
        cio_future *f = cio_run_coroutine_threadsafe(r->loop, plus_one, (void *)(intptr_t)i);
        void *res = NULL;
        BENCH_CHECK(f && cio_future_wait(f, -1, &res) == 0);
        cio_future_unref(f);
        rt[i] = bench_now() - t0;
        BENCH_CHECK((intptr_t)res == i + 1);
    }
    qsort(rt, (size_t)r->n, sizeof *rt, cmp_double);
    r->median = rt[r->n / 2];
    free(rt);
    BENCH_CHECK(cio_call_soon_threadsafe(r->loop, set_done, r->done) == 0);
    return NULL;
}

static void *main_task(void *arg) {
    run *r = arg;
    r->loop = cio_get_running_loop();
    r->done = cio_event_new();
    pthread_t t;
    BENCH_CHECK(pthread_create(&t, NULL, submitter, r) == 0);
    BENCH_CHECK(cio_event_wait(r->done) == 0);
    pthread_join(t, NULL); /* it has posted its last call: it is leaving */
    cio_event_free(r->done);
    return NULL;
}

int main(int argc, char **argv) {
    run r = {.n = bench_scale(argc, argv, 10000)};
    BENCH_CHECK(cio_run(main_task, &r, NULL) == 0);
    BENCH_RESULT("W13", "cio", r.median * 1e6, "us");
    return 0;
}
