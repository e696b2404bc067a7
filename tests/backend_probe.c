/* Whether a backend can start here: `backend_probe io_uring` prints the
 * backend's name and exits 0, or says why not and exits 1. The test runs of
 * `make check` use it to skip a backend this host cannot run. */
#include <cio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    cio_options opt = {0};
    if (argc != 2 || (strcmp(argv[1], "io_uring") && strcmp(argv[1], "epoll"))) {
        fprintf(stderr, "usage: backend_probe io_uring|epoll\n");
        return 2;
    }
    opt.backend = strcmp(argv[1], "epoll") ? CIO_BACKEND_IO_URING : CIO_BACKEND_EPOLL;
    cio_loop *loop = cio_loop_new(&opt);
    if (!loop) {
        printf("%s cannot start here: %s (run with CIO_DEBUG=1 for the reason)\n", argv[1],
               strerror(errno));
        return 1;
    }
    printf("%s\n", cio_loop_backend_name(loop));
    return cio_loop_close(loop) != 0;
}
