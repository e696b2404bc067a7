/* Poll a long task once a second; give up on it after 5 s and cancel it. */
#include "tutorial.h"

#include <cio.h>
#include <errno.h>

static void *long_running(void *arg) {
    (void)arg;
    printf("long task: starting 10 s of work\n");
    if (cio_sleep(S(10)) == -ECANCELED) {
        printf("long task: cancelled, cleaning up\n");
        return cio_fail(-ECANCELED);
    }
    return (void *)1;
}

static void *main_task(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(long_running, NULL);
    int seconds = 0;
    while (!cio_future_done(t)) {
        printf("Task not finished, checking again in a second.\n");
        cio_sleep(S(1));
        if (++seconds == 5)
            cio_cancel(t);
    }
    int r = cio_await(t, NULL);
    printf("task ended: %s (cancelled=%d)\n", cio_strerror(r), cio_future_cancelled(t));
    cio_future_unref(t);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
