/* W9: TCP echo server on 127.0.0.1. A client process with 100 connections,
 * each doing 10,000 sequential 64-byte ping-pongs (messages/s), then one
 * connection streaming 2 GiB through the server (GB/s).
 *
 *   w9_echo [-q]                  the cio server in a child, the client here
 *   w9_echo client PORT IMPL [-q] only the client, against a peer's server */
#include "cio_echo_server.h"

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
