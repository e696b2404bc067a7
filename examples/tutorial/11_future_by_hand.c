/* A Future created and completed by hand (loop.create_future):
 *
 *     async def set_after(fut, delay, value):
 *         await asyncio.sleep(delay)
 *         fut.set_result(value)
 *     async def main():
 *         fut = asyncio.get_running_loop().create_future()
 *         asyncio.create_task(set_after(fut, 1, "... world"))
 *         print("hello ...")
 *         print(await fut)
 */
#include "tutorial.h"

#include <cio.h>
#include <errno.h>

static void *set_after(void *arg) {
    cio_future *fut = arg;
    int r = cio_sleep(S(1));
    if (r < 0)
        return cio_fail(r);
    cio_future_set_result(fut, "... world");
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    cio_future *fut = cio_future_new();
    if (!fut)
        return cio_fail(-errno);
    cio_future *setter = cio_create_task(set_after, fut);
    printf("hello ...\n");
    void *value;
    int r = cio_await(fut, &value);
    if (r == 0)
        printf("%s\n", (const char *)value);
    cio_await(setter, NULL);
    cio_future_unref(setter);
    cio_future_unref(fut);
    return r < 0 ? cio_fail(r) : NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
