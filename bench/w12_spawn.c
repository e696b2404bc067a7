/* W12: `true` spawned and waited 2,000 times, 32 at once (processes/s).
 * Peers: bench/peers/c/w12_posix_spawn (a plain C posix_spawn + waitpid
 * loop) and bench/peers/python/w12_spawn.py (asyncio). */
#include "bench.h"

#include <cio.h>

#include <errno.h>

enum { AT_ONCE = 32 };

static long remaining;

static void *spawner(void *arg) {
    (void)arg;
    const char *argv[] = {"/bin/true", NULL};
    while (remaining > 0) {
        remaining--;
        cio_process *p = cio_subprocess_exec(argv, NULL);
        BENCH_CHECK(p != NULL);
        int rc = -1;
        BENCH_CHECK(cio_process_wait(p, &rc) == 0);
        BENCH_CHECK(rc == 0);
        cio_process_free(p);
    }
    return NULL;
}

static void *main_task(void *arg) {
    remaining = (long)arg;
    cio_future *fs[AT_ONCE];
    for (int i = 0; i < AT_ONCE; i++)
        fs[i] = cio_create_task(spawner, NULL);
    BENCH_CHECK(cio_gather(fs, AT_ONCE, 0) == 0);
    for (int i = 0; i < AT_ONCE; i++)
        cio_future_unref(fs[i]);
    return NULL;
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 2000);
    double t0 = bench_now();
    BENCH_CHECK(cio_run(main_task, (void *)n, NULL) == 0);
    BENCH_RESULT("W12", "cio", (double)n / (bench_now() - t0), "processes/s");
    return 0;
}
