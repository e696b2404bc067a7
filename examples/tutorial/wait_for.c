/* wait_for: a 10 s task given 4 s is cancelled at 4 s, and wait_for returns
 * only once it has really finished. */
#include "tutorial.h"

#include <cio.h>

#include <errno.h>

static void *slow(void *arg) {
    (void)arg;
    printf("slow task: working for 10 s\n");
    if (cio_sleep(S(10)) < 0) {
        printf("slow task: cancelled, cleaning up\n");
        return cio_fail(-ECANCELED);
    }
    return (void *)42L;
}

static void *main_task(void *arg) {
    (void)arg;
    cio_loop *loop = cio_get_running_loop();
    double t0 = cio_loop_time(loop);
    cio_future *t = cio_create_task(slow, NULL);
    int r = cio_wait_for(t, S(4), NULL);
    printf("wait_for: %s after %.1f s; task cancelled: %s\n", cio_strerror(r),
           (cio_loop_time(loop) - t0) / S(1), cio_future_cancelled(t) ? "yes" : "no");
    cio_future_unref(t);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
