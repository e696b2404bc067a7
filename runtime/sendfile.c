/* sendfile from a file to a socket in a task: the kernel copies page-cache
 * pages to the socket without a trip through user space; when the socket's
 * buffer is full the task waits for POLLOUT through the loop (cio_poll), so
 * this works the same on either backend. */
#include "cio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>

enum { MAX_CALL = 1 << 30 };

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
        ssize_t n = sendfile(out_fd, in_fd, &offset, want);
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
