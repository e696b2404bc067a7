/* Sockets. Sends never raise SIGPIPE (MSG_NOSIGNAL); a
 * cancelled recv returns -ECANCELED only if the kernel dropped the request
 * before taking any data, otherwise the data is delivered.
 *
 * A socket another library made non-blocking may answer -EAGAIN (kernels that
 * honour O_NONBLOCK inside io_uring do); the calls then wait for readiness
 * and try again, unless the caller asked for MSG_DONTWAIT. */
#include "acceptor.h"
#include "loop.h"
#include "task.h"

#include <errno.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/socket.h>

/* Whether to wait for events on fd and repeat a call that gave r. */
static bool again(int fd, ssize_t r, int events, int flags) {
    return r == -EAGAIN && !(flags & MSG_DONTWAIT) && cio_poll(fd, events, -1) > 0;
}

int cio_socket(int domain, int type, int protocol) {
    /* A socket is created at once by the kernel: no reason to suspend. */
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

int cio_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (!addr)
        return -EINVAL;
    return cio__io(&(cio__req){.op = CIO__OP_CONNECT, .fd = fd, .addr = (void *)addr, .len = len});
}

static int accept_once(int fd, struct sockaddr *addr, socklen_t *len) {
    return cio__io(&(cio__req){.op = CIO__OP_ACCEPT, .fd = fd, .addr = addr, .addr2 = len});
}

int cio_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    if (addr && !len)
        return -EINVAL;
    int r;
    while (again(fd, r = accept_once(fd, addr, len), POLLIN, 0))
        ;
    return r;
}

static ssize_t recv_once(int fd, void *buf, size_t len, int flags) {
    return cio__io(
        &(cio__req){.op = CIO__OP_RECV, .fd = fd, .addr = buf, .len = (uint32_t)len, .arg = flags});
}

ssize_t cio_recv(int fd, void *buf, size_t len, int flags) {
    if (len > INT32_MAX)
        len = INT32_MAX; /* the CQE's result is an int: a short read instead */
    ssize_t r;
    while (again(fd, r = recv_once(fd, buf, len, flags), POLLIN, flags))
        ;
    return r;
}

static ssize_t send_once(int fd, const void *buf, size_t len, int flags) {
    return cio__io(&(cio__req){.op = CIO__OP_SEND,
                               .fd = fd,
                               .addr = (void *)buf,
                               .len = (uint32_t)len,
                               .arg = flags | MSG_NOSIGNAL});
}

ssize_t cio_send(int fd, const void *buf, size_t len, int flags) {
    if (len > INT32_MAX)
        len = INT32_MAX;
    ssize_t r;
    while (again(fd, r = send_once(fd, buf, len, flags), POLLOUT, flags))
        ;
    return r;
}

ssize_t cio_send_all(int fd, const void *buf, size_t len, int flags) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = cio_send(fd, (const char *)buf + done, len - done, flags);
        if (n < 0)
            return done ? (ssize_t)done : n; /* what went out is not lost to the caller */
        if (n == 0)
            return done ? (ssize_t)done : -EIO; /* a socket that takes nothing: do not spin */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static ssize_t recvmsg_once(int fd, struct msghdr *msg, int flags) {
    return cio__io(&(cio__req){.op = CIO__OP_RECVMSG, .fd = fd, .addr = msg, .arg = flags});
}

ssize_t cio_recvmsg(int fd, struct msghdr *msg, int flags) {
    if (!msg)
        return -EINVAL;
    ssize_t r;
    while (again(fd, r = recvmsg_once(fd, msg, flags), POLLIN, flags))
        ;
    return r;
}

static ssize_t sendmsg_once(int fd, const struct msghdr *msg, int flags) {
    return cio__io(&(cio__req){
        .op = CIO__OP_SENDMSG, .fd = fd, .addr = (void *)msg, .arg = flags | MSG_NOSIGNAL});
}

ssize_t cio_sendmsg(int fd, const struct msghdr *msg, int flags) {
    if (!msg)
        return -EINVAL;
    ssize_t r;
    while (again(fd, r = sendmsg_once(fd, msg, flags), POLLOUT, flags))
        ;
    return r;
}

int cio_shutdown(int fd, int how) {
    return cio__io(&(cio__req){.op = CIO__OP_SHUTDOWN, .fd = fd, .arg = how});
}

/* ---- multishot accept for accept loops (see acceptor.c) ---- */

struct cio_acceptor {
    cio__acceptor *impl;
    bool busy;  /* a task is waiting in accept: the ring has one waiter slot */
    bool freed; /* freed while a task waited: the waiter lets it go */
};

cio_acceptor *cio_acceptor_new(int fd) {
    cio_loop *loop = cio__loop_running();
    if (!loop || fd < 0) {
        errno = loop ? EINVAL : EPERM;
        return NULL;
    }
    cio_acceptor *a = calloc(1, sizeof *a);
    if (a && !(a->impl = cio__acceptor_new(loop, fd))) {
        free(a);
        a = NULL;
    }
    if (!a)
        errno = ENOMEM;
    return a;
}

int cio_acceptor_accept(cio_acceptor *a) {
    if (!a)
        return -EINVAL;
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    if (a->busy)
        return -EBUSY;
    a->busy = true;
    r = cio__acceptor_next(a->impl);
    a->busy = false;
    if (a->freed) {
        free(a);
        return CIO_ESHUTDOWN;
    }
    return r;
}

void cio_acceptor_free(cio_acceptor *a) {
    if (!a)
        return;
    cio__acceptor_free(a->impl); /* wakes a waiting task with CIO_ESHUTDOWN */
    if (a->busy)
        a->freed = true;
    else
        free(a);
}
