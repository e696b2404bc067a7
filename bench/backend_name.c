/* Prints the name of the backend a cio loop runs on in this environment
 * (CIO_BACKEND=io_uring|epoll|auto), for bench/run.sh's table header. */
#include "bench.h"

#include <cio.h>

int main(void) {
    cio_loop *loop = cio_loop_new(NULL);
    if (!loop) {
        printf("none (no loop could start)\n");
        return 1;
    }
    printf("%s\n", cio_loop_backend_name(loop));
    cio_loop_close(loop);
    return 0;
}
