/* W9: TCP echo server on 127.0.0.1. A client process with 100 connections,
 * each doing 10,000 sequential 64-byte ping-pongs (messages/s), then one
 * connection streaming 2 GiB through the server (GB/s).
 *
 *   w9_echo [-q]                  the cio server in a child, the client here
 *   w9_echo client PORT IMPL [-q] only the client, against a peer's server */
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

static void serve(int port_fd) {
    cio_run(server_main, &port_fd, NULL);
}

int main(int argc, char **argv) {
    long conns = 100;
    long rounds = bench_scale(argc, argv, 10000);
    long long bulk = 2LL << 30;
    if (rounds < 10000)
        bulk /= 10;
    if (argc >= 4 && strcmp(argv[1], "client") == 0) {
        ec_run_w9((unsigned)atoi(argv[2]), argv[3], conns, rounds, bulk);
        return 0;
    }
    unsigned port;
    pid_t pid = ec_spawn_server(serve, &port);
    ec_run_w9(port, "cio", conns, rounds, bulk);
    ec_stop_server(pid);
    return 0;
}
