/* Sockets on io_uring. Sends never raise SIGPIPE (MSG_NOSIGNAL); a
 * cancelled recv returns -ECANCELED only if the kernel dropped the request
 * before taking any data, otherwise the data is delivered. */
#include "loop.h"
#include "task.h"

#include <errno.h>
#include <liburing.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int cio_socket(int domain, int type, int protocol) {
    /* A socket is created at once by the kernel: no reason to suspend. */
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

int cio_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (!addr)
        return -EINVAL;
    CIO__IO_BEGIN(sqe);
    io_uring_prep_connect(sqe, fd, addr, len);
    return CIO__IO_END(sqe);
}

int cio_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_accept(sqe, fd, addr, len, SOCK_CLOEXEC);
    return CIO__IO_END(sqe);
}

ssize_t cio_recv(int fd, void *buf, size_t len, int flags) {
    if (len > UINT32_MAX)
        len = UINT32_MAX;
    CIO__IO_BEGIN(sqe);
    io_uring_prep_recv(sqe, fd, buf, len, flags);
    return CIO__IO_END(sqe);
}

ssize_t cio_send(int fd, const void *buf, size_t len, int flags) {
    if (len > UINT32_MAX)
        len = UINT32_MAX;
    CIO__IO_BEGIN(sqe);
    io_uring_prep_send(sqe, fd, buf, len, flags | MSG_NOSIGNAL);
    return CIO__IO_END(sqe);
}

ssize_t cio_send_all(int fd, const void *buf, size_t len, int flags) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = cio_send(fd, (const char *)buf + done, len - done, flags);
        if (n < 0)
            return done ? (ssize_t)done : n; /* what went out is not lost to the caller */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t cio_recvmsg(int fd, struct msghdr *msg, int flags) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_recvmsg(sqe, fd, msg, (unsigned)flags);
    return CIO__IO_END(sqe);
}

ssize_t cio_sendmsg(int fd, const struct msghdr *msg, int flags) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags | MSG_NOSIGNAL);
    return CIO__IO_END(sqe);
}

int cio_shutdown(int fd, int how) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_shutdown(sqe, fd, how);
    return CIO__IO_END(sqe);
}

/* ---- readiness ---- */

int cio_poll(int fd, int events, double timeout) {
    cio__task *t = cio__task_current();
    CIO__IO_BEGIN(sqe);
    io_uring_prep_poll_add(sqe, fd, (unsigned)events);
    sqe->user_data = keep_sqe;
    struct __kernel_timespec ts;
    if (timeout >= 0) {
        /* A linked timeout: the kernel ends the poll at the deadline. */
        struct io_uring_sqe *lt = cio__uring_sqe(t->fut.loop->ring, NULL);
        if (lt) {
            sqe->flags |= IOSQE_IO_LINK;
            ts.tv_sec = (long long)timeout;
            ts.tv_nsec = (long long)((timeout - (double)ts.tv_sec) * 1e9);
            io_uring_prep_link_timeout(lt, &ts, 0);
            lt->user_data = 0;
        }
    }
    int asked = t->cancel_requests;
    int r = cio__io_wait(NULL);
    if (r == -ECANCELED && t->cancel_requests == asked)
        return 0; /* the deadline passed, nobody cancelled us */
    return r;
}

/* ---- name resolution, in the default executor as asyncio does ---- */

typedef struct gai_job {
    char *host, *service;
    struct addrinfo hints;
    bool has_hints;
    struct addrinfo *res;
    int err, sys_errno;
} gai_job;

static void *gai_run(void *arg) {
    gai_job *j = arg;
    j->err = getaddrinfo(j->host, j->service, j->has_hints ? &j->hints : NULL, &j->res);
    j->sys_errno = errno;
    return NULL;
}

static void gai_free(gai_job *j) {
    free(j->host);
    free(j->service);
    free(j);
}

/* A caller that was cancelled left the job to the thread: clean up after it. */
static void gai_orphaned(cio_future *f, void *arg) {
    (void)f;
    gai_job *j = arg;
    if (j->res)
        freeaddrinfo(j->res);
    gai_free(j);
}

int cio_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                    struct addrinfo **res) {
    if (!res)
        return -EINVAL;
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    gai_job *j = calloc(1, sizeof *j);
    if (!j || (host && !(j->host = strdup(host))) || (service && !(j->service = strdup(service)))) {
        if (j)
            gai_free(j);
        return -ENOMEM;
    }
    if (hints) {
        j->hints = *hints;
        j->has_hints = true;
    }
    cio_future *f = cio_run_in_executor(NULL, gai_run, j);
    if (!f) {
        gai_free(j);
        return -errno;
    }
    /* Shielded: cancelling the caller must not orphan a job the thread writes. */
    cio_future *shield = cio_shield(f);
    if (!shield) {
        if (cio_future_add_done_callback(f, gai_orphaned, j) < 0)
            cio_await(f, NULL), gai_orphaned(f, j);
        cio_future_unref(f);
        return -ENOMEM;
    }
    r = cio_await(shield, NULL);
    cio_future_unref(shield);
    if (r == 0) {
        *res = j->res;
        r = j->err == 0 ? 0 : j->err == EAI_SYSTEM ? -j->sys_errno : CIO_EGAI + j->err;
        gai_free(j);
    } else if (cio_future_done(f)) {
        gai_orphaned(f, j);
    } else if (cio_future_add_done_callback(f, gai_orphaned, j) < 0) {
        cio_await(f, NULL); /* no memory for the callback: wait it out instead */
        gai_orphaned(f, j);
    }
    cio_future_unref(f);
    return r;
}
