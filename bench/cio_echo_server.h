/* The cio echo server of W9 and W11: one task per connection echoing with
 * zero-copy peeks, run in a child process that reports its port on a pipe. */
#ifndef CIO_BENCH_ECHO_SERVER_H
#define CIO_BENCH_ECHO_SERVER_H

#include "echo_client.h"

#include <cio.h>

static void echo(cio_stream *s, void *arg) {
    (void)arg;
    const void *data;
    ssize_t n;
    while ((n = cio_stream_peek(s, &data)) > 0) {
        if (cio_stream_write(s, data, (size_t)n) < 0)
            break;
        cio_stream_consume(s, (size_t)n);
        if (cio_stream_drain(s) < 0)
            break;
    }
}

static void *server_main(void *arg) {
    int port_fd = *(int *)arg;
    cio_server *srv = cio_start_server("127.0.0.1", 0, echo, NULL);
    if (!srv)
        ec_die("cio_start_server");
    unsigned port = cio_server_port(srv);
    if (write(port_fd, &port, sizeof port) != sizeof port)
        ec_die("write port");
    cio_server_serve_forever(srv);
    cio_server_free(srv);
    return NULL;
}

/* Stacks of connections idle for 0.1 s (two sweeps, so 0.1 to 0.2 s) are
 * trimmed, rather than the default 1 s: W11 samples the idle server within a
 * second. W9's connections are never idle that long. */
static void serve(int port_fd) {
    cio_options o = {.stack_trim_after = 0.1};
    cio_run_with(&o, server_main, &port_fd, NULL);
}

#endif
