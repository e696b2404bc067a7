/* The epoll backend's attempts: each operation as the plain non-blocking
 * syscall (MSG_DONTWAIT, RWF_NOWAIT), saying whether it would block and in
 * which direction, or that it needs a thread. */
#include "backend_epoll.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* What poll(2) says of fd now (0: nothing of events). */
static int poll_now(int fd, int events) {
    struct pollfd p = {.fd = fd, .events = (short)events};
    if (poll(&p, 1, 0) < 0)
        return -errno;
    return p.revents & POLLNVAL ? -EBADF : p.revents;
}

static int nonblocking(cio__ep_fd *f, int fd) {
    if (f->nonblock == EP_UNKNOWN) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return -errno;
        f->nonblock = (fl & O_NONBLOCK) != 0;
    }
    return f->nonblock;
}

/* An fd without RWF_NOWAIT support (a tty, inotify): a plain read or write
 * once poll(2) says it will not block. A file (procfs, some file systems)
 * goes to a thread: poll(2) says "ready" of files that can still block. */
static long rw_plain(cio__ep_fd *f, cio__req *r, const struct iovec *iov, int n, bool rd,
                     bool *pool) {
    struct stat st;
    if (fstat(r->fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
        *pool = true;
        return -EAGAIN;
    }
    int nb = f ? nonblocking(f, r->fd) : 0;
    if (nb < 0)
        return nb;
    if (!nb) {
        int ev = poll_now(r->fd, rd ? POLLIN : POLLOUT);
        if (ev < 0)
            return ev;
        if (!ev)
            return -EAGAIN;
    }
    long k;
    if (r->off == CIO__OFF_CUR)
        k = rd ? readv(r->fd, iov, n) : writev(r->fd, iov, n);
    else
        k = rd ? preadv(r->fd, iov, n, (off_t)r->off) : pwritev(r->fd, iov, n, (off_t)r->off);
    return k < 0 ? -errno : k;
}

static long try_rw(cio__ep_fd *f, cio__req *r, bool *pool) {
    bool rd = r->op == CIO__OP_READ || r->op == CIO__OP_READV;
    bool vec = r->op == CIO__OP_READV || r->op == CIO__OP_WRITEV;
    struct iovec one = {r->addr, r->len};
    const struct iovec *iov = vec ? r->addr : &one;
    int n = vec ? (int)r->len : 1;
    off_t off = r->off == CIO__OFF_CUR ? -1 : (off_t)r->off;
    long k =
        rd ? preadv2(r->fd, iov, n, off, RWF_NOWAIT) : pwritev2(r->fd, iov, n, off, RWF_NOWAIT);
    if (k >= 0)
        return k;
    if (errno == EOPNOTSUPP || errno == EINVAL) /* no RWF_NOWAIT here (a directory says EINVAL) */
        return rw_plain(f, r, iov, n, rd, pool);
    return -errno;
}

static int try_accept(cio__ep_fd *f, cio__req *r) {
    int nb = f ? nonblocking(f, r->fd) : 0;
    if (nb < 0)
        return nb;
    /* accept(2) has no per-call MSG_DONTWAIT: a blocking listener is asked
     * only once poll(2) says a connection waits. */
    if (!nb) {
        int ev = poll_now(r->fd, POLLIN);
        if (ev <= 0)
            return ev < 0 ? ev : -EAGAIN;
    }
    int fd = accept4(r->fd, r->addr, r->addr2, SOCK_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* connect(2) on a blocking socket would block the loop: it is made
 * non-blocking for the call only, then waited for with EPOLLOUT. */
static int try_connect(cio__req *r) {
    if (r->bstate & EP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        return -err;
    }
    int fl = fcntl(r->fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK))
        fcntl(r->fd, F_SETFL, fl | O_NONBLOCK);
    int k = connect(r->fd, r->addr, r->len);
    int err = k < 0 ? errno : 0;
    if (!(fl & O_NONBLOCK))
        fcntl(r->fd, F_SETFL, fl);
    if (err == EINPROGRESS) {
        r->bstate |= EP_CONNECTING;
        return -EAGAIN;
    }
    return -err;
}

/* Events epoll reported (woken requests) save a poll(2). */
static int poll_try(cio__req *r) {
    unsigned want = r->len | POLLERR | POLLHUP;
    int ev =
        r->bstate & EP_HAVE_EVENTS ? (int)((unsigned)r->bres & want) : poll_now(r->fd, (int)r->len);
    r->bstate &= ~EP_HAVE_EVENTS;
    return ev == 0 ? -EAGAIN : ev;
}

static int poll_dir(unsigned events) {
    int dir =
        (events & (POLLIN | POLLPRI | POLLRDHUP) ? EP_IN : 0) | (events & POLLOUT ? EP_OUT : 0);
    return dir ? dir : EP_IN | EP_OUT;
}

long cio__ep_try(cio__ep_fd *f, cio__req *r, int *dir, bool *pool) {
    long k;
    *dir = EP_IN;
    *pool = false;
    switch (r->op) {
    case CIO__OP_NOP:
        return 0;
    case CIO__OP_READ:
    case CIO__OP_READV:
        return try_rw(f, r, pool);
    case CIO__OP_WRITE:
    case CIO__OP_WRITEV:
        *dir = EP_OUT;
        return try_rw(f, r, pool);
    case CIO__OP_RECV:
        k = recv(r->fd, r->addr, r->len, r->arg | MSG_DONTWAIT);
        break;
    case CIO__OP_RECVMSG:
        k = recvmsg(r->fd, r->addr, r->arg | MSG_DONTWAIT);
        break;
    case CIO__OP_SEND:
        *dir = EP_OUT;
        if (r->bstate & EP_FIRST_WAIT) {
            r->bstate &= ~EP_FIRST_WAIT;
            return -EAGAIN;
        }
        k = send(r->fd, r->addr, r->len, r->arg | MSG_DONTWAIT);
        break;
    case CIO__OP_SENDMSG:
        *dir = EP_OUT;
        k = sendmsg(r->fd, r->addr, r->arg | MSG_DONTWAIT);
        break;
    case CIO__OP_ACCEPT:
        return try_accept(f, r);
    case CIO__OP_CONNECT:
        *dir = EP_OUT;
        return try_connect(r);
    case CIO__OP_SHUTDOWN:
        return shutdown(r->fd, r->arg) < 0 ? -errno : 0;
    case CIO__OP_POLL:
        *dir = poll_dir(r->len);
        return poll_try(r);
    case CIO__OP_CLOSE:
        return close(r->fd) < 0 ? -errno : 0;
    default: /* open, stat, fsync, unlink, rename, mkdir: epoll cannot wait for them */
        *pool = true;
        return -EAGAIN;
    }
    if (k < 0 && errno == EAGAIN && (r->arg & MSG_DONTWAIT))
        *dir = 0;
    return k < 0 ? -errno : k;
}
