/* W11: 10,000 TCP connections held open to the echo server (one task each),
 * then one round trip on each. Figures: the server's resident bytes per idle
 * connection (its VmRSS before connecting and once all are idle), and the
 * seconds for the round.
 *
 *   w11_idle [-q]                      the cio server in a child, the client here
 *   w11_idle client PORT PID IMPL [-q] only the client, against a peer's server */
#include "cio_echo_server.h"

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 10000);
    if (argc >= 5 && strcmp(argv[1], "client") == 0) {
        ec_run_w11((unsigned)atoi(argv[2]), (pid_t)atoi(argv[3]), argv[4], n);
        return 0;
    }
    unsigned port;
    pid_t pid = ec_spawn_server(serve, &port);
    ec_run_w11(port, pid, "cio", n);
    ec_stop_server(pid);
    return 0;
}
