/* W9 on N loops (default 2): the echo server of w9_echo run by
 * cio_run_threads, one loop per thread, every loop's server on the same
 * port with SO_REUSEPORT; the same client as w9_echo measures it.
 *
 *   w9_echo_loops [-n LOOPS] [-q] */
#include "cio_echo_server.h"

#include <stdatomic.h>

static atomic_uint shared_port;
static atomic_int listening;
static int nloops = 2;

static void *loop_main(void *arg) {
    int port_fd = *(int *)arg;
    int i = cio_thread_index();
    while (i > 0 && !atomic_load(&shared_port))
        cio_sleep(0.001);
    cio_server_options o = {.reuse_port = 1};
    cio_server *srv = cio_start_server_with(&o, "127.0.0.1", atomic_load(&shared_port), echo, NULL);
    if (!srv)
        ec_die("cio_start_server_with");
    if (i == 0)
        atomic_store(&shared_port, cio_server_port(srv));
    if (atomic_fetch_add(&listening, 1) == nloops - 1) { /* the last one tells the client */
        unsigned port = atomic_load(&shared_port);
        if (write(port_fd, &port, sizeof port) != sizeof port)
            ec_die("write port");
    }
    cio_server_serve_forever(srv);
    cio_server_free(srv);
    return NULL;
}

static void serve_loops(int port_fd) {
    cio_run_threads((unsigned)nloops, NULL, loop_main, &port_fd, NULL);
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-n") == 0)
            nloops = atoi(argv[i + 1]);
    if (nloops < 1)
        nloops = 1;
    long rounds = bench_scale(argc, argv, 10000);
    long long bulk = 2LL << 30;
    if (rounds < 10000)
        bulk /= 10;
    (void)serve; /* w9_echo's one-loop server, unused here */
    unsigned port;
    pid_t pid = ec_spawn_server(serve_loops, &port);
    char impl[32];
    snprintf(impl, sizeof impl, "cio-%dloops", nloops);
    ec_run_w9(port, impl, 100, rounds, bulk);
    ec_stop_server(pid);
    return 0;
}
