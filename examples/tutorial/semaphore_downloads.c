/* At most 4 downloads at a time through a semaphore (downloads simulated
 * with cio_sleep). */
#include "tutorial.h"

#include <cio.h>

#include <errno.h>

enum { NURLS = 10, LIMIT = 4 };

static cio_semaphore *slots;
static int active;

static void *download(void *arg) {
    long id = (long)arg;
    if (cio_semaphore_acquire(slots) < 0)
        return cio_fail(-ECANCELED);
    active++;
    printf("download %2ld started (%d running)\n", id, active);
    cio_sleep(S(0.5 + (double)(id % 3) * 0.5));
    active--;
    printf("download %2ld done\n", id);
    cio_semaphore_release(slots);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    slots = cio_semaphore_new(LIMIT);
    cio_future *ts[NURLS];
    for (long i = 0; i < NURLS; i++)
        ts[i] = cio_create_task(download, (void *)i);
    cio_gather(ts, NURLS, 0);
    for (int i = 0; i < NURLS; i++)
        cio_future_unref(ts[i]);
    printf("all %d downloads done, never more than %d at once\n", NURLS, LIMIT);
    cio_semaphore_free(slots);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
