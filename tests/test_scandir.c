/* cio_scandir: a directory of 100,000 entries listed completely and once
 * each, the types of files, directories, links and FIFOs, the same set as
 * readdir, cancellation while listing, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "scratch_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MANY = 100000 };

static char many[64]; /* the 100,000 entries, made once for the tests that list them */

static int setup(void **state) {
    (void)state;
    /* tmpfs: 100,000 creations take a second there, much longer on a busy disk */
    return scratch_make("/dev/shm/cio_scandir_XXXXXX");
}

static int make_many(void **state) {
    (void)state;
    strcpy(many, "/dev/shm/cio_scandir_many_XXXXXX");
    assert_non_null(mkdtemp(many));
    int dfd = open(many, O_DIRECTORY | O_RDONLY);
    for (int i = 0; i < MANY; i++) {
        char name[16];
        snprintf(name, sizeof name, "e%06d", i);
        int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    close(dfd);
    return 0;
}

static int remove_many(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", many);
    return system(cmd) != 0;
}

static void *many_main(void *arg) {
    (void)arg;
    cio_dirent *e;
    size_t n;
    assert_int_equal(cio_scandir(many, &e, &n), MANY);
    assert_int_equal(n, MANY);
    static bool seen[MANY];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(e[i].type, DT_REG);
        assert_int_equal(e[i].name[0], 'e');
        int k = atoi(e[i].name + 1);
        assert_true(k >= 0 && k < MANY);
        assert_false(seen[k]);
        seen[k] = true;
    }
    cio_scandir_free(e, n);
    return NULL;
}

static void test_hundred_thousand(void **state) {
    (void)state;
    run(many_main, NULL);
}

static void *types_main(void *arg) {
    (void)arg;
    char p[256];
    snprintf(p, sizeof p, "%s/file", dir);
    close(open(p, O_CREAT | O_WRONLY, 0644));
    snprintf(p, sizeof p, "%s/sub", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/link", dir);
    assert_int_equal(symlink("file", p), 0);
    snprintf(p, sizeof p, "%s/dangling", dir);
    assert_int_equal(symlink("nowhere", p), 0);
    snprintf(p, sizeof p, "%s/fifo", dir);
    assert_int_equal(mkfifo(p, 0644), 0);
    cio_dirent *e;
    size_t n;
    assert_int_equal(cio_scandir(dir, &e, &n), 5);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const char *nm = e[i].name;
        int t = e[i].type;
        if (!strcmp(nm, "file"))
            found += t == DT_REG;
        else if (!strcmp(nm, "sub"))
            found += t == DT_DIR;
        else if (!strcmp(nm, "link") || !strcmp(nm, "dangling"))
            found += t == DT_LNK; /* links are not followed */
        else if (!strcmp(nm, "fifo"))
            found += t == DT_FIFO;
    }
    assert_int_equal(found, 5);
    cio_scandir_free(e, n);
    /* The same names as readdir. */
    DIR *d = opendir(dir);
    struct dirent *de;
    int count = 0;
    while ((de = readdir(d)))
        count += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    assert_int_equal(count, 5);
    /* An empty directory. */
    snprintf(p, sizeof p, "%s/sub", dir);
    assert_int_equal(cio_scandir(p, &e, &n), 0);
    assert_int_equal(n, 0);
    cio_scandir_free(e, n);
    return NULL;
}

static void test_types(void **state) {
    (void)state;
    run(types_main, NULL);
}

static void *lister(void *arg) {
    cio_dirent *e = (void *)1;
    size_t n = 7;
    ssize_t r = cio_scandir(arg, &e, &n);
    if (r < 0) {
        assert_null(e);
        assert_int_equal(n, 0);
        return cio_fail((int)r);
    }
    assert_int_equal(n, MANY);
    cio_scandir_free(e, n);
    return NULL;
}

static void *cancel_main(void *arg) {
    (void)arg;
    for (int round = 0; round < 5; round++) {
        cio_future *f = cio_create_task(lister, many);
        cio_sleep(round * 0.002);
        cio_cancel(f);
        int r = cio_await(f, NULL);
        /* stopped, or done before the request: never anything else */
        assert_true(r == -ECANCELED || r == 0);
        cio_future_unref(f);
    }
    return NULL;
}

static void test_cancel(void **state) {
    (void)state;
    run(cancel_main, NULL);
}

static void *errors_main(void *arg) {
    (void)arg;
    cio_dirent *e;
    size_t n;
    char p[256];
    snprintf(p, sizeof p, "%s/missing", dir);
    assert_int_equal(cio_scandir(p, &e, &n), -ENOENT);
    assert_null(e);
    snprintf(p, sizeof p, "%s/f", dir);
    close(open(p, O_CREAT | O_WRONLY, 0644));
    assert_int_equal(cio_scandir(p, &e, &n), -ENOTDIR);
    assert_int_equal(cio_scandir(NULL, &e, &n), -EINVAL);
    assert_int_equal(cio_scandir(dir, NULL, &n), -EINVAL);
    assert_int_equal(cio_scandir(dir, &e, NULL), -EINVAL);
    cio_scandir_free(NULL, 0);
    return NULL;
}

static void test_errors(void **state) {
    (void)state;
    cio_dirent *e;
    size_t n;
    assert_int_equal(cio_scandir(dir, &e, &n), -EPERM);
    run(errors_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hundred_thousand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, make_many, remove_many);
}
