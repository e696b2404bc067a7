/* W4: 100,000 concurrent tasks each sleep 1.0 s. Figures: wall seconds and
 * resident bytes per sleeping task (measured while they all sleep, 0.5 s
 * after the last was created), with the default options: a sleep of
 * stack_trim_after (1 s) or more gives its stack pages back as it parks. */
#include "bench.h"

#include <cio.h>

static long rss_during;

static void *sleeper(void *arg) {
    (void)arg;
    return (void *)(long)cio_sleep(1.0);
}

static void sample(void *arg) {
    (void)arg;
    rss_during = bench_rss_bytes();
}

static void *main_task(void *arg) {
    long n = (long)arg;
    cio_future **fs = malloc((size_t)n * sizeof *fs);
    for (long i = 0; i < n; i++)
        fs[i] = cio_create_task(sleeper, NULL);
    cio_call_later(0.5, sample, NULL);
    long ok = 0;
    for (long i = 0; i < n; i++) {
        void *r;
        if (cio_await(fs[i], &r) == 0 && r == NULL)
            ok++;
        cio_future_unref(fs[i]);
    }
    free(fs);
    return (void *)ok;
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 100000);
    long before = bench_rss_bytes();
    double t0 = bench_now();
    void *ok;
    BENCH_CHECK(cio_run(main_task, (void *)n, &ok) == 0);
    double dt = bench_now() - t0;
    BENCH_CHECK((long)ok == n);
    BENCH_RESULT("W4", "cio", dt, "s");
    BENCH_RESULT("W4-rss", "cio", (double)(rss_during - before) / (double)n, "bytes/task");
    return 0;
}
