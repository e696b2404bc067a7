/* Where does the time go? The same job, eight items, three ways, each run
 * under the profiler (cio_options.profile, or env CIO_PROFILE=1 for any
 * program), which prints its table when cio_run ends:
 *   1. I/O-bound: each item waits (a timer standing in for the network) and
 *      reads a pipe: the rows show waiting, the advice says tasks are right;
 *   2. CPU-bound on the loop: each item spins: the rows show long steps on
 *      the loop, the advice says to move the work off it;
 *   3. the same spin in a process pool: the tasks now wait on executor jobs,
 *      and the loop stays free (main's row may show the pool's start:
 *      cio_process_pool_new forks its workers from the loop's thread). */
#include "tutorial.h"

#include <cio.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#define ITEMS 8

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The calling thread's CPU seconds (a loaded machine does not shorten a
 * spin measured by them). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU work: 60 ms of spinning per item (not scaled below 30 ms, so the
 * profile still sees a CPU-bound job in `make demo`). */
static void *spin(void *arg) {
    (void)arg;
    double ms = S(0.06) > 0.03 ? S(0.06) : 0.03, end = cpu_now() + ms;
    volatile unsigned long x = 0;
    while (cpu_now() < end)
        x++;
    return NULL;
}

/* I/O-bound: the item "downloads" (a timer), then reads its bytes from a
 * pipe that a writer task fills a little later. */
static void *fetch(void *arg) {
    int *fds = arg;
    char buf[8];
    if (cio_sleep(S(0.3)) < 0 || cio_read(fds[0], buf, 1, -1) != 1)
        return cio_fail(-EIO);
    return NULL;
}

static void *writer(void *arg) {
    int *fds = arg;
    if (cio_sleep(S(0.4)) < 0 || cio_write(fds[1], "x", 1, -1) != 1)
        return cio_fail(-EIO);
    return NULL;
}

static void *resize(void *arg) {
    cio_executor *pool = arg;
    if (!pool)
        return spin(NULL);
    return cio_await(cio_run_in_executor(pool, spin, NULL), NULL) < 0 ? cio_fail(-EIO) : NULL;
}

typedef struct job {
    const char *name;
    cio_fn fn;
    int mode; /* 0: I/O-bound, 1: CPU on the loop, 2: CPU in a process pool */
} job;

static void *run_job(void *arg) {
    const job *j = arg;
    int fds[ITEMS][2];
    cio_executor *pool = j->mode == 2 ? cio_process_pool_new(2) : NULL;
    cio_future *ts[2 * ITEMS];
    size_t n = 0;
    for (int i = 0; i < ITEMS; i++) {
        cio_task_options o = {.name = j->name};
        if (j->mode == 0) {
            if (pipe(fds[i]) < 0)
                return cio_fail(-errno);
            ts[n++] = cio_create_task_with(&o, fetch, fds[i]);
            ts[n++] = cio_create_task_with(&(cio_task_options){.name = "writer"}, writer, fds[i]);
        } else
            ts[n++] = cio_create_task_with(&o, resize, pool);
    }
    int r = cio_gather(ts, n, 0);
    for (size_t i = 0; i < n; i++)
        cio_future_unref(ts[i]);
    for (int i = 0; j->mode == 0 && i < ITEMS; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
    if (pool) {
        cio_executor_shutdown(pool, true, false);
        cio_executor_free(pool);
    }
    return r < 0 ? cio_fail(r) : NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    static const job jobs[] = {{"fetch", fetch, 0}, {"resize", resize, 1}, {"resize", resize, 2}};
    static const char *const titles[] = {"1. I/O-bound: eight downloads",
                                         "2. CPU-bound, on the loop: eight resizes",
                                         "3. CPU-bound, in a process pool: the same resizes"};
    cio_options opt = {.profile = true};
    for (int i = 0; i < 3; i++) {
        printf("\n%s (the profile follows on stderr)\n", titles[i]);
        double t0 = now();
        int r = cio_run_with(&opt, run_job, (void *)&jobs[i], NULL);
        if (r < 0)
            return tutorial_exit(r);
        printf("took %.2f s\n", now() - t0);
    }
    return 0;
}
