/* The examples users run, on small data, checked by their output and files:
 * prime counts in every mode, the image pipeline's files, dimensions and
 * edge checksums of known inputs, and downloads byte-identical to the
 * served files — from the example's own server and from nginx; and the same
 * programs where io_uring is blocked (a seccomp filter like Docker's). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "no_io_uring.h"

static char bin_dir[1024]; /* <build>/examples */
static char self_path[1024];

/* Runs a command line, returns its exit status and its stdout (malloc'd). */
static int run(const char *cmd, char **out) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int count_lines_with(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static char *make_tmpdir(void) {
    char *d = strdup("/tmp/cio-test-examples-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rm_rf(const char *d) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

/* ---- prime_count ---- */

static void test_prime_count_all_modes(void **state) {
    (void)state;
    char cmd[1200], *out;
    snprintf(cmd, sizeof cmd, "%s/prime_count -n 100000 -k 8 -w 2 --mode all 2>/dev/null", bin_dir);
    assert_int_equal(run(cmd, &out), 0);
    assert_int_equal(count_lines_with(out, " 9592 "), 4); /* seq, blocking, threads, processes */
    assert_null(strstr(out, "WRONG"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s/prime_count -n 1000000 -k 16 -w 2 --mode processes", bin_dir);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, " 78498 "));
    free(out);
    snprintf(cmd, sizeof cmd, "%s/prime_count -k 0 2>/dev/null", bin_dir);
    assert_int_equal(run(cmd, &out), 2); /* bad input: a usage error, not a crash */
    free(out);
}

/* ---- image_pipeline ---- */

/* A binary PPM (stb reads it whatever the file name says). */
static void write_ppm(const char *path, int w, int h, int step) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "P6\n%d %d\n255\n", w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char v = step && x >= w / 2 ? 255 : 100;
            unsigned char px[3] = {v, v, v};
            fwrite(px, 1, 3, f);
        }
    fclose(f);
}

static int count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += l > s && strcmp(e->d_name + l - s, suffix) == 0;
    }
    closedir(d);
    return n;
}

static void test_image_pipeline_known_inputs(void **state) {
    (void)state;
    char *dir = make_tmpdir(), path[1200], cmd[1400], *out;
    snprintf(path, sizeof path, "%s/served", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    /* img000: flat gray (no edge anywhere); img001: a vertical step */
    snprintf(path, sizeof path, "%s/served/img000.png", dir);
    write_ppm(path, 40, 30, 0);
    snprintf(path, sizeof path, "%s/served/img001.jpg", dir);
    write_ppm(path, 40, 30, 1);
    snprintf(cmd, sizeof cmd, "%s/image_pipeline -n 4 -W 64 -H 48 -w 2 -d '%s' --check", bin_dir,
             dir);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "check img000 40x30 edges 0\n"));
    char *step = strstr(out, "check img001 40x30 edges ");
    assert_non_null(step);
    assert_true(strtoull(step + strlen("check img001 40x30 edges "), NULL, 10) > 0);
    /* generated ones: the size asked for */
    assert_non_null(strstr(out, "check img002 64x48 edges "));
    assert_non_null(strstr(out, "check img003 64x48 edges "));
    free(out);
    snprintf(path, sizeof path, "%s/downloaded", dir);
    assert_int_equal(count_files(path, ".png") + count_files(path, ".jpg"), 4);
    snprintf(path, sizeof path, "%s/processed", dir);
    assert_int_equal(count_files(path, "_edges.png"), 4);
    assert_int_equal(count_files(path, "_thumb.png"), 4);
    snprintf(path, sizeof path, "%s/contact_sheet.png", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 100);
    rm_rf(dir);
    free(dir);
}

/* The watch mode: an image already in the folder, one written into it, one
 * renamed into it; each is processed exactly once, whenever it arrives
 * relative to the watcher's start (the start lists the folder too). */
static void test_image_pipeline_watch(void **state) {
    (void)state;
    char *dir = make_tmpdir(), in[1200], path[1300], tmp[1300], cmd[2800];
    snprintf(in, sizeof in, "%s/in", dir);
    assert_int_equal(mkdir(in, 0755), 0);
    snprintf(path, sizeof path, "%s/before.png", in);
    write_ppm(path, 40, 30, 1);
    snprintf(cmd, sizeof cmd, "timeout 120 %s/image_pipeline --watch '%s' --count 3 -d '%s'",
             bin_dir, in, dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    snprintf(path, sizeof path, "%s/written.jpg", in);
    write_ppm(path, 40, 30, 1);
    snprintf(tmp, sizeof tmp, "%s/.partial", in);
    write_ppm(tmp, 40, 30, 0);
    snprintf(path, sizeof path, "%s/renamed.png", in);
    assert_int_equal(rename(tmp, path), 0);
    char out[4096];
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = 0;
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(out, "3 image(s) processed, 0 failed"));
    assert_int_equal(count_lines_with(out, "edges and thumbnail written"), 3);
    snprintf(path, sizeof path, "%s/processed", dir);
    assert_int_equal(count_files(path, "_edges.png"), 3);
    assert_int_equal(count_files(path, "_thumb.png"), 3);
    rm_rf(dir);
    free(dir);
}

/* ---- download: from the example's server, and from nginx ---- */

static void test_download_own_server(void **state) {
    (void)state;
    char *dir = make_tmpdir(), cmd[1400], *out;
    snprintf(cmd, sizeof cmd, "%s/download -n 3 -m 2 -r 0 -d '%s' 2>/dev/null", bin_dir, dir);
    assert_int_equal(run(cmd, &out), 0);
    assert_int_equal(count_lines_with(out, "all identical to the source"), 2);
    free(out);
    rm_rf(dir);
    free(dir);
}

static unsigned free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, l), 0);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(unsigned port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void test_download_from_nginx(void **state) {
    (void)state;
    if (access("/usr/sbin/nginx", X_OK) != 0) {
        /* scripts/deps.sh installs nginx-light with the test group */
        fail_msg("nginx is not installed (/usr/sbin/nginx)");
    }
    char *dir = make_tmpdir(), path[1200], cmd[2400], *out;
    unsigned port = free_port();
    snprintf(path, sizeof path, "%s/www", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    /* two files: one binary pattern, one text */
    snprintf(path, sizeof path, "%s/www/a.bin", dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 3 * 1024 * 1024; i++)
        fputc((i * 7 + i / 251) & 0xff, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/www/b.txt", dir);
    f = fopen(path, "w");
    fputs("served by nginx\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/nginx.conf", dir);
    f = fopen(path, "w");
    fprintf(f,
            "worker_processes 1; pid %s/nginx.pid; error_log %s/error.log;\n"
            "events { worker_connections 64; }\n"
            "http { access_log off; client_body_temp_path %s; proxy_temp_path %s;\n"
            "  fastcgi_temp_path %s; uwsgi_temp_path %s; scgi_temp_path %s;\n"
            "  server { listen 127.0.0.1:%u; root %s/www; } }\n",
            dir, dir, dir, dir, dir, dir, dir, port, dir);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/sbin/nginx", "nginx", "-c", path, "-p", dir, "-g", "daemon off;", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !port_open(port); i++)
        usleep(10000);
    assert_true(port_open(port));
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s/download http://127.0.0.1:%u/a.bin http://127.0.0.1:%u/b.txt "
             "2>/dev/null && cmp a.bin www/a.bin && cmp b.txt www/b.txt",
             dir, bin_dir, port, port);
    int r = run(cmd, &out);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    assert_int_equal(r, 0);
    assert_int_equal(count_lines_with(out, "concurrent: 2 files"), 1);
    free(out);
    rm_rf(dir);
    free(dir);
}

/* ---- where io_uring is blocked ---- */

/* The programs unchanged, with no CIO_BACKEND: AUTO must find epoll. */
static void test_examples_without_io_uring(void **state) {
    (void)state;
    char cmd[2600], *out;
    const char *pre = "env -u CIO_BACKEND";
    snprintf(cmd, sizeof cmd, "%s --no-io-uring %s CIO_DEBUG=1 %s/tutorial/01_run 2>&1", self_path,
             pre, bin_dir);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "Hello ..."));
    assert_non_null(strstr(out, "... World!"));
    assert_non_null(strstr(out, "backend epoll")); /* debug mode says which, and why */
    assert_non_null(strstr(out, "seccomp"));
    free(out);
    snprintf(cmd, sizeof cmd,
             "%s --no-io-uring %s %s/prime_count -n 100000 -k 8 -w 2 --mode all 2>/dev/null",
             self_path, pre, bin_dir);
    assert_int_equal(run(cmd, &out), 0);
    assert_int_equal(count_lines_with(out, " 9592 "), 4);
    free(out);
    char *dir = make_tmpdir();
    snprintf(cmd, sizeof cmd, "%s --no-io-uring %s %s/download -n 3 -m 2 -r 0 -d '%s' 2>/dev/null",
             self_path, pre, bin_dir, dir);
    assert_int_equal(run(cmd, &out), 0);
    assert_int_equal(count_lines_with(out, "all identical to the source"), 2);
    free(out);
    snprintf(cmd, sizeof cmd,
             "%s --no-io-uring %s %s/image_pipeline -n 4 -W 64 -H 48 -w 2 -d '%s' --check "
             "2>/dev/null",
             self_path, pre, bin_dir, dir);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "check img003 64x48 edges "));
    free(out);
    rm_rf(dir);
    free(dir);
}

/* ---- the examples build outside the project's Makefile ----
 *
 * The Makefile defines _GNU_SOURCE; a user who copies an example does not.
 * Every example source must compile with the public header alone. */
static void test_examples_compile_standalone(void **state) {
    (void)state;
    char *out = NULL;
    if (run("command -v cc >/dev/null && test -f include/cio.h && echo yes", &out) != 0 ||
        !strstr(out, "yes")) {
        free(out);
        print_message("skipped: needs cc and the source tree as the current directory\n");
        skip();
    }
    free(out);
    int st = run("for f in examples/*/*.c; do "
                 "cc -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -Iinclude \"$f\" 2>&1 "
                 "|| echo \"FAILED $f\"; done",
                 &out);
    if (strstr(out, "FAILED"))
        print_message("%s", out);
    assert_int_equal(st, 0);
    assert_null(strstr(out, "FAILED"));
    free(out);
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "--no-io-uring")) { /* a wrapper: filter, then exec */
        if (block_io_uring() < 0)
            return 126;
        execvp(argv[2], argv + 2);
        return 127;
    }
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return 1;
    self[n] = 0;
    snprintf(self_path, sizeof self_path, "%s", self);
    /* <build>/tests/test_examples -> <build>/examples */
    snprintf(bin_dir, sizeof bin_dir, "%s/../examples", dirname(self));
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prime_count_all_modes),
        cmocka_unit_test(test_image_pipeline_known_inputs),
        cmocka_unit_test(test_image_pipeline_watch),
        cmocka_unit_test(test_download_own_server),
        cmocka_unit_test(test_download_from_nginx),
        cmocka_unit_test(test_examples_without_io_uring),
        cmocka_unit_test(test_examples_compile_standalone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
