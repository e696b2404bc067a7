/* W15: W9 over TLS. An echo server on 127.0.0.1 behind TLS 1.3 (AES-GCM);
 * one client process (cio-tls, the same for every server) with 100
 * connections each doing 10,000 sequential 64-byte ping-pongs
 * (messages/s), then one connection streaming 1 GiB through the server
 * (GB/s, every byte checked). Servers: cio-tls, Python asyncio + ssl,
 * uvloop + ssl (bench/peers/tls/w15_server.py), in interleaved rounds;
 * min / median / max per server, and the one-core AES-256-GCM limit from
 * `openssl speed` (TLS 1.3's default suite here is TLS_AES_256_GCM_SHA384).
 *
 *   w15_tls [-q] [-r ROUNDS]     -q: counts / 10; ROUNDS default 3 */
#include "bench_tls.h"

#include <cio.h>
#include <cio_tls.h>

enum { MSG = 64, CHUNK = 256 * 1024 };

/* ---- the cio server (in a child process) ---- */

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

typedef struct srv_args {
    const char *dir;
    int port_fd;
} srv_args;

static void *server_main(void *arg) {
    srv_args *a = arg;
    char cert[600], key[600];
    snprintf(cert, sizeof cert, "%s/server.pem", a->dir);
    snprintf(key, sizeof key, "%s/server.key", a->dir);
    cio_tls *tls = cio_tls_server_new(cert, key);
    cio_server *srv = tls ? cio_start_server_tls("127.0.0.1", 0, echo, NULL, tls) : NULL;
    if (!srv)
        exit(3);
    unsigned port = cio_server_port(srv);
    char line[32];
    int n = snprintf(line, sizeof line, "%u\n", port);
    if (write(a->port_fd, line, (size_t)n) != n)
        exit(3);
    cio_server_serve_forever(srv);
    return NULL;
}

/* Starts the server of impl; its port comes on a pipe (stdout for Python). */
static pid_t start_server(const char *impl, const char *dir, unsigned *port) {
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        if (strcmp(impl, "cio") == 0) {
            srv_args a = {dir, p[1]};
            cio_run(server_main, &a, NULL);
            _exit(0);
        }
        char script[1200], cert[600], key[600];
        bt_script(script, sizeof script, "w15_server.py");
        snprintf(cert, sizeof cert, "%s/server.pem", dir);
        snprintf(key, sizeof key, "%s/server.key", dir);
        dup2(p[1], 1);
        char *argv[] = {(char *)bt_python(),
                        script,
                        cert,
                        key,
                        strcmp(impl, "uvloop") == 0 ? "--uvloop" : NULL,
                        NULL};
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    char line[32] = "";
    FILE *f = fdopen(p[0], "r");
    if (!f || !fgets(line, sizeof line, f)) {
        if (f)
            fclose(f);
        bt_stop(pid);
        return -1;
    }
    fclose(f);
    *port = (unsigned)atoi(line);
    return pid;
}

/* ---- the client ---- */

typedef struct run {
    unsigned port;
    cio_tls *tls;
    long conns, rounds;
    long long bulk;
    double msgs_per_s, gb_per_s;
    int err;
} run;

static void *pingpong(void *arg) {
    run *r = arg;
    cio_stream *s = cio_open_connection_tls("127.0.0.1", r->port, r->tls, "localhost");
    if (!s)
        return cio_fail(-errno);
    char msg[MSG], got[MSG];
    memset(msg, 'm', sizeof msg);
    int err = 0;
    for (long i = 0; i < r->rounds && !err; i++) {
        msg[0] = (char)i;
        cio_stream_write(s, msg, MSG);
        if (cio_stream_readexactly(s, got, MSG, NULL) != MSG || memcmp(got, msg, MSG) != 0)
            err = -EPROTO;
    }
    cio_stream_close(s);
    return err ? cio_fail(err) : NULL;
}

static unsigned char pattern[CHUNK];

typedef struct bulk_w {
    cio_stream *s;
    long long n;
} bulk_w;

static void *bulk_writer(void *arg) {
    bulk_w *w = arg;
    for (long long off = 0; off < w->n; off += CHUNK) {
        long long k = w->n - off < CHUNK ? w->n - off : CHUNK;
        if (cio_stream_write(w->s, pattern, (size_t)k) < 0 || cio_stream_drain(w->s) < 0)
            return cio_fail(-EPIPE);
    }
    return NULL;
}

static int bulk(run *r) {
    cio_stream *s = cio_open_connection_tls("127.0.0.1", r->port, r->tls, "localhost");
    if (!s)
        return -errno;
    bulk_w w = {s, r->bulk};
    cio_future *t = cio_create_task(bulk_writer, &w);
    unsigned char *buf = malloc(CHUNK);
    long long got = 0;
    int err = 0;
    while (got < r->bulk && !err) {
        size_t want = r->bulk - got < CHUNK ? (size_t)(r->bulk - got) : CHUNK;
        size_t at = (size_t)(got % CHUNK);
        if (want > CHUNK - at)
            want = CHUNK - at;
        ssize_t n = cio_stream_read(s, buf, want);
        if (n <= 0)
            err = n < 0 ? (int)n : -EPIPE;
        else if (memcmp(buf, pattern + at, (size_t)n) != 0)
            err = -EPROTO;
        else
            got += n;
    }
    int werr = cio_await(t, NULL);
    cio_future_unref(t);
    free(buf);
    cio_stream_close(s);
    return err ? err : werr;
}

static void *client_main(void *arg) {
    run *r = arg;
    cio_future **fs = calloc((size_t)r->conns, sizeof *fs);
    double t0 = bench_now();
    for (long i = 0; i < r->conns; i++)
        fs[i] = cio_create_task(pingpong, r);
    r->err = cio_gather(fs, (size_t)r->conns, 0);
    r->msgs_per_s = (double)(r->conns * r->rounds) / (bench_now() - t0);
    for (long i = 0; i < r->conns; i++)
        cio_future_unref(fs[i]);
    free(fs);
    if (r->err)
        return NULL;
    t0 = bench_now();
    r->err = bulk(r);
    r->gb_per_s = (double)r->bulk / (bench_now() - t0) / 1e9;
    return NULL;
}

/* ---- the limit ---- */

static double aes_gcm_limit(void) {
    FILE *p = popen("openssl speed -evp aes-256-gcm -seconds 2 -bytes 16384 -mr 2>/dev/null", "r");
    char line[256];
    double v = 0;
    while (p && fgets(line, sizeof line, p)) {
        char *last = strrchr(line, ':');
        if (strncmp(line, "+F:", 3) == 0 && last)
            v = atof(last + 1);
    }
    if (p)
        pclose(p);
    return v / 1e9;
}

int main(int argc, char **argv) {
    long rounds = bench_scale(argc, argv, 10000), nrounds = 3;
    long long bulk_bytes = rounds < 10000 ? 100LL << 20 : 1LL << 30;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-r") == 0)
            nrounds = atol(argv[i + 1]);
    if (nrounds < 1 || nrounds > 50)
        nrounds = 3;
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < CHUNK; i++)
        pattern[i] = (unsigned char)(i * 31 % 251);
    char dir[] = "/tmp/cio-w15-XXXXXX";
    if (!mkdtemp(dir) || bt_make_certs(dir) < 0) {
        fprintf(stderr, "w15: could not make certificates (openssl)\n");
        return 1;
    }
    const char *impls[3] = {"cio", "asyncio", "uvloop"};
    char probe[64];
    snprintf(probe, sizeof probe, "%s -c 'import uvloop' 2>/dev/null", bt_python());
    int nimpl = system(probe) == 0 ? 3 : 2;
    double msgs[3][50], gbs[3][50];
    char ca[600];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    int bad = 0;
    for (long k = 0; k < nrounds; k++)
        for (int i = 0; i < nimpl; i++) {
            unsigned port;
            pid_t pid = start_server(impls[i], dir, &port);
            if (pid < 0) {
                fprintf(stderr, "w15: the %s server did not start\n", impls[i]);
                return 1;
            }
            run r = {.port = port, .conns = 100, .rounds = rounds, .bulk = bulk_bytes};
            r.tls = cio_tls_client_new(ca);
            cio_run(client_main, &r, NULL);
            cio_tls_free(r.tls);
            bt_stop(pid);
            if (r.err) {
                fprintf(stderr, "w15: %s: %s\n", impls[i], cio_strerror(r.err));
                bad = 1;
            }
            msgs[i][k] = r.msgs_per_s;
            gbs[i][k] = r.gb_per_s;
            fprintf(stderr, "round %ld %-8s %.0f msgs/s  %.3f GB/s\n", k + 1, impls[i],
                    r.msgs_per_s, r.gb_per_s);
        }
    for (int i = 0; i < nimpl; i++)
        bt_report("W15-msgs", impls[i], msgs[i], (int)nrounds, "msgs/s");
    for (int i = 0; i < nimpl; i++)
        bt_report("W15-bulk", impls[i], gbs[i], (int)nrounds, "GB/s");
    BENCH_RESULT("W15-limit", "aes256gcm-1core", aes_gcm_limit(), "GB/s");
    bt_rm_dir(dir);
    return bad;
}
