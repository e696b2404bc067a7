/* W11 on libuv: the libuv echo server in a child process, measured by the
 * same client as cio's (build/bench/w11_idle client). */
#include "uv_echo.h"

int main(int argc, char **argv) {
    unsigned port;
    pid_t pid = ec_spawn_server(uv_echo_serve, &port);
    char p[16], id[16];
    snprintf(p, sizeof p, "%u", port);
    snprintf(id, sizeof id, "%d", (int)pid);
    int quick = argc > 1 && strcmp(argv[1], "-q") == 0;
    char *args[] = {"w11_idle", "client", p, id, "libuv", quick ? "-q" : NULL, NULL};
    int rc = ec_run_sibling("../../w11_idle", args);
    ec_stop_server(pid);
    return rc;
}
