/* The tests' cmocka, with one process per test (as libuv's runner does).
 *
 * A failing cmocka assertion longjmps out of whatever runs: inside a task it
 * leaves that thread's running loop, the task's stack and the loop itself
 * behind, and every later test in the binary would then fail with -EBUSY.
 * Including this header instead of <cmocka.h> makes cmocka_run_group_tests
 * run each test in a forked child, so one failure (or crash, or hang) is
 * reported on its own and the next test starts clean.
 *
 * The group setup and teardown run once, in the parent (the children
 * inherit what the setup made, and get its state as cmocka passes it). Each
 * child has a limit of CIO_TEST_LIMIT seconds (times env CIO_TEST_TIMEOUT,
 * as in tests/run-tests.sh); one that hangs is named and killed. The return
 * value is the number of failed tests, as cmocka's. */
#ifndef CIO_TEST_H
#define CIO_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CIO_TEST_LIMIT 100

static inline unsigned cio_test_limit(void) {
    const char *m = getenv("CIO_TEST_TIMEOUT");
    double f = m ? atof(m) : 1;
    double s = CIO_TEST_LIMIT * (f > 0 ? f : 1);
    return s < 1 ? 1 : (unsigned)s;
}

/* Runs one test in a child; returns whether it passed, after saying why
 * not when the child did not get as far as reporting it itself. The child
 * inherits what the group setup made; state is the group's. */
static inline int cio_test_run_one(const char *group, const struct CMUnitTest *test, void *state) {
    fflush(NULL); /* nothing buffered may be printed twice */
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "[  FAILED  ] %s: fork: %s\n", test->name, strerror(errno));
        return 0;
    }
    if (pid == 0) {
        alarm(cio_test_limit());
        struct CMUnitTest one = *test;
        if (!one.initial_state)
            one.initial_state = state; /* as cmocka hands the group state on */
        int failed = _cmocka_run_group_tests(group, &one, 1, NULL, NULL);
        fflush(NULL);
        exit(failed ? 1 : 0); /* exit, not _exit: LeakSanitizer checks each test */
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 1;
    if (WIFSIGNALED(st))
        fprintf(stderr, "[  FAILED  ] %s: %s%s\n", test->name, strsignal(WTERMSIG(st)),
                WTERMSIG(st) == SIGALRM ? " (the per-test time limit)" : "");
    else if (WEXITSTATUS(st) != 1)
        fprintf(stderr, "[  FAILED  ] %s: exit status %d\n", test->name, WEXITSTATUS(st));
    return 0;
}

/* The group setup and teardown run once, here, around all the children. */
static inline int cio_test_run_group(const char *group, const struct CMUnitTest *tests, size_t n,
                                     CMFixtureFunction setup, CMFixtureFunction teardown) {
    void *state = NULL;
    if (setup && setup(&state) != 0) {
        printf("[  ERROR   ] %s: the group setup failed: %zu test(s) not run\n", group, n);
        return (int)n;
    }
    size_t failed = 0;
    /* On the stack, not the heap: every child exits holding it, and
     * LeakSanitizer checks each child. */
    unsigned char ok[n ? n : 1];
    for (size_t i = 0; i < n; i++) {
        ok[i] = (unsigned char)cio_test_run_one(group, &tests[i], state);
        failed += !ok[i];
    }
    if (teardown && teardown(&state) != 0) {
        printf("[  ERROR   ] %s: the group teardown failed\n", group);
        failed++;
    }
    printf("[==========] %s: %zu test(s), each in its own process: %zu passed, %zu failed\n", group,
           n, n - (failed > n ? n : failed), failed);
    for (size_t i = 0; i < n; i++)
        if (!ok[i])
            printf("[  FAILED  ] %s\n", tests[i].name);
    fflush(stdout);
    return (int)failed;
}

#undef cmocka_run_group_tests
#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                           \
    cio_test_run_group(#group_tests, group_tests, sizeof(group_tests) / sizeof((group_tests)[0]),  \
                       group_setup, group_teardown)

#endif
