/* asyncio.run returns what main returns:
 *
 *     async def main():
 *         await asyncio.sleep(1)
 *         return 42
 *     print(asyncio.run(main()))
 */
#include "tutorial.h"

#include <cio.h>
#include <stdint.h>

static void *main_task(void *arg) {
    (void)arg;
    int r = cio_sleep(S(1));
    return r < 0 ? cio_fail(r) : (void *)(intptr_t)42;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    void *result;
    int r = cio_run(main_task, NULL, &result);
    if (r == 0)
        printf("%d\n", (int)(intptr_t)result);
    return tutorial_exit(r);
}
