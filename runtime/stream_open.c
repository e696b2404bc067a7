/* cio_open_connection: resolve (resolve.c), then connect to the first
 * address that accepts. */
#include "stream.h"

#include <errno.h>
#include <unistd.h>

/* Tries each address in turn, as asyncio does; the last error wins. */
static int connect_any(struct addrinfo *ai) {
    int err = -EHOSTUNREACH;
    for (; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        err = cio_connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (err == 0)
            return fd;
        close(fd);
        if (err == -ECANCELED)
            break;
    }
    return err;
}

cio_stream *cio_open_connection(const char *host, unsigned port) {
    int r = cio__task_require(__func__);
    struct addrinfo *res = NULL;
    if (r == 0)
        r = cio__resolve(host, port, false, &res);
    if (r == 0) {
        r = connect_any(res);
        freeaddrinfo(res);
    }
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    return cio__stream_adopt(r, false);
}
