/* The seeds' walk-through in examples/tutorial/: each program prints exactly
 * what the seed's Python prints (delays scaled down with -s). Needs the
 * tutorial built (`make check` builds it); skipped when it is not. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tutorial_dir[1024]; /* <build>/examples/tutorial */

/* Runs the program with its delays scaled down; its stdout must be want. */
static void expect_output(const char *name, const char *want) {
    char path[1200], cmd[1300];
    snprintf(path, sizeof path, "%s/%s", tutorial_dir, name);
    if (access(path, X_OK) != 0) {
        print_message("skipped: %s is not built\n", path);
        skip();
    }
    snprintf(cmd, sizeof cmd, "'%s' -s 0.01", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096];
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = 0;
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(out, want);
}

static void test_greenlet_switch(void **state) {
    (void)state;
    expect_output("08_greenlet_switch", "1\n3\n2\n4\n");
}

static void test_generator(void **state) {
    (void)state;
    expect_output("09_generator", "1\n3\n4\n2\n");
}

static void test_to_thread(void **state) {
    (void)state;
    expect_output("10_to_thread",
                  "started main\nstart blocking_io\nblocking_io complete\nfinished main\n");
}

static void test_future_by_hand(void **state) {
    (void)state;
    expect_output("11_future_by_hand", "hello ...\n... world\n");
}

static void test_manual_loop(void **state) {
    (void)state;
    expect_output("12_manual_loop", "func runs on the loop\nfunc's result\n");
}

static void test_run_value(void **state) {
    (void)state;
    expect_output("13_run_value", "42\n");
}

int main(void) {
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return 1;
    self[n] = 0;
    /* <build>/tests/test_tutorial -> <build>/examples/tutorial */
    snprintf(tutorial_dir, sizeof tutorial_dir, "%s/../examples/tutorial", dirname(self));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greenlet_switch), cmocka_unit_test(test_generator),
        cmocka_unit_test(test_to_thread),       cmocka_unit_test(test_future_by_hand),
        cmocka_unit_test(test_manual_loop),     cmocka_unit_test(test_run_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
