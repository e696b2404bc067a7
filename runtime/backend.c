/* Choosing the loop's backend: what the options ask for, else the
 * environment (CIO_BACKEND), else io_uring when it works here, else epoll. */
#include "backend.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static cio_backend from_env(const char **why) {
    const char *e = getenv("CIO_BACKEND");
    if (!e || !*e || !strcmp(e, "auto"))
        return CIO_BACKEND_AUTO;
    if (!strcmp(e, "io_uring") || !strcmp(e, "uring"))
        return CIO_BACKEND_IO_URING;
    if (!strcmp(e, "epoll"))
        return CIO_BACKEND_EPOLL;
    *why = "CIO_BACKEND is not io_uring, epoll or auto: ignored";
    return CIO_BACKEND_AUTO;
}

/* Valgrind serialises threads on one lock that a thread blocked in
 * io_uring_enter keeps: other threads (pools, SIGTERM's) would never run. */
static bool under_valgrind(void) {
    const char *pre = getenv("LD_PRELOAD");
    return pre && strstr(pre, "vgpreload");
}

cio__backend *cio__backend_new(cio_backend kind, unsigned entries, const char **why) {
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (kind == CIO_BACKEND_AUTO) {
        kind = from_env(why);
        if (kind != CIO_BACKEND_AUTO)
            *why = "chosen by CIO_BACKEND";
    }
    switch (kind) {
    case CIO_BACKEND_IO_URING:
        return cio__backend_uring_new(entries, why);
    case CIO_BACKEND_EPOLL:
        return cio__backend_epoll_new(entries, why);
    case CIO_BACKEND_AUTO:
        break;
    default:
        *why = "unknown cio_options.backend";
        errno = EINVAL;
        return NULL;
    }
    if (under_valgrind()) {
        *why = "under Valgrind, which cannot run other threads while one waits in io_uring_enter";
        return cio__backend_epoll_new(entries, why);
    }
    const char *uring_why = NULL;
    cio__backend *b = cio__backend_uring_new(entries, &uring_why);
    if (b)
        return b;
    b = cio__backend_epoll_new(entries, why);
    if (b)
        *why = uring_why; /* why not io_uring: debug mode says so */
    return b;
}
