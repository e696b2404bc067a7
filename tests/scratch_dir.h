/* For tests that work in a scratch directory: made by the group's setup,
 * removed by its teardown. Include after cio_test.h and <cio.h>. */
#ifndef CIO_TEST_SCRATCH_DIR_H
#define CIO_TEST_SCRATCH_DIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];

/* dir/name, in one of four buffers used in turn (several per call are fine). */
static inline char *at(const char *name) {
    static char buf[4][256];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, 256, "%s/%s", dir, name);
    return b;
}

static inline void rm_rf(const char *d) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    assert_int_equal(system(cmd), 0);
}

/* A group setup: dir from the mkdtemp template (ending in six X). */
static inline int scratch_make(const char *tmpl) {
    snprintf(dir, sizeof dir, "%s", tmpl);
    assert_non_null(mkdtemp(dir));
    return 0;
}

static inline int teardown(void **state) {
    (void)state;
    rm_rf(dir);
    return 0;
}

/* cio_run(fn, arg) must succeed. */
static inline void run(cio_fn fn, void *arg) {
    void *res = NULL;
    assert_int_equal(cio_run(fn, arg, &res), 0);
}

#endif
