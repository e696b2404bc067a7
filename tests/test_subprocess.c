/* Subprocesses: exit codes and signals, pipes (streams and communicate, 1 MiB
 * both ways), stderr separate and merged, cwd and env, programs that cannot
 * run, cancelled and concurrent waits, the loop staying live during a wait,
 * freeing a running process, and 500 processes leaving no zombie and no fd. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void run(cio_fn fn) {
    void *res = (void *)1;
    assert_int_equal(cio_run(fn, NULL, &res), 0);
    assert_null(res);
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* Processes whose parent is us (zombies included). */
static int children(void) {
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *rp = strrchr(buf, ')'); /* comm may hold spaces */
        char state;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid())
            n++;
    }
    closedir(d);
    return n;
}

/* Children and fds go back to the baseline (the reaper works in the
 * background: give it time, never a fixed sleep). */
static void settle(int fds) {
    for (int i = 0; i < 500 && (children() || open_fds() != fds); i++)
        usleep(10000);
    assert_int_equal(children(), 0);
    assert_int_equal(open_fds(), fds);
}

static int status_of(const char *cmd) {
    cio_process *p = cio_subprocess_shell(cmd, NULL);
    assert_non_null(p);
    int rc = 12345;
    assert_int_equal(cio_process_wait(p, &rc), 0);
    int again = 54321;
    assert_int_equal(cio_process_wait(p, &again), 0); /* done: at once, the same code */
    assert_int_equal(again, rc);
    assert_int_equal(cio_process_returncode(p, &again), 0);
    assert_int_equal(again, rc);
    cio_process_free(p);
    return rc;
}

static void *exit_codes_main(void *arg) {
    (void)arg;
    assert_int_equal(status_of("true"), 0);
    assert_int_equal(status_of("exit 3"), 3);
    assert_int_equal(status_of("exit 255"), 255);
    assert_int_equal(status_of("kill -TERM $$"), -SIGTERM);
    const char *argv[] = {"false", NULL}; /* a PATH search */
    cio_process *p = cio_subprocess_exec(argv, NULL);
    assert_non_null(p);
    assert_true(cio_process_pid(p) > 0);
    int rc;
    assert_int_equal(cio_process_returncode(p, &rc), -EAGAIN);
    assert_int_equal(cio_process_wait(p, &rc), 0);
    assert_int_equal(rc, 1);
    assert_int_equal(cio_process_kill(p), -ESRCH); /* reaped: its pid may be anybody's */
    cio_process_free(p);
    return NULL;
}

static void test_exit_codes(void **state) {
    (void)state;
    int fds = open_fds();
    run(exit_codes_main);
    settle(fds);
}

static void *kill_main(void *arg) {
    (void)arg;
    const char *argv[] = {"sleep", "30", NULL};
    cio_process *p = cio_subprocess_exec(argv, NULL);
    assert_non_null(p);
    assert_int_equal(cio_process_kill(p), 0);
    int rc;
    assert_int_equal(cio_process_wait(p, &rc), 0);
    assert_int_equal(rc, -SIGKILL);
    cio_process_free(p);

    p = cio_subprocess_exec(argv, NULL);
    assert_non_null(p);
    assert_int_equal(cio_process_terminate(p), 0);
    assert_int_equal(cio_process_wait(p, &rc), 0);
    assert_int_equal(rc, -SIGTERM);
    assert_int_equal(cio_process_send_signal(p, -1), -EINVAL);
    cio_process_free(p);
    return NULL;
}

static void test_kill(void **state) {
    (void)state;
    run(kill_main);
}

enum { MIB = 1024 * 1024 };

static void *cat_main(void *arg) {
    (void)arg;
    char *in = malloc(MIB);
    assert_non_null(in);
    for (size_t i = 0; i < MIB; i++)
        in[i] = (char)(i * 7 + i / 4096);
    const char *argv[] = {"cat", NULL};
    cio_process_options o = {.stdin_mode = CIO_STDIO_PIPE, .stdout_mode = CIO_STDIO_PIPE};
    cio_process *p = cio_subprocess_exec(argv, &o);
    assert_non_null(p);
    assert_non_null(cio_process_stdin(p));
    assert_null(cio_process_stderr(p));
    char *out = NULL, *err = (char *)1;
    size_t out_len = 0, err_len = 7;
    assert_int_equal(cio_process_communicate(p, in, MIB, &out, &out_len, &err, &err_len), 0);
    assert_int_equal(out_len, MIB);
    assert_memory_equal(out, in, MIB);
    assert_int_equal(out[MIB], '\0');
    assert_null(err); /* not a pipe */
    assert_int_equal(err_len, 0);
    assert_null(cio_process_stdin(p)); /* communicate closed it */
    int rc;
    assert_int_equal(cio_process_returncode(p, &rc), 0);
    assert_int_equal(rc, 0);
    free(out);
    cio_process_free(p);
    free(in);
    return NULL;
}

static void test_communicate_cat(void **state) {
    (void)state;
    int fds = open_fds();
    run(cat_main);
    settle(fds);
}

static void *stderr_main(void *arg) {
    (void)arg;
    const char *cmd = "echo out; echo err >&2; echo out2";
    cio_process_options o = {.stdout_mode = CIO_STDIO_PIPE, .stderr_mode = CIO_STDIO_PIPE};
    cio_process *p = cio_subprocess_shell(cmd, &o);
    assert_non_null(p);
    char *out, *err;
    size_t out_len, err_len;
    assert_int_equal(cio_process_communicate(p, NULL, 0, &out, &out_len, &err, &err_len), 0);
    assert_string_equal(out, "out\nout2\n");
    assert_int_equal(out_len, 9);
    assert_string_equal(err, "err\n");
    free(out);
    free(err);
    cio_process_free(p);

    o.stderr_mode = CIO_STDIO_STDOUT;
    p = cio_subprocess_shell(cmd, &o);
    assert_non_null(p);
    assert_null(cio_process_stderr(p));
    assert_int_equal(cio_process_communicate(p, NULL, 0, &out, &out_len, &err, &err_len), 0);
    assert_string_equal(out, "out\nerr\nout2\n"); /* one socket, in order */
    assert_null(err);
    free(out);
    cio_process_free(p);

    o.stderr_mode = CIO_STDIO_DEVNULL;
    p = cio_subprocess_shell(cmd, &o);
    assert_non_null(p);
    assert_int_equal(cio_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL), 0);
    assert_string_equal(out, "out\nout2\n");
    free(out);
    cio_process_free(p);

    o.stdout_mode = CIO_STDIO_STDOUT; /* only stderr may go to stdout */
    errno = 0;
    assert_null(cio_subprocess_shell(cmd, &o));
    assert_int_equal(errno, EINVAL);
    o = (cio_process_options){.stdin_mode = 9};
    assert_null(cio_subprocess_shell(cmd, &o));
    assert_int_equal(errno, EINVAL);
    return NULL;
}

static void test_stderr(void **state) {
    (void)state;
    int fds = open_fds();
    run(stderr_main);
    settle(fds);
}

static void *cwd_env_main(void *arg) {
    (void)arg;
    char *const envp[] = {"CIO_TEST_VAR=hello there", "PATH=/usr/bin:/bin", NULL};
    cio_process_options o = {.stdout_mode = CIO_STDIO_PIPE, .cwd = "/proc", .envp = envp};
    cio_process *p =
        cio_subprocess_shell("pwd; echo \"$CIO_TEST_VAR\"; echo \"${HOME-unset}\"", &o);
    assert_non_null(p);
    char *out;
    assert_int_equal(cio_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL), 0);
    assert_string_equal(out, "/proc\nhello there\nunset\n");
    free(out);
    cio_process_free(p);

    o.cwd = "/nonexistent/dir";
    errno = 0;
    assert_null(cio_subprocess_shell("true", &o));
    assert_int_equal(errno, ENOENT);
    return NULL;
}

static void test_cwd_env(void **state) {
    (void)state;
    run(cwd_env_main);
}

static void *cannot_run_main(void *arg) {
    (void)arg;
    cio_process_options o = {.stdin_mode = CIO_STDIO_PIPE, .stdout_mode = CIO_STDIO_PIPE};
    const char *missing[] = {"/nonexistent/program", NULL};
    errno = 0;
    assert_null(cio_subprocess_exec(missing, &o));
    assert_int_equal(errno, ENOENT);
    const char *missing_path[] = {"cio-no-such-program-anywhere", NULL};
    assert_null(cio_subprocess_exec(missing_path, NULL));
    assert_int_equal(errno, ENOENT);
    char tmp[] = "/tmp/cio_noexecXXXXXX"; /* a file without the x bit */
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    const char *noexec[] = {tmp, NULL};
    errno = 0;
    assert_null(cio_subprocess_exec(noexec, NULL));
    assert_int_equal(errno, EACCES);
    unlink(tmp);
    const char *empty[] = {NULL};
    assert_null(cio_subprocess_exec(empty, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_subprocess_exec(NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_subprocess_shell(NULL, NULL));
    assert_int_equal(errno, EINVAL);
    /* bad arguments to the rest */
    int rc;
    assert_int_equal(cio_process_wait(NULL, &rc), -EINVAL);
    assert_int_equal(cio_process_kill(NULL), -EINVAL);
    assert_int_equal(cio_process_communicate(NULL, NULL, 0, NULL, NULL, NULL, NULL), -EINVAL);
    cio_process *p = cio_subprocess_shell("true", NULL); /* input without a stdin pipe */
    assert_non_null(p);
    assert_int_equal(cio_process_communicate(p, "x", 1, NULL, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(cio_process_wait(p, &rc), 0);
    cio_process_free(p);
    cio_process_free(NULL);
    return NULL;
}

static void test_cannot_run(void **state) {
    (void)state;
    int fds = open_fds();
    run(cannot_run_main);
    settle(fds);
}

/* Fds above 2 that this process got without close-on-exec (from whoever
 * started the test, not from cio). */
static int inherited_fds(void) {
    int n = 0;
    for (int fd = 3; fd < 1024; fd++) {
        int fl = fcntl(fd, F_GETFD);
        n += fl >= 0 && !(fl & FD_CLOEXEC);
    }
    return n;
}

/* Only 0-2 cross exec: the ring, the eventfd, pidfds and the pipes of
 * another child stay behind (ls opens one fd of its own for the directory). */
static void *only_stdio_main(void *arg) {
    (void)arg;
    cio_process_options o = {
        .stdin_mode = CIO_STDIO_PIPE, .stdout_mode = CIO_STDIO_PIPE, .stderr_mode = CIO_STDIO_PIPE};
    const char *cat[] = {"cat", NULL};
    cio_process *other = cio_subprocess_exec(cat, &o);
    assert_non_null(other);
    cio_process *p = cio_subprocess_shell("ls /proc/self/fd | wc -l", &o);
    assert_non_null(p);
    char *out;
    assert_int_equal(cio_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL), 0);
    assert_int_equal(atoi(out), 4 + inherited_fds()); /* 0-2, ls's directory, the harness's */
    free(out);
    cio_process_free(p);
    assert_int_equal(cio_process_communicate(other, NULL, 0, NULL, NULL, NULL, NULL), 0);
    cio_process_free(other);
    return NULL;
}

static void test_only_stdio_crosses(void **state) {
    (void)state;
    run(only_stdio_main);
}

static void *streams_main(void *arg) {
    (void)arg;
    const char *argv[] = {"cat", NULL};
    cio_process_options o = {.stdin_mode = CIO_STDIO_PIPE, .stdout_mode = CIO_STDIO_PIPE};
    cio_process *p = cio_subprocess_exec(argv, &o);
    assert_non_null(p);
    char line[64];
    for (int i = 0; i < 3; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "line %d\n", i);
        assert_int_equal(cio_stream_write(cio_process_stdin(p), msg, (size_t)n), 0);
        assert_int_equal(cio_stream_readline(cio_process_stdout(p), line, sizeof line), n);
        assert_string_equal(line, msg);
    }
    assert_int_equal(cio_stream_write_eof(cio_process_stdin(p)), 0);
    assert_int_equal(cio_stream_readline(cio_process_stdout(p), line, sizeof line), 0); /* EOF */
    int rc;
    assert_int_equal(cio_process_wait(p, &rc), 0);
    assert_int_equal(rc, 0);
    cio_process_free(p);
    return NULL;
}

static void test_streams(void **state) {
    (void)state;
    int fds = open_fds();
    run(streams_main);
    settle(fds);
}

static int ticks;

static void *ticker(void *arg) {
    (void)arg;
    for (;;) {
        if (cio_sleep(0.01) < 0)
            return NULL;
        ticks++;
    }
}

static void *ticking_main(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(ticker, NULL);
    assert_non_null(t);
    cio_process *p = cio_subprocess_shell("sleep 0.3", NULL);
    assert_non_null(p);
    ticks = 0;
    int rc;
    assert_int_equal(cio_process_wait(p, &rc), 0);
    assert_int_equal(rc, 0);
    assert_true(ticks >= 3); /* the loop ran while the task waited (10 ms ticks over 300 ms) */
    cio_process_free(p);
    cio_cancel(t);
    cio_await(t, NULL);
    cio_future_unref(t);
    return NULL;
}

static void test_wait_keeps_loop_running(void **state) {
    (void)state;
    run(ticking_main);
}

typedef struct waiter_arg {
    cio_process *p;
    int rc, r;
} waiter_arg;

static void *waiter(void *arg) {
    waiter_arg *w = arg;
    w->r = cio_process_wait(w->p, &w->rc);
    return NULL;
}

static void *cancelled_wait_main(void *arg) {
    (void)arg;
    const char *argv[] = {"sleep", "30", NULL};
    cio_process *p = cio_subprocess_exec(argv, NULL);
    assert_non_null(p);
    waiter_arg w[3] = {{.p = p, .r = 1}, {.p = p, .r = 1}, {.p = p, .r = 1}};
    cio_future *t[3];
    for (int i = 0; i < 3; i++)
        assert_non_null(t[i] = cio_create_task(waiter, &w[i]));
    assert_int_equal(cio_sleep(0.05), 0);
    /* The polling waiter is cancelled: another takes over. */
    cio_cancel(t[0]);
    cio_await(t[0], NULL);
    assert_int_equal(w[0].r, -ECANCELED);
    assert_int_equal(kill(cio_process_pid(p), 0), 0); /* still running */
    assert_false(cio_future_done(t[1]));
    cio_cancel(t[2]);
    cio_await(t[2], NULL);
    assert_int_equal(w[2].r, -ECANCELED);
    assert_int_equal(cio_process_kill(p), 0);
    assert_int_equal(cio_await(t[1], NULL), 0);
    assert_int_equal(w[1].r, 0);
    assert_int_equal(w[1].rc, -SIGKILL);
    for (int i = 0; i < 3; i++)
        cio_future_unref(t[i]);
    cio_process_free(p);
    return NULL;
}

static void test_cancelled_wait(void **state) {
    (void)state;
    int fds = open_fds();
    run(cancelled_wait_main);
    settle(fds);
}

typedef struct comm_arg {
    cio_process *p;
    int r;
} comm_arg;

static void *communicator(void *arg) {
    comm_arg *c = arg;
    char *out = NULL;
    c->r = cio_process_communicate(c->p, "abc", 3, &out, NULL, NULL, NULL);
    assert_null(out);
    return NULL;
}

static void *cancelled_communicate_main(void *arg) {
    (void)arg;
    cio_process_options o = {.stdin_mode = CIO_STDIO_PIPE, .stdout_mode = CIO_STDIO_PIPE};
    cio_process *p = cio_subprocess_shell("cat; exec sleep 30", &o);
    assert_non_null(p);
    comm_arg c = {.p = p, .r = 1};
    cio_future *t = cio_create_task(communicator, &c);
    assert_int_equal(cio_sleep(0.1), 0);
    cio_cancel(t);
    cio_await(t, NULL);
    cio_future_unref(t);
    assert_int_equal(c.r, -ECANCELED);
    assert_int_equal(kill(cio_process_pid(p), 0), 0); /* the process goes on */
    assert_int_equal(cio_process_kill(p), 0);
    int rc;
    assert_int_equal(cio_process_wait(p, &rc), 0);
    assert_int_equal(rc, -SIGKILL);
    cio_process_free(p);
    return NULL;
}

static void test_cancelled_communicate(void **state) {
    (void)state;
    int fds = open_fds();
    run(cancelled_communicate_main);
    settle(fds);
}

/* Freed while running (pipes open, data unsent): reaped in the background. */
static void *free_running_main(void *arg) {
    (void)arg;
    cio_process_options o = {.stdin_mode = CIO_STDIO_PIPE, .stdout_mode = CIO_STDIO_PIPE};
    for (int i = 0; i < 5; i++) {
        cio_process *p = cio_subprocess_shell("sleep 0.2", &o);
        assert_non_null(p);
        assert_int_equal(cio_stream_write(cio_process_stdin(p), "unsent", 6), 0);
        cio_process_free(p);
    }
    return NULL;
}

static void test_free_running(void **state) {
    (void)state;
    int fds = open_fds();
    run(free_running_main);
    assert_true(children() > 0); /* still sleeping when the loop is gone */
    settle(fds);                 /* and reaped, with the reaper's own fd closed */
}

enum { MANY = 500 };

static int many_ok;

static void *short_process(void *arg) {
    long i = (long)arg;
    char cmd[32];
    snprintf(cmd, sizeof cmd, "exit %ld", i % 7);
    cio_process_options o = {.stdout_mode = i % 2 ? CIO_STDIO_PIPE : CIO_STDIO_DEVNULL};
    cio_process *p = cio_subprocess_shell(cmd, &o);
    if (!p)
        return cio_fail(-errno);
    int rc = -1;
    int r = cio_process_wait(p, &rc);
    cio_process_free(p);
    if (r < 0)
        return cio_fail(r);
    if (rc == i % 7)
        many_ok++;
    return NULL;
}

static void *many_main(void *arg) {
    (void)arg;
    cio_future *fs[MANY];
    many_ok = 0;
    for (long i = 0; i < MANY; i++)
        assert_non_null(fs[i] = cio_create_task(short_process, (void *)i));
    assert_int_equal(cio_gather(fs, MANY, 0), 0);
    for (int i = 0; i < MANY; i++)
        cio_future_unref(fs[i]);
    assert_int_equal(many_ok, MANY);
    return NULL;
}

static void test_many(void **state) {
    (void)state;
    int fds = open_fds();
    run(many_main);
    assert_int_equal(children(), 0); /* all waited: nothing for the reaper */
    settle(fds);
}

static void test_outside_task(void **state) {
    (void)state;
    int fds = open_fds();
    const char *argv[] = {"sleep", "30", NULL};
    cio_process *p = cio_subprocess_exec(argv, NULL); /* no loop needed to start */
    assert_non_null(p);
    int rc = 0;
    assert_int_equal(cio_process_wait(p, &rc), -EPERM); /* it would have to suspend */
    assert_int_equal(cio_process_kill(p), 0);
    int r;
    for (int i = 0; i < 500 && (r = cio_process_wait(p, &rc)) == -EPERM; i++)
        usleep(10000);
    assert_int_equal(r, 0); /* exited: no suspension needed */
    assert_int_equal(rc, -SIGKILL);
    cio_process_free(p);
    settle(fds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_kill),
        cmocka_unit_test(test_communicate_cat),
        cmocka_unit_test(test_stderr),
        cmocka_unit_test(test_cwd_env),
        cmocka_unit_test(test_cannot_run),
        cmocka_unit_test(test_only_stdio_crosses),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_wait_keeps_loop_running),
        cmocka_unit_test(test_cancelled_wait),
        cmocka_unit_test(test_cancelled_communicate),
        cmocka_unit_test(test_free_running),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_outside_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
