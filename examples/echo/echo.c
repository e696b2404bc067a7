/* An echo server and a load client on cio streams, in one program.
 *
 *   echo server [PORT]                        serve until Ctrl-C (default 8888)
 *   echo client [HOST] [PORT] [CONNS] [MSGS]  CONNS connections (default 100),
 *                                             each MSGS line round trips (1000)
 *
 * The server runs each connection in its own task; the handler is ordinary
 * sequential code. The client is CONNS tasks doing sequential round trips. */
#include <cio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Drops the rest of an over-long line: its bytes stay buffered after
 * CIO_ELIMIT, so the caller decides what to do with them. */
static int skip_line(cio_stream *s) {
    const void *data;
    ssize_t n;
    while ((n = cio_stream_peek(s, &data)) > 0) {
        const char *nl = memchr(data, '\n', (size_t)n);
        cio_stream_consume(s, nl ? (size_t)(nl - (const char *)data) + 1 : (size_t)n);
        if (nl)
            return 0;
    }
    return n < 0 ? (int)n : -EPIPE;
}

/* Echo lines back; a line over the limit is answered with an error and the
 * connection goes on. */
static void echo_lines(cio_stream *s, void *arg) {
    (void)arg;
    char line[4096];
    for (;;) {
        ssize_t n = cio_stream_readline(s, line, sizeof line);
        if (n == CIO_ELIMIT) {
            cio_stream_write(s, "error: line too long\n", 21);
            if (skip_line(s) < 0)
                break;
            continue;
        }
        if (n <= 0)
            break; /* EOF, a reset peer, or the server shutting down */
        if (cio_stream_write(s, line, (size_t)n) < 0 || cio_stream_drain(s) < 0)
            break;
    }
}

static void *server_main(void *arg) {
    unsigned port = (unsigned)(uintptr_t)arg;
    cio_server *srv = cio_start_server(NULL, port, echo_lines, NULL);
    if (!srv) {
        fprintf(stderr, "echo: cannot listen on %u: %s\n", port, cio_strerror(-errno));
        return cio_fail(-errno);
    }
    printf("echo server on port %u (Ctrl-C stops it)\n", cio_server_port(srv));
    fflush(stdout);
    cio_server_serve_forever(srv); /* Ctrl-C cancels us, which closes the server */
    cio_server_close_clients(srv);
    cio_server_wait_closed(srv);
    cio_server_free(srv);
    printf("echo server closed\n");
    return NULL;
}

typedef struct load {
    const char *host;
    unsigned port;
    long msgs;
    long done;
    int err;
} load;

static void *one_client(void *arg) {
    load *l = arg;
    cio_stream *s = cio_open_connection(l->host, l->port);
    if (!s) {
        l->err = -errno;
        return NULL;
    }
    char msg[64], back[64];
    for (long i = 0; i < l->msgs; i++) {
        int n = snprintf(msg, sizeof msg, "message %ld\n", i);
        cio_stream_write(s, msg, (size_t)n);
        ssize_t r = cio_stream_readline(s, back, sizeof back);
        if (r != n || memcmp(back, msg, (size_t)n) != 0) {
            l->err = r < 0 ? (int)r : -EPROTO;
            break;
        }
        l->done++;
    }
    cio_stream_close(s);
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *client_main(void *arg) {
    load *proto = arg;
    long conns = proto->done;
    load *ls = calloc((size_t)conns, sizeof *ls);
    cio_future **ts = calloc((size_t)conns, sizeof *ts);
    double t0 = now();
    for (long i = 0; i < conns; i++) {
        ls[i] = (load){.host = proto->host, .port = proto->port, .msgs = proto->msgs};
        ts[i] = cio_create_task(one_client, &ls[i]);
    }
    cio_gather(ts, (size_t)conns, CIO_RETURN_EXCEPTIONS);
    double dt = now() - t0;
    long total = 0, failed = 0;
    for (long i = 0; i < conns; i++) {
        total += ls[i].done;
        if (ls[i].err) {
            if (!failed++)
                fprintf(stderr, "connection %ld: %s\n", i, cio_strerror(ls[i].err));
        }
        cio_future_unref(ts[i]);
    }
    printf("%ld connections, %ld round trips in %.3f s: %.0f msgs/s%s\n", conns, total, dt,
           (double)total / dt, failed ? " (some failed)" : "");
    free(ls);
    free(ts);
    return failed ? cio_fail(-EIO) : NULL;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "server") == 0) {
        unsigned port = argc > 2 ? (unsigned)atoi(argv[2]) : 8888;
        int r = cio_run(server_main, (void *)(uintptr_t)port, NULL);
        return r < 0 && r != -EINTR && r != -ECANCELED;
    }
    if (argc >= 2 && strcmp(argv[1], "client") == 0) {
        load l = {.host = argc > 2 ? argv[2] : "127.0.0.1",
                  .port = argc > 3 ? (unsigned)atoi(argv[3]) : 8888,
                  .done = argc > 4 ? atol(argv[4]) : 100,
                  .msgs = argc > 5 ? atol(argv[5]) : 1000};
        return cio_run(client_main, &l, NULL) < 0;
    }
    fprintf(stderr, "usage: echo server [PORT]\n"
                    "       echo client [HOST] [PORT] [CONNS] [MSGS]\n");
    return 2;
}
