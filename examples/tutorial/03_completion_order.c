/* Tasks finish in the order of their delays, not of their creation. */
#include "tutorial.h"

#include <cio.h>

static void *worker(void *arg) {
    long delay = (long)arg;
    cio_sleep(S((double)delay));
    printf("%s finished after %ld s\n", cio_task_name(cio_current_task()), delay);
    return arg;
}

static void *main_task(void *arg) {
    (void)arg;
    static const long delays[] = {3, 1, 2};
    cio_future *ts[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "task%d", i + 1);
        cio_task_options opt = {.name = name};
        ts[i] = cio_loop_create_task_with(cio_get_running_loop(), &opt, worker, (void *)delays[i]);
        printf("created %s (sleeps %ld s)\n", name, delays[i]);
    }
    for (int i = 0; i < 3; i++) {
        cio_await(ts[i], NULL);
        cio_future_unref(ts[i]);
    }
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
