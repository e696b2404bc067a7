/* W9 on libuv: the libuv echo server in a child process, measured by the
 * same client as cio's (build/bench/w9_echo client). */
#include "uv_echo.h"

int main(int argc, char **argv) {
    unsigned port;
    pid_t pid = ec_spawn_server(uv_echo_serve, &port);
    char p[16];
    snprintf(p, sizeof p, "%u", port);
    int quick = argc > 1 && strcmp(argv[1], "-q") == 0;
    char *args[] = {"w9_echo", "client", p, "libuv", quick ? "-q" : NULL, NULL};
    int rc = ec_run_sibling("../../w9_echo", args);
    ec_stop_server(pid);
    return rc;
}
