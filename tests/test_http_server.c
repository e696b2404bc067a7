/* examples/http_server, run as users run it (the built binary on a free
 * port, serving a directory) and checked byte for byte: every response's
 * status line, header fields and body are compared with what they must be
 * (only the Date value is taken from the response, after checking that it
 * is a valid date of now). Keep-alive with pipelined requests, HEAD, Range,
 * If-Modified-Since, directories, 4xx/5xx, HTTP/1.0, and a clean exit on
 * Ctrl-C. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIN_SIZE 100000

static char bin_dir[1024]; /* <build>/examples */
static char dir[64];       /* the served directory */
static unsigned port;
static pid_t server;
static unsigned char bin_data[BIN_SIZE];

static void write_file(const char *name, const void *data, size_t len) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The served directory, and the server on a free port (it prints it). */
static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/cio-test-http-XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_file("a.txt", "hello world\n", 12);
    for (int i = 0; i < BIN_SIZE; i++)
        bin_data[i] = (unsigned char)(i * 7 + i / 251);
    write_file("b.bin", bin_data, BIN_SIZE);
    char path[256];
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    write_file("sub/index.html", "<p>index</p>\n", 13);
    snprintf(path, sizeof path, "%s/out", dir);
    assert_int_equal(symlink("/etc/hostname", path), 0); /* leads outside the directory */

    int p[2];
    assert_int_equal(pipe(p), 0);
    server = fork();
    assert_true(server >= 0);
    if (server == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        char bin[1200];
        snprintf(bin, sizeof bin, "%s/http_server", bin_dir);
        execl(bin, "http_server", "-b", "127.0.0.1", "-p", "0", dir, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char line[256] = {0};
    size_t len = 0;
    while (len < sizeof line - 1 && read(p[0], line + len, 1) == 1 && line[len] != '\n')
        len++;
    close(p[0]);
    char *colon = strrchr(line, ':');
    assert_non_null(colon);
    port = (unsigned)atoi(colon + 1);
    assert_true(port > 0);
    return 0;
}

/* Ctrl-C ends the server cleanly (exit status 0). */
static int teardown(void **state) {
    (void)state;
    kill(server, SIGINT);
    int st;
    assert_int_equal(waitpid(server, &st, 0), server);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Sends req on a new connection and reads until the server closes it. */
static size_t exchange(const char *req, size_t req_len, char *out, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(send(fd, req, req_len, 0), (ssize_t)req_len);
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, out + len, cap - len, 0);
        assert_true(n >= 0); /* not a timeout: the server closes when it should */
        if (n == 0)
            break;
        len += (size_t)n;
        assert_true(len < cap);
    }
    close(fd);
    return len;
}

static void http_date(char *buf, size_t cap, time_t t) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static time_t mtime_of(const char *name) {
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(stat(path, &st), 0);
    return st.st_mtime;
}

/* Checks that the response at *at is exactly: status line, Server, Date
 * (a valid date within a minute of now), fields, blank line, body; and
 * moves *at past it. fields: the header lines after Date, each ending in
 * \r\n. */
static void expect(const char **at, const char *end, const char *status, const char *fields,
                   const void *body, size_t body_len) {
    char head[2048];
    int n = snprintf(head, sizeof head, "%s\r\nServer: cio-http_server\r\nDate: ", status);
    assert_true((size_t)(end - *at) >= (size_t)n);
    if (memcmp(*at, head, (size_t)n) != 0)
        fail_msg("expected \"%s\", got \"%.*s\"", head, n, *at);
    const char *date = *at + n, *eol = strstr(date, "\r\n");
    assert_non_null(eol);
    struct tm tm = {0};
    char dbuf[64];
    snprintf(dbuf, sizeof dbuf, "%.*s", (int)(eol - date), date);
    const char *rest = strptime(dbuf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    assert_true(rest && *rest == 0);
    assert_true(labs((long)(timegm(&tm) - time(NULL))) < 60);
    n += snprintf(head + n, sizeof head - (size_t)n, "%s\r\n%s\r\n", dbuf, fields);
    assert_true((size_t)(end - *at) >= (size_t)n + body_len);
    if (memcmp(*at, head, (size_t)n) != 0)
        fail_msg("expected head:\n%s\ngot:\n%.*s", head, n, *at);
    assert_memory_equal(*at + n, body, body_len);
    *at += (size_t)n + body_len;
}

/* The fields of a file's 200 / 206 response. */
static void file_fields(char *buf, size_t cap, const char *name, const char *type,
                        const char *range, long long len, const char *conn) {
    char lm[64];
    http_date(lm, sizeof lm, mtime_of(name));
    snprintf(buf, cap,
             "Last-Modified: %s\r\nContent-Type: %s\r\n%sContent-Length: %lld\r\n"
             "Accept-Ranges: bytes\r\n%s",
             lm, type, range, len, conn);
}

static const char *error_fields(char *buf, size_t cap, const char *extra, int body_len,
                                const char *conn) {
    snprintf(buf, cap, "Content-Type: text/plain\r\n%sContent-Length: %d\r\n%s", extra, body_len,
             conn);
    return buf;
}

static char resp[1 << 20];

/* Five pipelined requests on one keep-alive connection, sent in one write:
 * GET, GET of a binary file, HEAD, a directory, and GET with close. */
static void test_keep_alive_pipelined(void **state) {
    (void)state;
    const char *req = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /b.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                      "HEAD /b.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    size_t len = exchange(req, strlen(req), resp, sizeof resp);
    const char *at = resp, *end = resp + len;
    char f[512];
    file_fields(f, sizeof f, "a.txt", "text/plain", "", 12, "");
    expect(&at, end, "HTTP/1.1 200 OK", f, "hello world\n", 12);
    file_fields(f, sizeof f, "b.bin", "application/octet-stream", "", BIN_SIZE, "");
    expect(&at, end, "HTTP/1.1 200 OK", f, bin_data, BIN_SIZE);
    expect(&at, end, "HTTP/1.1 200 OK", f, "", 0); /* HEAD: the same head, no body */
    file_fields(f, sizeof f, "sub/index.html", "text/html", "", 13, "");
    expect(&at, end, "HTTP/1.1 200 OK", f, "<p>index</p>\n", 13);
    file_fields(f, sizeof f, "a.txt", "text/plain", "", 12, "Connection: close\r\n");
    expect(&at, end, "HTTP/1.1 200 OK", f, "hello world\n", 12);
    assert_ptr_equal(at, end); /* and then the server closed the connection */
}

static void test_range(void **state) {
    (void)state;
    const char *req = "GET /b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n"
                      "GET /b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=-5\r\n\r\n"
                      "GET /b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=99990-\r\n\r\n"
                      "GET /b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=99995-200000\r\n\r\n"
                      "GET /b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-\r\n\r\n"
                      "HEAD /b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n"
                      "GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,5-6\r\n"
                      "Connection: close\r\n\r\n";
    size_t len = exchange(req, strlen(req), resp, sizeof resp);
    const char *at = resp, *end = resp + len;
    char f[512];
    const char *bin = "application/octet-stream";
    file_fields(f, sizeof f, "b.bin", bin, "Content-Range: bytes 10-19/100000\r\n", 10, "");
    expect(&at, end, "HTTP/1.1 206 Partial Content", f, bin_data + 10, 10);
    file_fields(f, sizeof f, "b.bin", bin, "Content-Range: bytes 99995-99999/100000\r\n", 5, "");
    expect(&at, end, "HTTP/1.1 206 Partial Content", f, bin_data + 99995, 5);
    file_fields(f, sizeof f, "b.bin", bin, "Content-Range: bytes 99990-99999/100000\r\n", 10, "");
    expect(&at, end, "HTTP/1.1 206 Partial Content", f, bin_data + 99990, 10);
    file_fields(f, sizeof f, "b.bin", bin, "Content-Range: bytes 99995-99999/100000\r\n", 5, "");
    expect(&at, end, "HTTP/1.1 206 Partial Content", f, bin_data + 99995, 5);
    const char *body = "416 Range Not Satisfiable\n";
    expect(&at, end, "HTTP/1.1 416 Range Not Satisfiable",
           error_fields(f, sizeof f, "Content-Range: bytes */100000\r\n", 26, ""), body, 26);
    file_fields(f, sizeof f, "b.bin", bin, "Content-Range: bytes 0-0/100000\r\n", 1, "");
    expect(&at, end, "HTTP/1.1 206 Partial Content", f, "", 0);
    /* several ranges: the server may ignore Range, and does */
    file_fields(f, sizeof f, "a.txt", "text/plain", "", 12, "Connection: close\r\n");
    expect(&at, end, "HTTP/1.1 200 OK", f, "hello world\n", 12);
    assert_ptr_equal(at, end);
}

static void test_if_modified_since(void **state) {
    (void)state;
    char lm[64], before[64], future[64], req[1024], f[512], lm_field[128];
    http_date(lm, sizeof lm, mtime_of("a.txt"));
    http_date(before, sizeof before, mtime_of("a.txt") - 3600);
    http_date(future, sizeof future, time(NULL) + 86400); /* invalid: ignored */
    snprintf(req, sizeof req,
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n"
             "HEAD /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n"
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n"
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n"
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: yesterday\r\n"
             "Connection: close\r\n\r\n",
             lm, lm, before, future);
    size_t len = exchange(req, strlen(req), resp, sizeof resp);
    const char *at = resp, *end = resp + len;
    snprintf(lm_field, sizeof lm_field, "Last-Modified: %s\r\nContent-Type: text/plain\r\n", lm);
    expect(&at, end, "HTTP/1.1 304 Not Modified", lm_field, "", 0);
    expect(&at, end, "HTTP/1.1 304 Not Modified", lm_field, "", 0);
    file_fields(f, sizeof f, "a.txt", "text/plain", "", 12, "");
    expect(&at, end, "HTTP/1.1 200 OK", f, "hello world\n", 12); /* modified since */
    expect(&at, end, "HTTP/1.1 200 OK", f, "hello world\n", 12); /* a future date */
    file_fields(f, sizeof f, "a.txt", "text/plain", "", 12, "Connection: close\r\n");
    expect(&at, end, "HTTP/1.1 200 OK", f, "hello world\n", 12);
    assert_ptr_equal(at, end);
}

/* 404, 403 and 405 keep the connection; a malformed request ends it. */
static void test_errors(void **state) {
    (void)state;
    const char *req = "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /out HTTP/1.1\r\nHost: x\r\n\r\n"
                      "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                      "HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /../a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"; /* never answered */
    size_t len = exchange(req, strlen(req), resp, sizeof resp);
    const char *at = resp, *end = resp + len;
    char f[512];
    expect(&at, end, "HTTP/1.1 404 Not Found", error_fields(f, sizeof f, "", 14, ""),
           "404 Not Found\n", 14);
    expect(&at, end, "HTTP/1.1 403 Forbidden", error_fields(f, sizeof f, "", 14, ""),
           "403 Forbidden\n", 14);
    expect(&at, end, "HTTP/1.1 405 Method Not Allowed",
           error_fields(f, sizeof f, "Allow: GET, HEAD\r\n", 23, ""), "405 Method Not Allowed\n",
           23);
    expect(&at, end, "HTTP/1.1 404 Not Found", error_fields(f, sizeof f, "", 14, ""), "", 0);
    expect(&at, end, "HTTP/1.1 400 Bad Request",
           error_fields(f, sizeof f, "", 16, "Connection: close\r\n"), "400 Bad Request\n", 16);
    assert_ptr_equal(at, end);
}

static void test_versions_and_limits(void **state) {
    (void)state;
    char f[512];
    const char *at, *end;
    /* HTTP/1.0 without keep-alive: one response, then the server closes */
    const char *req = "GET /a.txt HTTP/1.0\r\n\r\nGET /a.txt HTTP/1.0\r\n\r\n";
    size_t len = exchange(req, strlen(req), resp, sizeof resp);
    at = resp, end = resp + len;
    file_fields(f, sizeof f, "a.txt", "text/plain", "", 12, "Connection: close\r\n");
    expect(&at, end, "HTTP/1.1 200 OK", f, "hello world\n", 12);
    assert_ptr_equal(at, end);
    /* HTTP/1.0 keep-alive is said back */
    req = "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /a.txt HTTP/1.0\r\n\r\n";
    len = exchange(req, strlen(req), resp, sizeof resp);
    at = resp, end = resp + len;
    file_fields(f, sizeof f, "a.txt", "text/plain", "", 12, "Connection: keep-alive\r\n");
    expect(&at, end, "HTTP/1.1 200 OK", f, "hello world\n", 12);
    file_fields(f, sizeof f, "a.txt", "text/plain", "", 12, "Connection: close\r\n");
    expect(&at, end, "HTTP/1.1 200 OK", f, "hello world\n", 12);
    assert_ptr_equal(at, end);
    /* HTTP/2.0 in an HTTP/1 request line; HTTP/1.1 without Host */
    req = "GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n";
    len = exchange(req, strlen(req), resp, sizeof resp);
    at = resp, end = resp + len;
    expect(&at, end, "HTTP/1.1 505 HTTP Version Not Supported",
           error_fields(f, sizeof f, "", 31, "Connection: close\r\n"),
           "505 HTTP Version Not Supported\n", 31);
    assert_ptr_equal(at, end);
    req = "GET /a.txt HTTP/1.1\r\n\r\n";
    len = exchange(req, strlen(req), resp, sizeof resp);
    at = resp, end = resp + len;
    expect(&at, end, "HTTP/1.1 400 Bad Request",
           error_fields(f, sizeof f, "", 16, "Connection: close\r\n"), "400 Bad Request\n", 16);
    assert_ptr_equal(at, end);
    /* a head over 8 KiB */
    static char big[16384];
    int n = snprintf(big, sizeof big, "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', 10000);
    memcpy(big + n + 10000, "\r\n\r\n", 4);
    len = exchange(big, (size_t)n + 10004, resp, sizeof resp);
    at = resp, end = resp + len;
    expect(&at, end, "HTTP/1.1 431 Request Header Fields Too Large",
           error_fields(f, sizeof f, "", 36, "Connection: close\r\n"),
           "431 Request Header Fields Too Large\n", 36);
    assert_ptr_equal(at, end);
}

int main(void) {
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return 1;
    self[n] = 0;
    /* <build>/tests/test_http_server -> <build>/examples */
    snprintf(bin_dir, sizeof bin_dir, "%s/../examples", dirname(self));
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_pipelined), cmocka_unit_test(test_range),
        cmocka_unit_test(test_if_modified_since),    cmocka_unit_test(test_errors),
        cmocka_unit_test(test_versions_and_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
