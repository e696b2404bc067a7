/* Prints the name of the backend a cio loop runs on in this environment
 * (CIO_BACKEND=io_uring|epoll|auto), for bench/run.sh's table header.
 *
 * cio_loop_backend_name (DESIGN.md, "Two backends behind one kernel
 * boundary") is declared weak here, so that this program also builds
 * against a libcio that predates the backend seam: then it says so instead
 * of naming a backend it cannot ask about. */
#include "bench.h"

#include <cio.h>

const char *cio_loop_backend_name(const cio_loop *loop) __attribute__((weak));

int main(void) {
    cio_loop *loop = cio_loop_new(NULL);
    if (!loop) {
        printf("none (no loop could start)\n");
        return 1;
    }
    if (cio_loop_backend_name)
        printf("%s\n", cio_loop_backend_name(loop));
    else
        printf("io_uring (this libcio has no backend seam: CIO_BACKEND is ignored)\n");
    cio_loop_close(loop);
    return 0;
}
