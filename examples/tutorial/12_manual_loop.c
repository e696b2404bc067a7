/* The loop by hand, as before asyncio.run existed:
 *
 *     async def func():
 *         print("func runs on the loop")
 *         await asyncio.sleep(1)
 *         return "func's result"
 *     loop = asyncio.new_event_loop()
 *     result = loop.run_until_complete(func())
 *     loop.close()
 *     print(result)
 */
#include "tutorial.h"

#include <cio.h>
#include <errno.h>

static void *func(void *arg) {
    (void)arg;
    printf("func runs on the loop\n");
    int r = cio_sleep(S(1));
    return r < 0 ? cio_fail(r) : "func's result";
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    cio_loop *loop = cio_loop_new(NULL); /* asyncio.new_event_loop() */
    if (!loop)
        return tutorial_exit(-errno);
    cio_future *task = cio_loop_create_task(loop, func, NULL);
    if (!task) {
        int err = -errno;
        cio_loop_close(loop);
        return tutorial_exit(err);
    }
    int r = cio_loop_run_until_complete(loop, task);
    void *result = NULL;
    if (r == 0)
        cio_future_result(task, &result);
    cio_future_unref(task);
    cio_loop_close(loop);
    if (r == 0)
        printf("%s\n", (const char *)result);
    return tutorial_exit(r);
}
