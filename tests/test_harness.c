/* The test harness (tests/cio_test.h): one failing test, even one that fails
 * inside a running task, must not hide or break the tests after it. */
#include "cio_test.h"

#include <cio.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the inner group, run in a child by the outer test ---- */

static void *fails_in_task(void *arg) {
    (void)arg;
    cio_sleep(0.001);
    assert_int_equal(1, 2); /* longjmps out of the task's stack */
    return NULL;
}

static void test_inner_fails_in_task(void **state) {
    (void)state;
    cio_run(fails_in_task, NULL, NULL);
}

static void *answer(void *arg) {
    (void)arg;
    return (void *)42;
}

static void test_inner_runs_after(void **state) {
    (void)state;
    void *r = NULL;
    assert_int_equal(cio_run(answer, NULL, &r), 0);
    assert_ptr_equal(r, (void *)42);
}

static int inner_main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inner_fails_in_task),
        cmocka_unit_test(test_inner_runs_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ---- the outer test ---- */

static char self[1024];

/* Runs this binary with --inner; its stdout and stderr land in buf. */
static int run_inner(char *buf, size_t cap) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        execl(self, self, "--inner", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void test_failure_in_task_is_reported_alone(void **state) {
    (void)state;
    char out[16384];
    int st = run_inner(out, sizeof out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1); /* one test failed */
    assert_non_null(strstr(out, "[  FAILED  ] test_inner_fails_in_task"));
    assert_non_null(strstr(out, "[       OK ] test_inner_runs_after"));
    assert_null(strstr(out, "[  FAILED  ] test_inner_runs_after"));
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--inner") == 0)
        return inner_main();
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return 1;
    self[n] = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failure_in_task_is_reported_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
