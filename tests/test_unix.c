/* Unix-socket streams and servers: echo over a path and an abstract name,
 * stale socket files replaced, live ones and other files refused, SCM_RIGHTS
 * passing (and closing what does not fit), bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];
static char path[128];

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/cio_unix_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sock", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static void run(cio_fn fn, void *arg) {
    void *res = NULL;
    assert_int_equal(cio_run(fn, arg, &res), 0);
}

static void echo(cio_stream *s, void *arg) {
    (void)arg;
    char line[128];
    ssize_t n;
    while ((n = cio_stream_readline(s, line, sizeof line)) > 0)
        cio_stream_write(s, line, (size_t)n);
}

static void *echo_main(void *arg) {
    const char *name = arg;
    cio_server *srv = cio_start_unix_server(name, echo, NULL);
    assert_non_null(srv);
    assert_int_equal(cio_server_port(srv), 0);
    for (int i = 0; i < 3; i++) {
        cio_stream *c = cio_open_unix_connection(name);
        assert_non_null(c);
        assert_int_equal(cio_stream_write(c, "ping\n", 5), 0);
        char line[16];
        assert_int_equal(cio_stream_readline(c, line, sizeof line), 5);
        assert_string_equal(line, "ping\n");
        assert_int_equal(cio_stream_close(c), 0);
    }
    cio_server_close(srv);
    assert_int_equal(cio_server_wait_closed(srv), 0);
    cio_server_free(srv);
    return NULL;
}

static void test_echo_path(void **state) {
    (void)state;
    run(echo_main, path);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0); /* left behind, as documented */
    assert_true(S_ISSOCK(st.st_mode));
}

static void test_echo_abstract(void **state) {
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "@cio-test-%d", (int)getpid());
    run(echo_main, name);
    /* Nothing in the file system, and the name is free again. */
    run(echo_main, name);
}

/* A socket file whose server died: the next server takes the path over. */
static void test_stale_socket(void **state) {
    (void)state;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd); /* bound, never listened, now gone: a stale file */
    run(echo_main, path);
}

static void *live_main(void *arg) {
    (void)arg;
    cio_server *a = cio_start_unix_server(path, echo, NULL);
    assert_non_null(a);
    assert_null(cio_start_unix_server(path, echo, NULL)); /* alive: not taken over */
    assert_int_equal(errno, EADDRINUSE);
    cio_server_free(a);
    unlink(path);
    /* Any other kind of file is never removed. */
    int f = open(path, O_CREAT | O_WRONLY, 0600);
    close(f);
    assert_null(cio_start_unix_server(path, echo, NULL));
    assert_int_equal(errno, EADDRINUSE);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(path);
    return NULL;
}

static void test_live_socket_and_other_files(void **state) {
    (void)state;
    run(live_main, NULL);
}

static int count_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

static void *fds_main(void *arg) {
    (void)arg;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    int fds[2] = {p[0], p[1]};
    assert_int_equal(cio_unix_send_fds(sv[0], "x", 1, fds, 2), 1);
    char b;
    int got[2] = {-1, -1};
    size_t n = 2;
    assert_int_equal(cio_unix_recv_fds(sv[1], &b, 1, got, &n), 1);
    assert_int_equal(n, 2);
    assert_int_equal(b, 'x');
    /* The received pair is the same pipe, and close-on-exec. */
    assert_int_equal(write(got[1], "z", 1), 1);
    assert_int_equal(read(p[0], &b, 1), 1);
    assert_int_equal(b, 'z');
    assert_true(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
    close(got[0]);
    close(got[1]);
    /* Room for one: the other is closed, not leaked. */
    int before = count_fds();
    assert_int_equal(cio_unix_send_fds(sv[0], "y", 1, fds, 2), 1);
    n = 1;
    assert_int_equal(cio_unix_recv_fds(sv[1], &b, 1, got, &n), 1);
    assert_int_equal(n, 1);
    assert_int_equal(count_fds(), before + 1);
    close(got[0]);
    /* Bad input. */
    assert_int_equal(cio_unix_send_fds(-1, "x", 1, NULL, 0), -EINVAL);
    assert_int_equal(cio_unix_send_fds(sv[0], "x", 0, NULL, 0), -EINVAL);
    assert_int_equal(cio_unix_send_fds(sv[0], "x", 1, NULL, 1), -EINVAL);
    assert_int_equal(cio_unix_recv_fds(sv[1], &b, 1, got, NULL), -EINVAL);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_pass_fds(void **state) {
    (void)state;
    run(fds_main, NULL);
}

static void *bad_main(void *arg) {
    (void)arg;
    assert_null(cio_open_unix_connection(NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_open_unix_connection(""));
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    assert_null(cio_open_unix_connection(longp));
    assert_int_equal(errno, ENAMETOOLONG);
    assert_null(cio_open_unix_connection(path)); /* nobody there */
    assert_int_equal(errno, ENOENT);
    assert_null(cio_start_unix_server(path, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    return NULL;
}

static void test_bad_input(void **state) {
    (void)state;
    assert_null(cio_start_unix_server(path, echo, NULL)); /* no loop */
    assert_int_equal(errno, EPERM);
    run(bad_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_abstract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_socket_and_other_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pass_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
