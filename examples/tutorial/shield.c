/* shield: the wait times out at 4 s but the 10 s task keeps running and is
 * awaited afterwards. */
#include "tutorial.h"

#include <cio.h>

static void *slow(void *arg) {
    (void)arg;
    printf("slow task: working for 10 s\n");
    cio_sleep(S(10));
    printf("slow task: done\n");
    return (void *)42L;
}

static void *main_task(void *arg) {
    (void)arg;
    cio_loop *loop = cio_get_running_loop();
    double t0 = cio_loop_time(loop);
    cio_future *t = cio_create_task(slow, NULL);
    cio_future *s = cio_shield(t);
    int r = cio_wait_for(s, S(4), NULL);
    printf("wait_for(shield): %s after %.1f s; task still running: %s\n", cio_strerror(r),
           (cio_loop_time(loop) - t0) / S(1), cio_future_done(t) ? "no" : "yes");
    void *v;
    r = cio_await(t, &v);
    printf("awaited later: %ld after %.1f s\n", (long)v, (cio_loop_time(loop) - t0) / S(1));
    cio_future_unref(s);
    cio_future_unref(t);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
