/* A small HTTP/1.1 server and GET client on cio streams, shared by the
 * examples (download, image_pipeline). Enough HTTP for them and for talking
 * to a real server (nginx): GET, Content-Length and chunked bodies,
 * keep-alive. Not a general-purpose HTTP library. */
#ifndef CIO_EXAMPLE_HTTP_H
#define CIO_EXAMPLE_HTTP_H

#include <cio.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- server: serves the regular files of one directory ---- */

typedef struct http_server http_server;

/* Starts serving dir on host:port (port 0: any free port). chunked: send
 * bodies with Transfer-Encoding: chunked instead of Content-Length. NULL and
 * errno on failure. */
http_server *http_serve_dir(const char *host, unsigned port, const char *dir, int chunked);
unsigned http_server_port(const http_server *s);
/* Limits each response to mib_per_s MiB/s (0: no limit), the way a distant
 * server or a slow link would: the examples use it to show downloads
 * overlapping while they wait. */
void http_server_set_rate(http_server *s, double mib_per_s);
/* In a task: stops and waits for the connections to end. */
void http_server_stop(http_server *s);

/* ---- client: one keep-alive connection ---- */

typedef struct http_conn http_conn;

/* Called with each piece of a response body, in order. Returns 0 to go on or
 * a negative errno to stop (the request then fails with it). */
typedef int (*http_body_fn)(const void *data, size_t len, void *arg);

/* In a task: connects to host:port. NULL and errno on failure. */
http_conn *http_connect(const char *host, unsigned port);
/* In a task: GET path; the body goes to fn piece by piece. Returns the HTTP
 * status (200, 404...) or a negative errno; *length gets the body size.
 * The connection is reused for the next request unless the server closed it
 * (then it reconnects transparently). */
int http_get(http_conn *c, const char *path, http_body_fn fn, void *arg, size_t *length);
void http_close(http_conn *c);

/* ---- helpers for bodies ---- */

/* A body written into a file with cio I/O, at increasing offsets. */
typedef struct http_file_sink {
    int fd;
    off_t offset;
} http_file_sink;
int http_sink_to_file(const void *data, size_t len, void *arg);

/* A body gathered in memory (malloc'd, grown as needed; free(buf)). */
typedef struct http_mem_sink {
    unsigned char *buf;
    size_t len, cap;
} http_mem_sink;
int http_sink_to_mem(const void *data, size_t len, void *arg);

#endif
