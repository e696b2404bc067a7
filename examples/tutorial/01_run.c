/* The smallest program: run one coroutine to completion (asyncio.run). */
#include "tutorial.h"

#include <cio.h>

static void *hello(void *arg) {
    (void)arg;
    printf("Hello ...\n");
    cio_sleep(S(1));
    printf("... World!\n");
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(hello, NULL, NULL));
}
