/* sendfile from a file to a socket in a task: the kernel copies page-cache
 * pages to the socket without a trip through user space; when the socket's
 * buffer is full the task waits for POLLOUT through the loop (cio_poll), so
 * this works the same on either backend. */
#include "cio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <time.h>

enum { MAX_CALL = 1 << 30 };

/* sendfile has no MSG_NOSIGNAL: a peer that has gone would raise SIGPIPE.
 * Block it around the call and swallow the one the call raised (never one
 * that was pending before), as the other I/O calls never raise it either. */
static ssize_t sendfile_nosigpipe(int out_fd, int in_fd, off_t *offset, size_t count) {
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    ssize_t n = sendfile(out_fd, in_fd, offset, count);
    int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

ssize_t cio_sendfile(int out_fd, int in_fd, off_t offset, size_t count) {
    if (out_fd < 0 || in_fd < 0)
        return -EBADF;
    if (offset < 0)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    int fl = fcntl(out_fd, F_GETFL);
    if (fl < 0)
        return -errno;
    /* A blocking socket would block the whole loop once its buffer fills. */
    if (!(fl & O_NONBLOCK) && fcntl(out_fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    size_t sent = 0;
    while (sent < count) {
        size_t want = count - sent < MAX_CALL ? count - sent : MAX_CALL;
        ssize_t n = sendfile_nosigpipe(out_fd, in_fd, &offset, want);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n == 0)
            break; /* end of the file */
        int r = -errno;
        if (r == -EAGAIN)
            r = cio_poll(out_fd, POLLOUT, -1);
        else if (r == -EINTR)
            r = 0;
        if (r < 0)
            return sent ? (ssize_t)sent : r;
    }
    return (ssize_t)sent;
}
