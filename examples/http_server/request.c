/* http_server: see request.h. */
/* Linux and GNU calls (O_PATH, strcasestr, strptime) are declared also in a
 * build without the project's -D_GNU_SOURCE. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "request.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

/* Whether the comma-separated list value holds token (any case). */
static bool has_token(const char *value, const char *token) {
    size_t n = strlen(token);
    for (const char *p = value; (p = strcasestr(p, token)); p += n) {
        bool start = p == value || p[-1] == ',' || p[-1] == ' ' || p[-1] == '\t';
        char end = p[n];
        if (start && (end == 0 || end == ',' || end == ' ' || end == '\t'))
            return true;
    }
    return false;
}

static int hex(char c) {
    return isdigit((unsigned char)c)    ? c - '0'
           : isxdigit((unsigned char)c) ? (tolower((unsigned char)c) - 'a' + 10)
                                        : -1;
}

/* The target's path, percent-decoded in place: an absolute-form target
 * loses its scheme and host, the query is dropped. 0 or 400. */
static int decode_path(char *target, char **path) {
    if (strncasecmp(target, "http://", 7) == 0) {
        target = strchr(target + 7, '/');
        if (!target)
            return 400;
    }
    if (target[0] != '/')
        return 400;
    char *q = strpbrk(target, "?#");
    if (q)
        *q = 0;
    char *w = target;
    for (char *r = target; *r; r++) {
        if (*r == '%') {
            int hi = hex(r[1]), lo = hi < 0 ? -1 : hex(r[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return 400;
            *w++ = (char)(hi << 4 | lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
    /* No segment may climb out of the served directory. */
    for (char *p = target; (p = strstr(p, "..")); p += 2)
        if (p[-1] == '/' && (p[2] == '/' || p[2] == 0))
            return 400;
    *path = target;
    return 0;
}

static int parse_line(char *line, hs_request *req) {
    char *method = line, *target = strchr(line, ' ');
    if (!target)
        return 400;
    *target++ = 0;
    char *version = strchr(target, ' ');
    if (!version || target[0] == 0)
        return 400;
    *version++ = 0;
    if (strncmp(version, "HTTP/", 5) != 0 || !isdigit((unsigned char)version[5]))
        return 400;
    if (strncmp(version + 5, "1.", 2) != 0 || !isdigit((unsigned char)version[7]) || version[8])
        return 505;
    req->minor = version[7] - '0';
    req->keep_alive = req->minor >= 1;
    req->method = strcmp(method, "GET") == 0    ? HS_GET
                  : strcmp(method, "HEAD") == 0 ? HS_HEAD
                                                : HS_OTHER;
    if (method[0] == 0)
        return 400;
    return decode_path(target, &req->path);
}

static int parse_header(char *line, hs_request *req) {
    char *colon = strchr(line, ':');
    if (!colon || colon == line || strpbrk(line, " \t") < colon)
        return 400; /* no name, or whitespace before the colon (RFC 9112, 5.1) */
    *colon = 0;
    char *value = trim(colon + 1);
    if (strcasecmp(line, "Host") == 0) {
        req->has_host = true;
    } else if (strcasecmp(line, "Connection") == 0) {
        if (has_token(value, "close"))
            req->keep_alive = false;
        else if (has_token(value, "keep-alive"))
            req->keep_alive = true;
    } else if (strcasecmp(line, "Range") == 0) {
        req->range = value;
    } else if (strcasecmp(line, "If-Modified-Since") == 0) {
        req->if_modified_since = hs_parse_date(value);
    } else if (strcasecmp(line, "Content-Length") == 0) {
        char *end;
        long long n = strtoll(value, &end, 10);
        if (!isdigit((unsigned char)value[0]) || *end || n < 0)
            return 400;
        req->content_length = n;
    } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
        req->chunked = true;
    }
    return 0;
}

int hs_parse_request(char *head, size_t len, hs_request *req) {
    *req = (hs_request){.if_modified_since = -1};
    if (memchr(head, 0, len))
        return 400;
    char *save, *line = strtok_r(head, "\r\n", &save);
    if (!line)
        return 400;
    int status = parse_line(line, req);
    if (status)
        return status;
    while ((line = strtok_r(NULL, "\r\n", &save)))
        if ((status = parse_header(line, req)))
            return status;
    if (req->minor >= 1 && !req->has_host)
        return 400;
    return 0;
}

static bool parse_count(const char *s, const char *end, long long *out) {
    if (s == end)
        return false;
    long long n = 0;
    for (; s < end; s++) {
        if (!isdigit((unsigned char)*s) || n > (0x7fffffffffffffffLL - 9) / 10)
            return false;
        n = n * 10 + (*s - '0');
    }
    *out = n;
    return true;
}

int hs_parse_range(const char *value, long long size, long long *first, long long *last) {
    if (strncasecmp(value, "bytes=", 6) != 0 || strchr(value, ','))
        return 0;
    const char *spec = value + 6, *dash = strchr(spec, '-'), *end = spec + strlen(spec);
    if (!dash)
        return 0;
    long long a, b;
    if (dash == spec) { /* -n: the last n bytes */
        if (!parse_count(dash + 1, end, &b))
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (!parse_count(spec, dash, &a))
        return 0;
    if (dash + 1 == end) {
        b = size - 1;
    } else if (!parse_count(dash + 1, end, &b) || b < a) {
        return 0;
    }
    if (a >= size)
        return -1;
    *first = a;
    *last = b < size ? b : size - 1;
    return 1;
}

time_t hs_parse_date(const char *value) {
    struct tm tm = {0};
    const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    return timegm(&tm);
}
