/* asyncio.to_thread: a blocking call runs on a worker thread while the loop
 * goes on (here a 1 s sleep of the loop's own runs beside it, so the whole
 * takes about 1 s, not 2):
 *
 *     def blocking_io():
 *         print("start blocking_io")
 *         time.sleep(1)
 *         print("blocking_io complete")
 *     async def main():
 *         print("started main")
 *         await asyncio.gather(asyncio.to_thread(blocking_io), asyncio.sleep(1))
 *         print("finished main")
 */
#include "tutorial.h"

#include <cio.h>
#include <errno.h>
#include <time.h>

static void *blocking_io(void *arg) {
    (void)arg;
    printf("start blocking_io\n");
    double s = S(1);
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL); /* blocks this thread, not the loop */
    printf("blocking_io complete\n");
    return NULL;
}

static void *loop_sleep(void *arg) {
    (void)arg;
    int r = cio_sleep(S(1));
    return r < 0 ? cio_fail(r) : NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    printf("started main\n");
    cio_future *nap = cio_create_task(loop_sleep, NULL);
    if (!nap)
        return cio_fail(-errno);
    int r = cio_to_thread(blocking_io, NULL, NULL);
    int r2 = cio_await(nap, NULL);
    cio_future_unref(nap);
    if (r < 0 || r2 < 0)
        return cio_fail(r < 0 ? r : r2);
    printf("finished main\n");
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
