/* http_server: writing responses on a connected non-blocking socket through
 * the loop: a head (and a short error body) with send(2), a file's bytes
 * with sendfile(2), each waiting with cio_poll(fd, POLLOUT) when the socket
 * is full. No allocation. */
#ifndef HS_RESPONSE_H
#define HS_RESPONSE_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

typedef struct hs_reply {
    int status;
    bool keep_alive, http10; /* HTTP/1.0 keep-alive needs saying so */
    long long length;        /* Content-Length */
    const char *type;        /* Content-Type, or NULL */
    time_t mtime;            /* Last-Modified, or -1 */
    long long first, last;   /* Content-Range of a 206 */
    long long size;          /* the whole file: Content-Range of a 206 or 416 */
} hs_reply;

/* The head of r into buf (status line, Date, Server, the fields r asks for,
 * the blank line). Returns its length, or -ENOSPC. */
int hs_format_head(char *buf, size_t cap, const hs_reply *r);

/* In a task: sends len bytes, MSG_MORE when more follows at once. 0 or a
 * negative errno (-EPIPE, -ECONNRESET, -ECANCELED). */
int hs_send(int sock, const void *data, size_t len, bool more);

/* In a task: len bytes of file from offset down sock with sendfile(2).
 * 0, a negative errno, or -EIO if the file ended first. */
int hs_sendfile(int sock, int file, off_t offset, long long len);

/* In a task: a complete error response (a short text body unless head_only;
 * size is the file's, for the Content-Range of a 416). 0 or a negative errno. */
int hs_send_error(int sock, int status, bool keep_alive, bool http10, bool head_only,
                  long long size);

/* The reason phrase of a status. */
const char *hs_reason(int status);

/* A Content-Type for path, by its extension. */
const char *hs_content_type(const char *path);

#endif
