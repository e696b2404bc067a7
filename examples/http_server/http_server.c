/* A static-file HTTP/1.1 server on cio: serves the regular files of one
 * directory.
 *
 *   http_server [-b ADDRESS] [-p PORT] DIR    (defaults: every interface, 8080;
 *                                              -p 0 picks a free port)
 *
 * It prints "http_server: serving DIR on http://ADDRESS:PORT/" once it
 * listens, then serves until Ctrl-C. GET and HEAD, keep-alive (HTTP/1.1's
 * default, HTTP/1.0's on request) with pipelining, one byte range (Range:
 * bytes=a-b, a-, -n; 206 or 416), If-Modified-Since (304), Last-Modified,
 * Content-Type by extension; 400, 403, 404, 405, 413, 431, 501, 503, 505
 * with a short text body. A directory serves its index.html. A connection
 * quiet for 60 s (or whose client takes nothing for 60 s) is closed.
 *
 * One task per connection, as cio_start_server runs them. The request head
 * is read with cio_stream_readuntil into a buffer on the task's stack; the
 * response goes out on the socket itself: the head with send(MSG_MORE), the
 * body with sendfile(2), both non-blocking, waiting with cio_poll(POLLOUT)
 * when the socket is full. Nothing is allocated per request. The file is
 * opened with openat2(RESOLVE_BENEATH), so neither ".." nor a symlink can
 * reach outside DIR; open and fstat are plain system calls, as in nginx: on a
 * cached path they cost less than a trip through the loop. */
/* Linux and GNU calls (O_PATH, strcasestr, strptime) are declared also in a
 * build without the project's -D_GNU_SOURCE. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "request.h"
#include "response.h"

#include <cio.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HEAD_MAX 8192              /* the longest request head */
#define BODY_DISCARD_MAX (1 << 20) /* request bodies (ignored) up to this are read and dropped */
#define IDLE_TIMEOUT 60.0          /* seconds a connection may stay quiet (or a send stall) */
#define LINGER 1.0                 /* seconds to drop a client's input after a final error */

typedef struct site {
    int root; /* the served directory, O_PATH */
} site;

/* path (relative) beneath dir; -errno on failure. */
static int open_beneath(int dir, const char *path) {
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof how);
    return fd < 0 ? -errno : fd;
}

static int status_of_errno(int err) {
    switch (err) {
    case -ENOENT:
    case -ENOTDIR:
    case -ELOOP:
        return 404;
    case -EACCES:
    case -EPERM:
    case -EXDEV: /* RESOLVE_BENEATH: the path leads outside the directory */
        return 403;
    case -ENAMETOOLONG:
        return 414;
    case -EMFILE:
    case -ENFILE:
    case -ENOMEM:
        return 503;
    default:
        return 500;
    }
}

/* The file a path names: a regular file, or a directory's index.html
 * (*is_index). Returns the fd with *st filled, or -(HTTP status). */
static int open_file(const site *w, const char *path, struct stat *st, bool *is_index) {
    int fd = open_beneath(w->root, path[1] ? path + 1 : ".");
    if (fd < 0)
        return -status_of_errno(fd);
    if (fstat(fd, st) < 0) {
        close(fd);
        return -500;
    }
    if (S_ISDIR(st->st_mode)) {
        int index = open_beneath(fd, "index.html");
        close(fd);
        if (index < 0)
            return -status_of_errno(index);
        fd = index;
        *is_index = true;
        if (fstat(fd, st) < 0) {
            close(fd);
            return -500;
        }
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return -404;
    }
    return fd;
}

/* GET or HEAD of a file: 200, 206, 304 or 416. */
static int send_file(int sock, int fd, const struct stat *st, const hs_request *req,
                     bool is_index) {
    hs_reply r = {.status = 200,
                  .keep_alive = req->keep_alive,
                  .http10 = req->minor == 0,
                  .length = st->st_size,
                  .type = is_index ? "text/html" : hs_content_type(req->path),
                  .mtime = st->st_mtime,
                  .size = st->st_size};
    bool body = req->method == HS_GET;
    /* A date in the future is not a valid If-Modified-Since (RFC 9110, 13.1.3). */
    if (req->if_modified_since >= 0 && req->if_modified_since <= time(NULL) &&
        st->st_mtime <= req->if_modified_since) {
        r.status = 304;
        body = false;
    } else if (req->range) {
        int k = hs_parse_range(req->range, st->st_size, &r.first, &r.last);
        if (k < 0)
            return hs_send_error(sock, 416, req->keep_alive, req->minor == 0,
                                 req->method == HS_HEAD, st->st_size);
        if (k > 0) {
            r.status = 206;
            r.length = r.last - r.first + 1;
        }
    }
    char head[1024];
    int n = hs_format_head(head, sizeof head, &r);
    if (n < 0)
        return n;
    body = body && r.length > 0;
    int err = hs_send(sock, head, (size_t)n, body);
    if (err == 0 && body)
        err = hs_sendfile(sock, fd, r.status == 206 ? (off_t)r.first : 0, r.length);
    return err;
}

/* A request body is not used by GET or HEAD; a small one is read and
 * dropped so that the connection can go on. */
static int skip_body(cio_stream *s, long long len) {
    char buf[4096];
    while (len > 0) {
        ssize_t n = cio_stream_read(s, buf, len < (long long)sizeof buf ? (size_t)len : sizeof buf);
        if (n <= 0)
            return n < 0 ? (int)n : -EPIPE;
        len -= n;
    }
    return 0;
}

/* After an answer that ends the connection: stop sending, then read and drop
 * what the client still sends, for a moment. Closing with unread input would
 * reset the connection, and the client could lose the answer (nginx's
 * lingering close). */
static void linger_close(cio_stream *s) {
    shutdown(cio_stream_fd(s), SHUT_WR);
    cio_timeout t;
    if (cio_timeout_enter(&t, LINGER) < 0)
        return;
    const void *data;
    ssize_t n;
    size_t dropped = 0;
    while (dropped < BODY_DISCARD_MAX && (n = cio_stream_peek(s, &data)) > 0) {
        cio_stream_consume(s, (size_t)n);
        dropped += (size_t)n;
    }
    cio_timeout_exit(&t, 0);
}

/* One parsed request. 0 to go on with the connection, else a negative
 * errno or 1 (answered; close). */
static int serve(const site *w, cio_stream *s, hs_request *req) {
    int sock = cio_stream_fd(s);
    bool http10 = req->minor == 0, head_only = req->method == HS_HEAD;
    if (req->chunked)
        return hs_send_error(sock, 501, false, http10, head_only, 0) ?: 1;
    if (req->content_length > BODY_DISCARD_MAX)
        return hs_send_error(sock, 413, false, http10, head_only, 0) ?: 1;
    int err = skip_body(s, req->content_length);
    if (err < 0)
        return err;
    if (req->method == HS_OTHER)
        return hs_send_error(sock, 405, req->keep_alive, http10, false, 0);
    struct stat st;
    bool is_index = false;
    int fd = open_file(w, req->path, &st, &is_index);
    if (fd < 0)
        return hs_send_error(sock, -fd, req->keep_alive, http10, head_only, 0);
    err = send_file(sock, fd, &st, req, is_index);
    close(fd);
    return err;
}

static void handle(cio_stream *s, void *arg) {
    const site *w = arg;
    int sock = cio_stream_fd(s), one = 1;
    /* sendfile needs a non-blocking socket to never stall the loop; the
     * stream's reads wait through the loop either way. */
    int fl = fcntl(sock, F_GETFL);
    if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0)
        return;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* One deadline per connection, moved on lazily (at most every half
     * period) rather than a timer per request. */
    cio_timeout idle;
    if (cio_timeout_enter(&idle, IDLE_TIMEOUT) < 0)
        return;
    cio_loop *loop = cio_get_running_loop();
    char head[HEAD_MAX];
    for (;;) {
        double now = cio_loop_time(loop);
        if (cio_timeout_when(&idle) - now < IDLE_TIMEOUT / 2 &&
            cio_timeout_reschedule(&idle, now + IDLE_TIMEOUT) < 0)
            break; /* it expired meanwhile */
        ssize_t n = cio_stream_readuntil(s, "\r\n\r\n", 4, head, sizeof head);
        if (n == CIO_ELIMIT) {
            if (hs_send_error(sock, 431, false, false, false, 0) == 0)
                linger_close(s);
            break;
        }
        if (n <= 0)
            break; /* the client closed (or reset), it was quiet too long, or we stop */
        hs_request req;
        int status = hs_parse_request(head, (size_t)n, &req);
        if (status) {
            if (hs_send_error(sock, status, false, false, false, 0) == 0)
                linger_close(s);
            break;
        }
        int r = serve(w, s, &req);
        if (r == 1)
            linger_close(s);
        if (r != 0 || !req.keep_alive)
            break;
    }
    cio_timeout_exit(&idle, 0);
}

static void *serve_main(void *arg) {
    char **argv = arg; /* address, port, dir */
    site w = {.root = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (w.root < 0) {
        fprintf(stderr, "http_server: %s: %s\n", argv[2], strerror(errno));
        return cio_fail(-errno);
    }
    cio_server *srv = cio_start_server(argv[0], (unsigned)atoi(argv[1]), handle, &w);
    if (!srv) {
        int err = -errno;
        fprintf(stderr, "http_server: cannot listen on %s:%s: %s\n", argv[0] ? argv[0] : "*",
                argv[1], cio_strerror(err));
        close(w.root);
        return cio_fail(err);
    }
    printf("http_server: serving %s on http://%s:%u/\n", argv[2], argv[0] ? argv[0] : "0.0.0.0",
           cio_server_port(srv));
    fflush(stdout);
    cio_server_serve_forever(srv); /* Ctrl-C cancels us, which closes the server */
    cio_server_close_clients(srv);
    cio_server_wait_closed(srv);
    cio_server_free(srv);
    close(w.root);
    return NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: http_server [-b ADDRESS] [-p PORT] DIR\n");
    return 2;
}

int main(int argc, char **argv) {
    char *args[3] = {NULL, "8080", NULL};
    int opt;
    while ((opt = getopt(argc, argv, "b:p:")) != -1) {
        if (opt == 'b')
            args[0] = optarg;
        else if (opt == 'p')
            args[1] = optarg;
        else
            return usage();
    }
    char *end;
    long port = strtol(args[1], &end, 10);
    if (optind != argc - 1 || *end || port < 0 || port > 65535)
        return usage();
    args[2] = argv[optind];
    int r = cio_run(serve_main, args, NULL);
    if (r < 0 && r != -ECANCELED) {
        fprintf(stderr, "http_server: %s\n", cio_strerror(r));
        return 1;
    }
    return 0;
}
