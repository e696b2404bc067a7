/* A TLS echo server and client on cio-tls, in one program.
 *
 *   tls_echo                                  the demo: a throwaway CA and a
 *                                             certificate for localhost made with
 *                                             the openssl command line in a temp
 *                                             dir, a TLS echo server on
 *                                             127.0.0.1, CONNS clients that
 *                                             check the certificate and echo lines
 *   tls_echo server PORT CERT KEY             serve until Ctrl-C
 *   tls_echo client HOST PORT CAFILE MSG...   send each MSG, print the echo
 *
 * The handler and the client are the plain-stream code of examples/echo:
 * a TLS stream is a cio_stream, only the way it is opened differs. */
#include <cio.h>
#include <cio_tls.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void echo_lines(cio_stream *s, void *arg) {
    (void)arg;
    char line[4096];
    ssize_t n;
    while ((n = cio_stream_readline(s, line, sizeof line)) > 0)
        if (cio_stream_write(s, line, (size_t)n) < 0 || cio_stream_drain(s) < 0)
            break;
}

/* ---- the client ---- */

typedef struct client {
    const char *host, *name;
    unsigned port;
    cio_tls *tls;
    char *const *msgs;
    int nmsgs;
    bool quiet;
} client;

static void *run_client(void *arg) {
    client *c = arg;
    cio_stream *s = cio_open_connection_tls(c->host, c->port, c->tls, c->name);
    if (!s) {
        fprintf(stderr, "connecting to %s:%u: %s\n", c->host, c->port, cio_strerror(-errno));
        return cio_fail(-errno);
    }
    if (!c->quiet)
        printf("connected: %s, %s\n", cio_stream_tls_version(s), cio_stream_tls_cipher(s));
    int r = 0;
    for (int i = 0; i < c->nmsgs && r == 0; i++) {
        char line[4096];
        size_t len = strlen(c->msgs[i]);
        cio_stream_write(s, c->msgs[i], len);
        cio_stream_write(s, "\n", 1);
        ssize_t n = cio_stream_readline(s, line, sizeof line);
        if (n != (ssize_t)len + 1 || memcmp(line, c->msgs[i], len) != 0)
            r = n < 0 ? (int)n : -EPROTO;
        else if (!c->quiet)
            printf("echo: %s", line);
    }
    int cr = cio_stream_close(s); /* close_notify, then FIN */
    return r || cr ? cio_fail(r ? r : cr) : NULL;
}

/* ---- the demo ---- */

enum { CONNS = 10 };

static int make_certs(const char *dir) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; exec >openssl.log 2>&1\n"
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.pem -days 1 -subj '/CN=tls_echo throwaway CA'\n"
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key "
             "-out server.csr -subj /CN=localhost\n"
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext\n"
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 "
             "-days 1 -extfile server.ext -out server.pem\n",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void *run_system(void *cmd) {
    return (void *)(intptr_t)make_certs(cmd);
}

static void *demo(void *arg) {
    const char *dir = arg;
    void *made;
    /* A blocking command: in the default thread pool, not in the loop. */
    if (cio_to_thread(run_system, (void *)dir, &made) < 0 || made) {
        fprintf(stderr, "could not make certificates with the openssl command line\n");
        return cio_fail(-EIO);
    }
    char cert[512], key[512], ca[512];
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    cio_tls *stls = cio_tls_server_new(cert, key), *ctls = cio_tls_client_new(ca);
    if (!stls || !ctls)
        return cio_fail(-EIO);
    cio_server *srv = cio_start_server_tls("127.0.0.1", 0, echo_lines, NULL, stls);
    if (!srv)
        return cio_fail(-errno);
    printf("TLS echo server on 127.0.0.1:%u (certificate for localhost by a throwaway CA)\n",
           cio_server_port(srv));
    char *msgs[] = {"hello over TLS", "every byte through the loop", "bye"};
    client cs[CONNS];
    cio_future *fs[CONNS];
    for (int i = 0; i < CONNS; i++) {
        cs[i] = (client){.host = "127.0.0.1",
                         .name = "localhost",
                         .port = cio_server_port(srv),
                         .tls = ctls,
                         .msgs = msgs,
                         .nmsgs = 3,
                         .quiet = i > 0};
        fs[i] = cio_create_task(run_client, &cs[i]);
    }
    int r = cio_gather(fs, CONNS, CIO_RETURN_EXCEPTIONS), ok = 0;
    for (int i = 0; i < CONNS; i++) {
        ok += cio_future_error(fs[i]) == 0;
        cio_future_unref(fs[i]);
    }
    printf("%d of %d clients verified the certificate and got their lines back\n", ok, CONNS);
    /* And one that trusts only the system's CAs is refused. */
    cio_tls *sys = cio_tls_client_new(NULL);
    client bad = {.host = "127.0.0.1",
                  .name = "localhost",
                  .port = cio_server_port(srv),
                  .tls = sys,
                  .msgs = msgs,
                  .nmsgs = 1,
                  .quiet = true};
    cio_future *f = cio_create_task(run_client, &bad);
    int br = cio_await(f, NULL);
    cio_future_unref(f);
    printf("a client without the throwaway CA: %s\n", cio_strerror(br));
    cio_server_free(srv);
    cio_tls_free(sys);
    cio_tls_free(stls);
    cio_tls_free(ctls);
    return r < 0 || ok != CONNS || br != CIO_ETLS ? cio_fail(-EIO) : NULL;
}

static void *serve(void *arg) {
    char **argv = arg;
    cio_tls *tls = cio_tls_server_new(argv[3], argv[4]);
    if (!tls) {
        fprintf(stderr, "%s / %s: %s\n", argv[3], argv[4], cio_strerror(-errno));
        return cio_fail(-errno);
    }
    cio_server *srv = cio_start_server_tls(NULL, (unsigned)atoi(argv[2]), echo_lines, NULL, tls);
    if (!srv)
        return cio_fail(-errno);
    printf("TLS echo server on port %u; Ctrl-C stops it\n", cio_server_port(srv));
    int r = cio_server_serve_forever(srv);
    cio_server_free(srv);
    cio_tls_free(tls);
    return r == -ECANCELED ? NULL : cio_fail(r);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 5 && strcmp(argv[1], "server") == 0)
        return cio_run(serve, argv, NULL) < 0;
    if (argc >= 6 && strcmp(argv[1], "client") == 0) {
        client c = {
            .host = argv[2], .port = (unsigned)atoi(argv[3]), .msgs = argv + 5, .nmsgs = argc - 5};
        if (!(c.tls = cio_tls_client_new(argv[4]))) {
            fprintf(stderr, "%s: %s\n", argv[4], cio_strerror(-errno));
            return 1;
        }
        int r = cio_run(run_client, &c, NULL);
        cio_tls_free(c.tls);
        return r < 0;
    }
    if (argc != 1) {
        fprintf(stderr,
                "usage: %s                                 (demo)\n"
                "       %s server PORT CERT KEY\n"
                "       %s client HOST PORT CAFILE MSG...\n",
                argv[0], argv[0], argv[0]);
        return 2;
    }
    char dir[] = "/tmp/cio-tls-echo-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int r = cio_run(demo, dir, NULL);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return r < 0;
}
