/* TaskGroup: spawn tasks into a group and wait for all of them; the first
 * failure cancels the rest and every failure is kept. */
#include "tutorial.h"

#include <cio.h>

#include <errno.h>

static void *worker(void *arg) {
    long seconds = (long)arg;
    int r = cio_sleep(S((double)seconds));
    if (r < 0) {
        printf("worker %ld cancelled\n", seconds);
        return cio_fail(r);
    }
    if (seconds == 2) {
        printf("worker %ld fails\n", seconds);
        return cio_fail(-ECONNRESET);
    }
    printf("worker %ld finished\n", seconds);
    return NULL;
}

static int run_group(const long *secs, int n) {
    cio_task_group *g = cio_task_group_new();
    if (!g)
        return -errno;
    for (int i = 0; i < n; i++)
        cio_task_group_spawn(g, worker, (void *)secs[i], NULL);
    int r = cio_task_group_wait(g, 0);
    int errs[8];
    size_t ne = cio_task_group_errors(g, errs, 8);
    printf("group: %s, %zu error(s)", r == 0 ? "ok" : cio_strerror(r), ne);
    for (size_t i = 0; i < ne && i < 8; i++)
        printf(" [%s]", cio_strerror(errs[i]));
    printf("\n");
    cio_task_group_free(g);
    return r;
}

static void *main_task(void *arg) {
    (void)arg;
    static const long ok[] = {1, 3};
    static const long bad[] = {1, 2, 3};
    run_group(ok, 2);
    run_group(bad, 3);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
