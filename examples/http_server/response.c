/* http_server: see response.h. */
#include "response.h"

#include <cio.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

const char *hs_reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Internal Server Error";
    }
}

const char *hs_content_type(const char *path) {
    static const char *const types[][2] = {
        {".html", "text/html"},        {".htm", "text/html"},       {".txt", "text/plain"},
        {".css", "text/css"},          {".js", "text/javascript"},  {".json", "application/json"},
        {".png", "image/png"},         {".jpg", "image/jpeg"},      {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},         {".svg", "image/svg+xml"},   {".pdf", "application/pdf"},
        {".wasm", "application/wasm"}, {".xml", "application/xml"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";
}

static size_t http_date(char *buf, size_t cap, time_t t) {
    struct tm tm;
    gmtime_r(&t, &tm);
    return strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The Date field changes once a second: formatted once a second. The loop
 * runs handlers in one thread, so a static cache is safe. */
static const char *now_date(void) {
    static char cached[40];
    static time_t at = -1;
    time_t now = time(NULL);
    if (now != at) {
        http_date(cached, sizeof cached, now);
        at = now;
    }
    return cached;
}

int hs_format_head(char *buf, size_t cap, const hs_reply *r) {
    int n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\nServer: cio-http_server\r\nDate: %s\r\n",
                     r->status, hs_reason(r->status), now_date());
    char date[40];
    if (r->mtime >= 0 && n >= 0 && (size_t)n < cap && http_date(date, sizeof date, r->mtime))
        n += snprintf(buf + n, cap - (size_t)n, "Last-Modified: %s\r\n", date);
    if (r->type && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "Content-Type: %s\r\n", r->type);
    if (r->status == 206 && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "Content-Range: bytes %lld-%lld/%lld\r\n", r->first,
                      r->last, r->size);
    if (r->status == 416 && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "Content-Range: bytes */%lld\r\n", r->size);
    if (r->status == 405 && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "Allow: GET, HEAD\r\n");
    if (r->status != 304 && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "Content-Length: %lld\r\n", r->length);
    if ((r->status == 200 || r->status == 206) && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "Accept-Ranges: bytes\r\n");
    if (n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "%s\r\n",
                      !r->keep_alive ? "Connection: close\r\n"
                      : r->http10    ? "Connection: keep-alive\r\n"
                                     : "");
    return n >= 0 && (size_t)n < cap ? n : -ENOSPC;
}

/* Waits until sock takes more. */
static int wait_writable(int sock) {
    int r = cio_poll(sock, POLLOUT, -1);
    return r < 0 ? r : 0;
}

int hs_send(int sock, const void *data, size_t len, bool more) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(sock, p, len, MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            int r = wait_writable(sock);
            if (r < 0)
                return r;
        } else {
            return n < 0 ? -errno : -EPIPE;
        }
    }
    return 0;
}

int hs_sendfile(int sock, int file, off_t offset, long long len) {
    while (len > 0) {
        ssize_t n = sendfile(sock, file, &offset, (size_t)(len < (1 << 30) ? len : (1 << 30)));
        if (n > 0) {
            len -= n;
        } else if (n == 0) {
            return -EIO; /* the file is shorter than it was when we looked */
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN) {
            int r = wait_writable(sock);
            if (r < 0)
                return r;
        } else {
            return -errno;
        }
    }
    return 0;
}

int hs_send_error(int sock, int status, bool keep_alive, bool http10, bool head_only,
                  long long size) {
    char buf[512], body[64];
    int blen = snprintf(body, sizeof body, "%d %s\n", status, hs_reason(status));
    hs_reply r = {.status = status,
                  .keep_alive = keep_alive,
                  .http10 = http10,
                  .length = blen,
                  .type = "text/plain",
                  .mtime = -1,
                  .size = size};
    int n = hs_format_head(buf, sizeof buf - sizeof body, &r);
    if (n < 0)
        return n;
    if (!head_only) {
        memcpy(buf + n, body, (size_t)blen);
        n += blen;
    }
    return hs_send(sock, buf, (size_t)n, false);
}
