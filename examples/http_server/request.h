/* http_server: parsing a request head and its Range / If-Modified-Since
 * headers. Pure functions on a buffer: no I/O, no allocation. */
#ifndef HS_REQUEST_H
#define HS_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum { HS_GET = 1, HS_HEAD = 2, HS_OTHER = 3 };

typedef struct hs_request {
    int method;               /* HS_GET, HS_HEAD or HS_OTHER */
    int minor;                /* HTTP/1.<minor> */
    bool keep_alive;          /* what the client asked (or the version's default) */
    bool has_host;            /* a Host header came (HTTP/1.1 requires one) */
    bool chunked;             /* Transfer-Encoding on the request */
    long long content_length; /* the request body's length (0: none) */
    char *path;               /* percent-decoded, starts with '/', in the head buffer */
    const char *range;        /* the Range header's value, or NULL */
    time_t if_modified_since; /* -1: no (valid) If-Modified-Since */
} hs_request;

/* Parses head (len bytes, the request line and headers up to and including
 * the blank line; NUL-terminated at head[len]), modifying it in place.
 * Returns 0, or the status to answer with: 400 (malformed, a path with a
 * ".." segment or a NUL), 505 (not HTTP/1.x). */
int hs_parse_request(char *head, size_t len, hs_request *req);

/* A Range header against a file of size bytes. Returns 1 with *first and
 * *last (inclusive) for one satisfiable byte range, -1 when it cannot be
 * satisfied (answer 416), 0 to ignore it and send the whole file (not a
 * bytes range, malformed, or several ranges: RFC 9110 lets a server ignore
 * Range). */
int hs_parse_range(const char *value, long long size, long long *first, long long *last);

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as a time, or -1. */
time_t hs_parse_date(const char *value);

#endif
