/* scripts/cio-gdb.py in a real gdb (batch mode): on a program with 100
 * suspended tasks, cio-tasks lists every task by its address, state and
 * name, and cio-bt of a listed address prints that task's stack down to the
 * function it was parked in. Skipped, with a message, without gdb. */
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASKS 100

/* ---- the target: run by gdb as `test_gdb --target` ---- */

/* gdb stops here, once every task is parked. */
__attribute__((noinline)) void cio_gdb_test_ready(void);
__attribute__((noinline)) void cio_gdb_test_ready(void) {
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) int parked_deep(cio_event *ev, int depth) {
    if (depth > 0)
        return parked_deep(ev, depth - 1) + 1;
    return cio_event_wait(ev);
}

static void *gdb_worker(void *arg) {
    return (void *)(intptr_t)parked_deep(arg, 2);
}

static void *gdb_target_main(void *arg) {
    (void)arg;
    cio_event *ev = cio_event_new();
    cio_future *ts[TASKS];
    for (int i = 0; i < TASKS; i++)
        ts[i] = cio_create_task(gdb_worker, ev);
    cio_task_set_name(ts[7], "named-seven");
    cio_yield(); /* every worker runs into its wait */
    cio_gdb_test_ready();
    cio_event_set(ev);
    for (int i = 0; i < TASKS; i++) {
        cio_await(ts[i], NULL);
        cio_future_unref(ts[i]);
    }
    cio_event_free(ev);
    return NULL;
}

/* ---- the test ---- */

static char self[1024], helper[1200];

static const char gdb_script[] =
    "import gdb, re\n"
    "gdb.execute('source %s')\n"
    "gdb.execute('break cio_gdb_test_ready')\n"
    "gdb.execute('run --target')\n"
    "gdb.execute('up')\n" /* into the task that called it */
    "out = gdb.execute('cio-tasks', to_string=True)\n"
    "print(out)\n"
    "rows = re.findall(r'^(0x[0-9a-f]+)\\s+(\\S+)\\s+(.*?)\\s+sp=', out, re.M)\n"
    "parked = [a for a, st, name in rows if st == 'parked']\n"
    "print('TASKS %%d PARKED %%d' %% (len(rows), len(parked)))\n"
    "seven = [a for a, st, name in rows if name == 'named-seven']\n"
    "print('BT-BEGIN')\n"
    "print(gdb.execute('cio-bt %%s' %% seven[0], to_string=True))\n"
    "print('BT-END')\n"
    "print(gdb.execute('bt 2', to_string=True))\n"
    "gdb.execute('kill')\n";

static char *run_gdb(void) {
    char script[] = "/tmp/cio-test-gdb-XXXXXX.py"; /* gdb runs a .py as Python */
    int fd = mkstemps(script, 3);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, gdb_script, helper);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "timeout 120 gdb -nx -batch -ex 'set pagination off' -ex 'source %s' --args '%s' "
             "2>&1",
             script, self);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 20, len = 0, n;
    char *out = malloc(cap);
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0)
        len += n;
    out[len] = 0;
    pclose(p);
    unlink(script);
    return out;
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_gdb_helper(void **state) {
    (void)state;
    if (system("gdb --version >/dev/null 2>&1") != 0) {
        print_message("skipped: gdb is not installed (scripts/deps.sh test installs it)\n");
        skip();
    }
    char *out = run_gdb();
    if (!strstr(out, "BT-END"))
        print_message("%s\n", out);
    assert_non_null(strstr(out, "TASKS 101 PARKED 100")); /* and main, running */
    assert_int_equal(count(out, " (gdb_worker)"), 99);    /* default names say what runs */
    assert_int_equal(count(out, "named-seven"), 1);
    const char *bt = strstr(out, "BT-BEGIN");
    assert_non_null(bt);
    assert_non_null(strstr(bt, "parked_deep"));
    assert_non_null(strstr(bt, "gdb_worker"));
    assert_null(strstr(out, "Error"));
    /* The registers came back: the stopped frame is the real one again. */
    assert_non_null(strstr(strstr(bt, "BT-END"), "gdb_target_main"));
    free(out);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--target") == 0)
        return cio_run(gdb_target_main, NULL, NULL) < 0;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return 1;
    self[n] = 0;
    /* The helper from the source tree: the current directory when run by
     * make, else beside <build>/tests. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", self);
    if (access("scripts/cio-gdb.py", R_OK) == 0)
        snprintf(helper, sizeof helper, "%s/scripts/cio-gdb.py", getcwd(dir, sizeof dir));
    else
        snprintf(helper, sizeof helper, "%s/../../scripts/cio-gdb.py", dirname(dir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gdb_helper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
