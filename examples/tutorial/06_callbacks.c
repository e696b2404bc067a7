/* Plain callbacks on the loop: call_soon runs them in order at the next
 * iteration, call_later after a delay; a handle cancels one before it runs. */
#include "tutorial.h"

#include <cio.h>

static double t0;

static void say(void *arg) {
    printf("%-28s at %.2f s\n", (const char *)arg, cio_loop_time(cio_get_running_loop()) - t0);
}

static void *main_task(void *arg) {
    (void)arg;
    t0 = cio_loop_time(cio_get_running_loop());
    cio_call_later(S(2), say, "call_later(2)");
    cio_call_later(S(1), say, "call_later(1)");
    cio_handle h = cio_call_later(S(1.5), say, "cancelled: never printed");
    cio_call_soon(say, "call_soon first");
    cio_call_soon(say, "call_soon second");
    printf("cancel the 1.5 s callback: %s\n", cio_handle_cancel(h) ? "yes" : "no");
    cio_sleep(S(2.5));
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
