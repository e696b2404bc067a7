/* Debug mode (CIO_DEBUG=1 or cio_options.debug): a slow step is reported with
 * its task's name, and a failed task nobody looked at is reported when it is
 * released. The log goes through a handler the program can replace. */
#include "tutorial.h"

#include <cio.h>
#include <errno.h>
#include <time.h>

static void my_log(int level, const char *msg, void *user) {
    (void)user;
    printf("[log level %d] %s\n", level, msg);
}

static void *slow_step(void *arg) {
    (void)arg;
    cio_task_set_name(cio_current_task(), "slow-step");
    double until = cio_loop_time(cio_get_running_loop()) + S(0.3);
    while (cio_loop_time(cio_get_running_loop()) < until)
        ; /* CPU work without a suspension point */
    return NULL;
}

static void *fails(void *arg) {
    (void)arg;
    return cio_fail(-ECONNREFUSED);
}

static void *main_task(void *arg) {
    (void)arg;
    cio_future *a = cio_create_task(slow_step, NULL);
    cio_future *b = cio_create_task(fails, NULL);
    cio_task_set_name(b, "forgotten");
    cio_sleep(S(0.5));
    cio_future_unref(a);
    cio_future_unref(b); /* its error was never read */
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    cio_set_log_handler(my_log, NULL);
    cio_options opt = {.debug = 1, .slow_callback_duration = S(0.1)};
    return tutorial_exit(cio_run_with(&opt, main_task, NULL, NULL));
}
