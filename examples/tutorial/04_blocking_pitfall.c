/* The pitfall: a blocking call inside a task freezes every other task. The
 * ticker below stops ticking while sleep(3) holds the loop; debug mode names
 * the culprit. The fix is cio_sleep, or cio_to_thread for real blocking work. */
#include "tutorial.h"

#include <cio.h>
#include <time.h>

static void *ticker(void *arg) {
    double t0 = cio_loop_time(cio_get_running_loop());
    (void)arg;
    for (int i = 0; i < 5; i++) {
        printf("tick %d at %.2f s\n", i, cio_loop_time(cio_get_running_loop()) - t0);
        if (cio_sleep(S(0.5)) < 0)
            break;
    }
    return NULL;
}

static void *blocker(void *arg) {
    (void)arg;
    cio_task_set_name(cio_current_task(), "blocker");
    printf("blocker: calling a blocking sleep (the mistake)\n");
    struct timespec ts = {0, 0};
    double d = S(1.5);
    ts.tv_sec = (time_t)d;
    ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
    printf("blocker: done\n");
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(ticker, NULL);
    cio_future *b = cio_create_task(blocker, NULL);
    cio_await(t, NULL);
    cio_await(b, NULL);
    cio_future_unref(t);
    cio_future_unref(b);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    cio_options opt = {.debug = 1, .slow_callback_duration = S(0.1)};
    return tutorial_exit(cio_run_with(&opt, main_task, NULL, NULL));
}
