/* HTTP/1.1 for the examples: see http.h. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_LEN 8192
#define BLOCK (256 * 1024)

/* strcasestr is a GNU extension: a program built without _GNU_SOURCE must
 * still compile this file. */
static int contains_nocase(const char *s, const char *word) {
    size_t n = strlen(word);
    for (; *s; s++)
        if (strncasecmp(s, word, n) == 0)
            return 1;
    return 0;
}

/* ===================== server ===================== */

struct http_server {
    cio_server *srv;
    char *dir;
    int chunked;
    double rate; /* bytes/s per response, 0: unlimited */
};

static int send_text(cio_stream *s, int code, const char *reason, int keep) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n"
                     "Connection: %s\r\n\r\n%s\n",
                     code, reason, strlen(reason) + 1, keep ? "keep-alive" : "close", reason);
    return cio_stream_write(s, head, (size_t)n);
}

/* Only plain names inside the served directory. */
static int resolve(const http_server *hs, const char *path, char *out, size_t cap) {
    if (path[0] != '/' || strstr(path, "..") || strchr(path, '?'))
        return -EINVAL;
    return snprintf(out, cap, "%s%s", hs->dir, path) < (int)cap ? 0 : -ENAMETOOLONG;
}

static int send_chunk(cio_stream *s, int chunked, const void *data, size_t n) {
    char size[32];
    int r = 0;
    if (chunked) {
        int k = snprintf(size, sizeof size, "%zx\r\n", n);
        r = cio_stream_write(s, size, (size_t)k);
    }
    if (r == 0)
        r = cio_stream_write(s, data, n);
    if (r == 0 && chunked)
        r = cio_stream_write(s, "\r\n", 2);
    return r < 0 ? r : cio_stream_drain(s);
}

static int send_file(http_server *hs, cio_stream *s, const char *path, int keep) {
    char full[1024];
    int fd = resolve(hs, path, full, sizeof full);
    if (fd == 0)
        fd = cio_open(full, O_RDONLY, 0);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            cio_close(fd);
        return send_text(s, 404, "Not Found", keep);
    }
    char head[256];
    int n = hs->chunked
                ? snprintf(head, sizeof head,
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "Content-Type: application/octet-stream\r\nConnection: %s\r\n\r\n",
                           keep ? "keep-alive" : "close")
                : snprintf(head, sizeof head,
                           "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\n"
                           "Content-Type: application/octet-stream\r\nConnection: %s\r\n\r\n",
                           (long long)st.st_size, keep ? "keep-alive" : "close");
    int r = cio_stream_write(s, head, (size_t)n);
    char *buf = malloc(BLOCK); /* not on the task's small stack */
    off_t off = 0;
    double t0 = cio_loop_time(cio_get_running_loop());
    while (r == 0 && buf && off < st.st_size) {
        if (hs->rate > 0) { /* a slow link: wait until this block is due */
            double due = t0 + (double)off / hs->rate - cio_loop_time(cio_get_running_loop());
            if (due > 0 && (r = cio_sleep(due)) < 0)
                break;
        }
        ssize_t got = cio_read(fd, buf, BLOCK, off);
        if (got <= 0) {
            r = got < 0 ? (int)got : -EIO;
            break;
        }
        off += got;
        r = send_chunk(s, hs->chunked, buf, (size_t)got);
    }
    if (r == 0 && hs->chunked)
        r = cio_stream_write(s, "0\r\n\r\n", 5);
    free(buf);
    cio_close(fd);
    return buf ? r : -ENOMEM;
}

/* One request: its line and headers. 1 to keep the connection, 0 to end it. */
static int serve_one(http_server *hs, cio_stream *s, char *line) {
    ssize_t n = cio_stream_readline(s, line, LINE_MAX_LEN);
    if (n <= 0)
        return 0;
    char method[8], path[1024], version[16];
    if (sscanf(line, "%7s %1023s %15s", method, path, version) != 3) {
        send_text(s, 400, "Bad Request", 0);
        return 0;
    }
    int keep = strcmp(version, "HTTP/1.1") == 0;
    for (;;) {
        n = cio_stream_readline(s, line, LINE_MAX_LEN);
        if (n <= 0)
            return 0;
        if (strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0)
            break;
        if (strncasecmp(line, "Connection:", 11) == 0)
            keep = contains_nocase(line + 11, "close")        ? 0
                   : contains_nocase(line + 11, "keep-alive") ? 1
                                                              : keep;
    }
    int r = strcmp(method, "GET") == 0 ? send_file(hs, s, path, keep)
                                       : send_text(s, 405, "Method Not Allowed", keep);
    return r == 0 && keep;
}

static void handle(cio_stream *s, void *arg) {
    char *line = malloc(LINE_MAX_LEN);
    while (line && serve_one(arg, s, line))
        ;
    free(line);
}

http_server *http_serve_dir(const char *host, unsigned port, const char *dir, int chunked) {
    http_server *hs = calloc(1, sizeof *hs);
    if (!hs || !(hs->dir = strdup(dir))) {
        free(hs);
        errno = ENOMEM;
        return NULL;
    }
    hs->chunked = chunked;
    hs->srv = cio_start_server(host, port, handle, hs);
    if (!hs->srv) {
        int e = errno;
        free(hs->dir);
        free(hs);
        errno = e;
        return NULL;
    }
    return hs;
}

void http_server_set_rate(http_server *hs, double mib_per_s) {
    hs->rate = mib_per_s > 0 ? mib_per_s * (1 << 20) : 0;
}

unsigned http_server_port(const http_server *hs) {
    return cio_server_port(hs->srv);
}

void http_server_stop(http_server *hs) {
    cio_server_close(hs->srv);
    cio_server_close_clients(hs->srv);
    cio_server_wait_closed(hs->srv);
    cio_server_free(hs->srv);
    free(hs->dir);
    free(hs);
}

/* ===================== client ===================== */

struct http_conn {
    cio_stream *s;
    char *host;
    unsigned port;
};

http_conn *http_connect(const char *host, unsigned port) {
    http_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->host = strdup(host))) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    c->port = port;
    c->s = cio_open_connection(host, port);
    if (!c->s) {
        int e = errno;
        free(c->host);
        free(c);
        errno = e;
        return NULL;
    }
    return c;
}

void http_close(http_conn *c) {
    if (!c)
        return;
    if (c->s)
        cio_stream_close(c->s);
    free(c->host);
    free(c);
}

typedef struct response {
    int status;
    int chunked;
    int close;
    long long length; /* -1: until EOF */
} response;

static int read_head(cio_stream *s, char *line, response *rsp) {
    ssize_t n = cio_stream_readline(s, line, LINE_MAX_LEN);
    if (n <= 0)
        return n < 0 ? (int)n : -ECONNRESET;
    if (sscanf(line, "HTTP/%*d.%*d %d", &rsp->status) != 1)
        return -EPROTO;
    rsp->length = -1;
    for (;;) {
        n = cio_stream_readline(s, line, LINE_MAX_LEN);
        if (n <= 0)
            return n < 0 ? (int)n : -EPROTO;
        if (strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0)
            return 0;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            rsp->length = atoll(line + 15);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
                 contains_nocase(line, "chunked"))
            rsp->chunked = 1;
        else if (strncasecmp(line, "Connection:", 11) == 0 && contains_nocase(line, "close"))
            rsp->close = 1;
    }
}

/* Passes up to `want` bytes (-1: until EOF) straight from the read buffer. */
static int pass_body(cio_stream *s, long long want, http_body_fn fn, void *arg, size_t *total) {
    while (want != 0) {
        const void *data;
        ssize_t n = cio_stream_peek(s, &data);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return want < 0 ? 0 : -EPROTO; /* EOF */
        size_t take = want >= 0 && (long long)n > want ? (size_t)want : (size_t)n;
        int r = fn ? fn(data, take, arg) : 0;
        cio_stream_consume(s, take);
        if (r < 0)
            return r;
        *total += take;
        if (want > 0)
            want -= (long long)take;
    }
    return 0;
}

static int read_chunked(cio_stream *s, char *line, http_body_fn fn, void *arg, size_t *total) {
    for (;;) {
        ssize_t n = cio_stream_readline(s, line, LINE_MAX_LEN);
        if (n <= 0)
            return n < 0 ? (int)n : -EPROTO;
        char *end;
        long long size = strtoll(line, &end, 16);
        if (end == line || size < 0)
            return -EPROTO;
        if (size == 0)
            break;
        int r = pass_body(s, size, fn, arg, total);
        if (r < 0)
            return r;
        if (cio_stream_readline(s, line, LINE_MAX_LEN) <= 0) /* the chunk's CRLF */
            return -EPROTO;
    }
    for (;;) { /* trailers, up to the empty line */
        ssize_t n = cio_stream_readline(s, line, LINE_MAX_LEN);
        if (n <= 0 || strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0)
            return n < 0 ? (int)n : 0;
    }
}

static int request(http_conn *c, const char *path, char *line, http_body_fn fn, void *arg,
                   size_t *length, int *fresh) {
    if (!c->s) {
        c->s = cio_open_connection(c->host, c->port);
        if (!c->s)
            return -errno;
        *fresh = 1;
    }
    int n = snprintf(line, LINE_MAX_LEN, "GET %s HTTP/1.1\r\nHost: %s:%u\r\nAccept: */*\r\n\r\n",
                     path, c->host, c->port);
    int r = cio_stream_write(c->s, line, (size_t)n);
    if (r == 0)
        r = cio_stream_drain(c->s);
    response rsp = {0};
    if (r == 0)
        r = read_head(c->s, line, &rsp);
    if (r < 0)
        return r;
    *length = 0;
    r = rsp.chunked ? read_chunked(c->s, line, fn, arg, length)
                    : pass_body(c->s, rsp.length, fn, arg, length);
    if (r < 0 || rsp.close || rsp.length < 0) {
        cio_stream_close(c->s);
        c->s = NULL;
    }
    return r < 0 ? r : rsp.status;
}

int http_get(http_conn *c, const char *path, http_body_fn fn, void *arg, size_t *length) {
    char *line = malloc(LINE_MAX_LEN);
    size_t len = 0;
    if (!line)
        return -ENOMEM;
    int fresh = 0;
    int r = request(c, path, line, fn, arg, &len, &fresh);
    /* A kept-alive connection the server has closed meanwhile: once more. */
    if (r == -ECONNRESET && !fresh && len == 0) {
        if (c->s)
            cio_stream_close(c->s);
        c->s = NULL;
        r = request(c, path, line, fn, arg, &len, &fresh);
    }
    free(line);
    if (length)
        *length = len;
    return r;
}

/* ===================== sinks ===================== */

int http_sink_to_file(const void *data, size_t len, void *arg) {
    http_file_sink *f = arg;
    ssize_t n = cio_write_all(f->fd, data, len, f->offset);
    if (n < 0)
        return (int)n;
    f->offset += n;
    return (size_t)n == len ? 0 : -EIO;
}

int http_sink_to_mem(const void *data, size_t len, void *arg) {
    http_mem_sink *m = arg;
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->len + len)
            cap *= 2;
        unsigned char *nb = realloc(m->buf, cap);
        if (!nb)
            return -ENOMEM;
        m->buf = nb;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, len);
    m->len += len;
    return 0;
}
