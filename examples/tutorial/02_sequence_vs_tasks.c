/* Awaiting coroutines one after another takes the sum of their delays (3 s);
 * wrapping them in tasks first lets them overlap (2 s). */
#include "tutorial.h"

#include <cio.h>

static void *fetch_data(void *param) {
    long seconds = (long)param;
    printf("Do something with %ld...\n", seconds);
    cio_sleep(S((double)seconds));
    printf("Done with %ld\n", seconds);
    return (void *)(seconds * 10);
}

static void *in_sequence(void *arg) {
    (void)arg;
    double t0 = cio_loop_time(cio_get_running_loop());
    long r1 = (long)fetch_data((void *)1L); /* a plain call: runs to the end */
    long r2 = (long)fetch_data((void *)2L);
    printf("%ld %ld  (sequential: %.2f s)\n", r1, r2, cio_loop_time(cio_get_running_loop()) - t0);
    return NULL;
}

static void *with_tasks(void *arg) {
    (void)arg;
    double t0 = cio_loop_time(cio_get_running_loop());
    cio_future *t1 = cio_create_task(fetch_data, (void *)1L);
    cio_future *t2 = cio_create_task(fetch_data, (void *)2L);
    void *r1, *r2;
    cio_await(t1, &r1);
    cio_await(t2, &r2);
    printf("%ld %ld  (tasks: %.2f s)\n", (long)r1, (long)r2,
           cio_loop_time(cio_get_running_loop()) - t0);
    cio_future_unref(t1);
    cio_future_unref(t2);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    if (cio_run(in_sequence, NULL, NULL) < 0 || cio_run(with_tasks, NULL, NULL) < 0)
        return 1;
    return 0;
}
