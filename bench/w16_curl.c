/* W16: 200 concurrent downloads of 1 MiB files from nginx on 127.0.0.1
 * (one worker, sendfile on), every byte checked. cio-curl (one multi handle
 * on the loop, cio_curl_perform per task) beside libcurl's own event loop
 * (curl_multi_perform + curl_multi_poll, the same write callback) and
 * Python asyncio with urllib in the default thread pool
 * (bench/peers/tls/w16_urllib.py), in interleaved rounds; seconds, min /
 * median / max.
 *
 *   w16_curl [-q] [-r ROUNDS]     -q: 20 downloads instead of 200 */
#include "bench_tls.h"

#include <cio.h>
#include <cio_curl.h>

enum { FILE_SIZE = 1 << 20 };

static unsigned char pattern[FILE_SIZE];

typedef struct dl {
    char url[256];
    CURL *e;
    size_t got;
    bool bad;
    int r;
} dl;

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    dl *d = arg;
    size_t len = size * n;
    if (d->got + len > FILE_SIZE || memcmp(p, pattern + d->got, len) != 0)
        d->bad = true;
    d->got += len;
    return len;
}

static void setup_all(dl *ds, int n, unsigned port) {
    for (int i = 0; i < n; i++) {
        ds[i] = (dl){0};
        snprintf(ds[i].url, sizeof ds[i].url, "http://127.0.0.1:%u/f%d.bin", port, i);
        ds[i].e = curl_easy_init();
        curl_easy_setopt(ds[i].e, CURLOPT_URL, ds[i].url);
        curl_easy_setopt(ds[i].e, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(ds[i].e, CURLOPT_WRITEDATA, &ds[i]);
        curl_easy_setopt(ds[i].e, CURLOPT_NOSIGNAL, 1L);
    }
}

/* 0 when every download arrived whole and right. */
static int check_all(dl *ds, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        long code = 0;
        curl_easy_getinfo(ds[i].e, CURLINFO_RESPONSE_CODE, &code);
        if (ds[i].r || code != 200 || ds[i].got != FILE_SIZE || ds[i].bad)
            bad = 1;
        curl_easy_cleanup(ds[i].e);
    }
    return bad;
}

/* ---- cio-curl ---- */

static void *one(void *arg) {
    dl *d = arg;
    d->r = cio_curl_perform(d->e);
    return NULL;
}

typedef struct many {
    dl *ds;
    int n;
    double dt;
} many;

/* Timed inside the loop, as curl's own loop is timed without its setup. */
static void *cio_main(void *arg) {
    many *m = arg;
    double t0 = bench_now();
    cio_future **fs = calloc((size_t)m->n, sizeof *fs);
    for (int i = 0; i < m->n; i++)
        fs[i] = cio_create_task(one, &m->ds[i]);
    cio_gather(fs, (size_t)m->n, 0);
    m->dt = bench_now() - t0;
    for (int i = 0; i < m->n; i++)
        cio_future_unref(fs[i]);
    free(fs);
    return NULL;
}

static double run_cio(dl *ds, int n, unsigned port, int *bad) {
    setup_all(ds, n, port);
    many m = {ds, n, 0};
    cio_run(cio_main, &m, NULL);
    *bad |= check_all(ds, n);
    return m.dt;
}

/* ---- libcurl's own loop ---- */

static double run_multi(dl *ds, int n, unsigned port, int *bad) {
    setup_all(ds, n, port);
    double t0 = bench_now();
    CURLM *m = curl_multi_init();
    for (int i = 0; i < n; i++)
        curl_multi_add_handle(m, ds[i].e);
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE)
            for (int i = 0; i < n; i++)
                if (ds[i].e == msg->easy_handle)
                    ds[i].r = msg->data.result == CURLE_OK ? 0 : -1;
    for (int i = 0; i < n; i++)
        curl_multi_remove_handle(m, ds[i].e);
    curl_multi_cleanup(m);
    double dt = bench_now() - t0;
    *bad |= check_all(ds, n);
    return dt;
}

/* ---- asyncio + urllib in threads: the script prints its seconds ---- */

static double run_python(int n, unsigned port, const char *dir, int *bad) {
    char script[1200], cmd[2000];
    bt_script(script, sizeof script, "w16_urllib.py");
    snprintf(cmd, sizeof cmd, "%s '%s' http://127.0.0.1:%u %d '%s/www/f0.bin'", bt_python(), script,
             port, n, dir);
    FILE *p = popen(cmd, "r");
    char line[128] = "";
    if (!p || !fgets(line, sizeof line, p))
        *bad = 1;
    if (p && pclose(p) != 0)
        *bad = 1;
    return atof(line);
}

/* ---- nginx ---- */

static pid_t start_nginx(const char *dir, unsigned port) {
    char conf[600];
    snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f,
            "daemon off; master_process off; worker_processes 1;\n"
            "pid %s/nginx.pid; error_log %s/nginx-error.log;\n"
            "events { worker_connections 4096; }\n"
            "http { access_log off; sendfile on; keepalive_requests 100000;\n"
            "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
            "  uwsgi_temp_path %s; scgi_temp_path %s;\n"
            "  server { listen 127.0.0.1:%u backlog=4096; root %s/www; } }\n",
            dir, dir, dir, dir, dir, dir, dir, port, dir);
    fclose(f);
    char *argv[] = {"nginx", "-c", conf, "-p", (char *)dir, NULL};
    pid_t pid = bt_spawn(argv, NULL);
    if (pid > 0 && bt_wait_port(port) < 0) {
        bt_stop(pid);
        return -1;
    }
    return pid;
}

int main(int argc, char **argv) {
    int n = (int)bench_scale(argc, argv, 200);
    long nrounds = 3;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-r") == 0)
            nrounds = atol(argv[i + 1]);
    if (nrounds < 1 || nrounds > 50)
        nrounds = 3;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (size_t i = 0; i < FILE_SIZE; i++)
        pattern[i] = (unsigned char)((i * 131 + (i >> 12)) % 251);
    char dir[] = "/tmp/cio-w16-XXXXXX", path[600];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/www", dir);
    mkdir(path, 0755);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/www/f%d.bin", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(pattern, 1, FILE_SIZE, f) != FILE_SIZE || fclose(f) != 0)
            return 1;
    }
    unsigned port = bt_free_port();
    pid_t nginx = start_nginx(dir, port);
    if (nginx < 0) {
        fprintf(stderr, "w16: nginx did not start\n");
        return 1;
    }
    dl *ds = calloc((size_t)n, sizeof *ds);
    double t[3][50];
    int bad = 0;
    run_multi(ds, n, port, &bad); /* warms nginx and the page cache up, not measured */
    for (long k = 0; k < nrounds; k++) {
        t[0][k] = run_cio(ds, n, port, &bad);
        t[1][k] = run_multi(ds, n, port, &bad);
        t[2][k] = run_python(n, port, dir, &bad);
        fprintf(stderr, "round %ld: cio-curl %.3f s  curl-multi %.3f s  asyncio-urllib %.3f s%s\n",
                k + 1, t[0][k], t[1][k], t[2][k], bad ? " (A DOWNLOAD FAILED)" : "");
    }
    bt_report("W16", "cio", t[0], (int)nrounds, "s");
    bt_report("W16", "curl-multi", t[1], (int)nrounds, "s");
    bt_report("W16", "asyncio", t[2], (int)nrounds, "s");
    free(ds);
    bt_stop(nginx);
    bt_rm_dir(dir);
    curl_global_cleanup();
    return bad;
}
