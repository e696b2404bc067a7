/* W9: TCP echo server on 127.0.0.1. A client process with 100 connections,
 * each doing 10,000 sequential 64-byte ping-pongs (messages/s), then one
 * connection streaming 2 GiB through the server (GB/s). The client checks
 * every echoed byte.
 *
 *   w9_echo [-q]                       the cio server in a child, the client here
 *   w9_echo client PORT IMPL [-q]      only the client, against a peer's server
 *   w9_echo peer IMPL [-q] -- CMD...   the client against CMD, a peer's server
 *                                      that prints its port on stdout */
#include "cio_echo_server.h"

static void run(unsigned port, const char *impl, int argc, char **argv) {
    long conns = 100;
    long rounds = bench_scale(argc, argv, 10000);
    long long bulk = 2LL << 30;
    if (rounds < 10000)
        bulk /= 10;
    ec_run_w9(port, impl, conns, rounds, bulk);
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "client") == 0) {
        run((unsigned)atoi(argv[2]), argv[3], argc, argv);
        return 0;
    }
    int cmd = ec_command_start(argc, argv);
    unsigned port;
    pid_t pid = cmd ? ec_spawn_cmd(argv + cmd, &port) : ec_spawn_server(serve, &port);
    run(port, cmd ? argv[2] : "cio", cmd ? cmd - 1 : argc, argv);
    ec_stop_server(pid);
    return 0;
}
