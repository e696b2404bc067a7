/* Unix-domain stream sockets with the stream API: connections, servers
 * (the TCP server's accept loop, over a socket listening on a path), the
 * abstract namespace ("@name"), stale socket files, and descriptor passing
 * (SCM_RIGHTS) on a raw socket. */
#include "stream.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum { BACKLOG = 4096, MAX_FDS = 253 /* SCM_MAX_FD */ };

/* "@name" is the abstract name "\0name"; anything else a file path. */
static int unix_addr(const char *path, struct sockaddr_un *sun, socklen_t *len) {
    if (!path || !*path)
        return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof sun->sun_path)
        return -ENAMETOOLONG;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    if (path[0] == '@')
        sun->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@'));
    return 0;
}

cio_stream *cio_open_unix_connection(const char *path) {
    struct sockaddr_un sun;
    socklen_t len;
    int r = cio__task_require(__func__);
    if (r == 0)
        r = unix_addr(path, &sun, &len);
    int fd = r < 0 ? r : cio_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0) {
        r = cio_connect(fd, (struct sockaddr *)&sun, len);
        if (r < 0)
            close(fd);
    }
    if (fd < 0 || r < 0) {
        errno = -(fd < 0 ? fd : r);
        return NULL;
    }
    return cio__stream_adopt(fd, false);
}

/* The path is taken: remove it if it is a socket nobody listens on (a server
 * that died without cleaning up), never a live socket or another file. */
static int clear_stale(const char *path, const struct sockaddr_un *sun, socklen_t len) {
    struct stat st;
    if (path[0] == '@' || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return -EADDRINUSE;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return -errno;
    int r = connect(probe, (const struct sockaddr *)sun, len) < 0 ? -errno : 0;
    close(probe);
    if (r != -ECONNREFUSED)
        return -EADDRINUSE; /* alive (or it would block: a full backlog is alive too) */
    return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

static int unix_listen(const char *path) {
    struct sockaddr_un sun;
    socklen_t len;
    int r = unix_addr(path, &sun, &len);
    if (r < 0)
        return r;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    r = bind(fd, (struct sockaddr *)&sun, len) < 0 ? -errno : 0;
    if (r == -EADDRINUSE && (r = clear_stale(path, &sun, len)) == 0)
        r = bind(fd, (struct sockaddr *)&sun, len) < 0 ? -errno : 0;
    if (r == 0 && listen(fd, BACKLOG) < 0)
        r = -errno;
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

cio_server *cio_start_unix_server(const char *path, cio_stream_handler handler, void *arg) {
    int fd = !cio_get_running_loop() ? -EPERM : !handler ? -EINVAL : unix_listen(path);
    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    return cio__server_adopt(fd, handler, arg);
}

ssize_t cio_unix_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds) {
    if (sock < 0 || !len || !buf || nfds > MAX_FDS || (nfds && !fds))
        return -EINVAL;
    struct iovec iov = {(void *)buf, len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    char *ctl = NULL;
    if (nfds) {
        size_t space = CMSG_SPACE(nfds * sizeof(int));
        ctl = calloc(1, space);
        if (!ctl)
            return -ENOMEM;
        msg.msg_control = ctl;
        msg.msg_controllen = space;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ssize_t r = cio_sendmsg(sock, &msg, 0);
    free(ctl);
    return r;
}

/* Keeps what fits in fds; closes the rest, so none leaks. */
static size_t take_fds(struct msghdr *msg, int *fds, size_t cap) {
    size_t n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (n < cap)
                fds[n++] = fd;
            else
                close(fd);
        }
    }
    return n;
}

ssize_t cio_unix_recv_fds(int sock, void *buf, size_t len, int *fds, size_t *nfds) {
    if (sock < 0 || !buf || !len || !nfds || (*nfds && !fds) || *nfds > MAX_FDS)
        return -EINVAL;
    size_t space = CMSG_SPACE(MAX_FDS * sizeof(int));
    char *ctl = calloc(1, space);
    if (!ctl)
        return -ENOMEM;
    struct iovec iov = {buf, len};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = space};
    ssize_t r = cio_recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    size_t got = r >= 0 ? take_fds(&msg, fds, *nfds) : 0;
    free(ctl);
    if (r >= 0 && (msg.msg_flags & MSG_CTRUNC) && got == 0)
        r = -EMSGSIZE;
    *nfds = got;
    return r;
}
