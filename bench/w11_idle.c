/* W11: 10,000 TCP connections held open to the echo server (one task each),
 * then one round trip on each. Figures: the server's resident bytes per
 * connection while they are idle and again after the round trip (its VmRSS
 * before connecting and at both moments), and the seconds for the round.
 *
 *   w11_idle [-q]                      the cio server in a child, the client here
 *   w11_idle client PORT PID IMPL [-q] only the client, against a peer's server
 *   w11_idle peer IMPL [-q] -- CMD...  the client against CMD, a peer's server
 *                                      that prints its port on stdout */
#include "cio_echo_server.h"

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "client") == 0) {
        ec_run_w11((unsigned)atoi(argv[2]), (pid_t)atoi(argv[3]), argv[4],
                   bench_scale(argc, argv, 10000));
        return 0;
    }
    int cmd = ec_command_start(argc, argv);
    long n = bench_scale(cmd ? cmd - 1 : argc, argv, 10000);
    unsigned port;
    pid_t pid = cmd ? ec_spawn_cmd(argv + cmd, &port) : ec_spawn_server(serve, &port);
    ec_run_w11(port, pid, cmd ? argv[2] : "cio", n);
    ec_stop_server(pid);
    return 0;
}
