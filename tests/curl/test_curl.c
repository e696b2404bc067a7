/* cio-curl: downloads from nginx (HTTP, HTTPS with the test's CA, HTTP/2)
 * checked byte for byte; 404s, refused connections, CURLOPT_TIMEOUT_MS,
 * cancelled transfers (no callback afterwards, the easy handle reusable),
 * 200 concurrent transfers on one loop, and the error names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cio.h>
#include <cio_curl.h>

#include "../tls/peers.h"

static char dir[256];
static unsigned http_port, https_port;
static pid_t nginx_http, nginx_https;

enum { NFILES = 4 };
static const size_t sizes[NFILES] = {0, 1, 100000, 5 * 1024 * 1024 + 3};

/* ---- a sink that checks the pattern as bytes arrive ---- */

typedef struct sink {
    unsigned seed;
    size_t got;
    bool bad;
    unsigned calls;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    sink *s = arg;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] != peers_pattern(s->got + i, s->seed))
            s->bad = true;
    s->got += len;
    s->calls++;
    return len;
}

static CURL *easy_for(const char *url, sink *s) {
    CURL *e = curl_easy_init();
    assert_non_null(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return e;
}

static void url_of(char *out, size_t cap, const char *scheme, unsigned port, int i) {
    snprintf(out, cap, "%s://localhost:%u/f%d.bin", scheme, port, i);
}

static long response_code(CURL *e) {
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* ---- downloads ---- */

static void *plain_main(void *arg) {
    (void)arg;
    for (int i = 0; i < NFILES; i++) {
        char url[256];
        url_of(url, sizeof url, "http", http_port, i);
        sink s = {.seed = (unsigned)i};
        CURL *e = easy_for(url, &s);
        assert_int_equal(cio_curl_perform(e), 0);
        assert_int_equal(response_code(e), 200);
        assert_int_equal(s.got, sizes[i]);
        assert_false(s.bad);
        curl_easy_cleanup(e);
    }
    return NULL;
}

static void test_http_downloads(void **state) {
    (void)state;
    assert_int_equal(cio_run(plain_main, NULL, NULL), 0);
}

static void *https_main(void *arg) {
    (void)arg;
    char url[256], ca[512];
    url_of(url, sizeof url, "https", https_port, 3);
    peers_path(ca, sizeof ca, dir, "ca.pem");
    sink s = {.seed = 3};
    CURL *e = easy_for(url, &s);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    assert_int_equal(cio_curl_perform(e), 0);
    assert_int_equal(response_code(e), 200);
    assert_int_equal(s.got, sizes[3]);
    assert_false(s.bad);
    /* Verification on: against another CA the certificate is refused. */
    peers_path(ca, sizeof ca, dir, "other-ca.pem");
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    int r = cio_curl_perform(e);
    assert_int_equal(r, CIO_ECURL - CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(e);
    return NULL;
}

static void test_https_verified(void **state) {
    (void)state;
    assert_int_equal(cio_run(https_main, NULL, NULL), 0);
}

/* ---- errors ---- */

static void silent(cio_stream *s, void *arg) {
    (void)arg;
    char buf[512];
    while (cio_stream_read(s, buf, sizeof buf) > 0) /* never answers */
        ;
}

static void *errors_main(void *arg) {
    (void)arg;
    char url[256];
    sink s = {0};
    /* 404 is a transfer that worked... */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/missing", http_port);
    CURL *e = easy_for(url, &s);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, NULL); /* nginx's error page to /dev/null */
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(e, CURLOPT_WRITEDATA, devnull);
    assert_int_equal(cio_curl_perform(e), 0);
    assert_int_equal(response_code(e), 404);
    /* ...unless asked to fail on HTTP errors. */
    curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
    assert_int_equal(cio_curl_perform(e), CIO_ECURL - CURLE_HTTP_RETURNED_ERROR);
    curl_easy_cleanup(e);
    fclose(devnull);

    /* Refused. */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", peers_free_port());
    e = easy_for(url, &s);
    int r = cio_curl_perform(e);
    assert_int_equal(r, CIO_ECURL - CURLE_COULDNT_CONNECT);
    assert_string_equal(cio_strerror(r), curl_easy_strerror(CURLE_COULDNT_CONNECT));
    curl_easy_cleanup(e);

    /* A server on this very loop that never answers: CURLOPT_TIMEOUT_MS. */
    cio_server *srv = cio_start_server("127.0.0.1", 0, silent, NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", cio_server_port(srv));
    e = easy_for(url, &s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 200L);
    double t0 = cio_loop_time(cio_get_running_loop());
    assert_int_equal(cio_curl_perform(e), CIO_ECURL - CURLE_OPERATION_TIMEDOUT);
    assert_true(cio_loop_time(cio_get_running_loop()) - t0 >= 0.19);
    curl_easy_cleanup(e);
    cio_server_close_clients(srv);
    cio_server_free(srv);

    assert_int_equal(cio_curl_perform(NULL), -EINVAL);
    return NULL;
}

static void test_errors(void **state) {
    (void)state;
    assert_int_equal(cio_run(errors_main, NULL, NULL), 0);
    CURL *e = curl_easy_init();
    assert_int_equal(cio_curl_perform(e), -EPERM); /* outside a task */
    curl_easy_cleanup(e);
    assert_string_equal(cio_strerror(CIO_ECURL - CURLE_OPERATION_TIMEDOUT),
                        curl_easy_strerror(CURLE_OPERATION_TIMEDOUT));
}

/* ---- cancellation ---- */

/* Sends the pattern forever, slowly. */
static void trickle(cio_stream *s, void *arg) {
    (void)arg;
    char line[512];
    while (cio_stream_readline(s, line, sizeof line) > 2)
        ;
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n";
    cio_stream_write(s, head, strlen(head));
    unsigned char buf[1000];
    for (size_t off = 0;; off += sizeof buf) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = peers_pattern(off + i, 5);
        if (cio_stream_write(s, buf, sizeof buf) < 0 || cio_sleep(0.01) < 0)
            return;
    }
}

typedef struct perf {
    CURL *e;
    int r;
} perf;

static void *perform_task(void *arg) {
    perf *p = arg;
    p->r = cio_curl_perform(p->e);
    return NULL;
}

static void *cancel_main(void *arg) {
    (void)arg;
    cio_server *srv = cio_start_server("127.0.0.1", 0, trickle, NULL);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/slow", cio_server_port(srv));
    sink s = {.seed = 5};
    CURL *e = easy_for(url, &s);
    for (int round = 0; round < 20; round++) {
        s = (sink){.seed = 5};
        perf p = {.e = e, .r = 1};
        cio_future *t = cio_create_task(perform_task, &p);
        cio_sleep(round % 2 ? 0.05 : 0.0); /* before the connection, and mid-body */
        assert_true(cio_cancel(t));
        cio_await(t, NULL);
        cio_future_unref(t);
        assert_int_equal(p.r, -ECANCELED);
        unsigned calls = s.calls;
        cio_sleep(0.05); /* no callback of the removed transfer afterwards */
        assert_int_equal(s.calls, calls);
        assert_false(s.bad);
    }
    /* The easy handle works again afterwards. */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/f2.bin", http_port);
    s = (sink){.seed = 2};
    curl_easy_setopt(e, CURLOPT_URL, url);
    assert_int_equal(cio_curl_perform(e), 0);
    assert_int_equal(s.got, sizes[2]);
    assert_false(s.bad);
    curl_easy_cleanup(e);
    cio_server_close_clients(srv);
    cio_server_free(srv);
    return NULL;
}

static void test_cancel(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancel_main, NULL, NULL), 0);
}

/* ---- many at once ---- */

enum { MANY = 200 };

typedef struct many {
    char url[256];
    sink s;
    CURL *e;
    int r;
    long version;
    long connects;
} many;

static void *many_task(void *arg) {
    many *m = arg;
    m->r = cio_curl_perform(m->e);
    curl_easy_getinfo(m->e, CURLINFO_HTTP_VERSION, &m->version);
    curl_easy_getinfo(m->e, CURLINFO_NUM_CONNECTS, &m->connects);
    return NULL;
}

typedef struct many_cfg {
    const char *scheme;
    unsigned port;
    int n;
    bool http2;
} many_cfg;

static void *many_main(void *arg) {
    many_cfg *cfg = arg;
    many *ms = calloc((size_t)cfg->n, sizeof *ms);
    cio_future **fs = calloc((size_t)cfg->n, sizeof *fs);
    char ca[512];
    peers_path(ca, sizeof ca, dir, "ca.pem");
    for (int i = 0; i < cfg->n; i++) {
        int f = 1 + i % (NFILES - 1);
        url_of(ms[i].url, sizeof ms[i].url, cfg->scheme, cfg->port, f);
        ms[i].s.seed = (unsigned)f;
        ms[i].e = easy_for(ms[i].url, &ms[i].s);
        curl_easy_setopt(ms[i].e, CURLOPT_CAINFO, ca);
        if (cfg->http2) {
            curl_easy_setopt(ms[i].e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
            curl_easy_setopt(ms[i].e, CURLOPT_PIPEWAIT, 1L);
        }
        fs[i] = cio_create_task(many_task, &ms[i]);
    }
    assert_int_equal(cio_gather(fs, (size_t)cfg->n, 0), 0);
    long connects = 0;
    for (int i = 0; i < cfg->n; i++) {
        int f = 1 + i % (NFILES - 1);
        assert_int_equal(ms[i].r, 0);
        assert_int_equal(ms[i].s.got, sizes[f]);
        assert_false(ms[i].s.bad);
        if (cfg->http2)
            assert_int_equal(ms[i].version, CURL_HTTP_VERSION_2_0);
        connects += ms[i].connects;
        curl_easy_cleanup(ms[i].e);
        cio_future_unref(fs[i]);
    }
    if (cfg->http2) /* multiplexed: a handful of connections, not one per transfer */
        assert_true(connects <= 4);
    free(ms);
    free(fs);
    return NULL;
}

static void test_200_concurrent(void **state) {
    (void)state;
    many_cfg cfg = {"http", http_port, MANY, false};
    assert_int_equal(cio_run(many_main, &cfg, NULL), 0);
}

static void test_http2_multiplexed(void **state) {
    (void)state;
    if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2))
        skip();
    many_cfg cfg = {"https", https_port, 50, true};
    assert_int_equal(cio_run(many_main, &cfg, NULL), 0);
}

/* ---- the download example over HTTPS, certificates checked ---- */

static void test_download_example_https(void **state) {
    (void)state;
    char self[1024], cmd[8192];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    *strrchr(self, '/') = '\0'; /* <build>/tests/curl */
    *strrchr(self, '/') = '\0'; /* <build>/tests */
    *strrchr(self, '/') = '\0'; /* <build> */
    char bin[1100];
    snprintf(bin, sizeof bin, "%s/examples/download", self);
    if (access(bin, X_OK) != 0)
        fail_msg("%s is not built (make examples)", bin);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' --cacert ca.pem https://localhost:%u/f3.bin "
             "https://localhost:%u/f2.bin > download.out 2>&1 && cmp f3.bin www/f3.bin && "
             "cmp f2.bin www/f2.bin && grep -q 'concurrent: 2 files' download.out && "
             "grep -q 'f3.bin: 50%%' download.out",
             dir, bin, https_port, https_port);
    assert_int_equal(system(cmd), 0);
    /* Without the test's CA the certificate is refused, and it says so. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ! '%s' https://localhost:%u/f1.bin > refused.out 2>&1 && "
             "grep -q 'failed (SSL peer certificate or SSH remote key was not OK)' refused.out",
             dir, bin, https_port);
    assert_int_equal(system(cmd), 0);
}

/* ---- setup ---- */

static int setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (peers_make_certs(dir, sizeof dir) < 0)
        return -1;
    char www[512], path[600];
    peers_path(www, sizeof www, dir, "www");
    mkdir(www, 0755);
    for (int i = 0; i < NFILES; i++) {
        snprintf(path, sizeof path, "%s/f%d.bin", www, i);
        if (peers_write_file(path, sizes[i], (unsigned)i) < 0)
            return -1;
    }
    http_port = peers_free_port();
    nginx_http = peers_nginx(dir, http_port, 0, 0);
    /* a second nginx needs its own pid file: a sub-directory of its own */
    char sub[512];
    peers_path(sub, sizeof sub, dir, "tls");
    mkdir(sub, 0755);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp %s/*.pem %s/*.key %s/ && ln -s %s %s/www", dir, dir, sub, www,
             sub);
    if (system(cmd) != 0)
        return -1;
    https_port = peers_free_port();
    nginx_https = peers_nginx(sub, https_port, 1, 1);
    return nginx_http > 0 && nginx_https > 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    peers_stop(nginx_http);
    peers_stop(nginx_https);
    peers_rm_dir(dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_downloads),
        cmocka_unit_test(test_https_verified),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_200_concurrent),
        cmocka_unit_test(test_http2_multiplexed),
        cmocka_unit_test(test_download_example_https),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
