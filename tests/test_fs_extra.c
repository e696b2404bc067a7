/* The executor-backed file-system calls: symlinks (lstat vs stat, readlink,
 * realpath, lchown), hard links, permissions (chmod, access as a non-owner
 * where possible), times, truncate/fallocate on a huge sparse file, statfs,
 * mkdtemp/mkstemp, cancellation, bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "scratch_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static int setup(void **state) {
    (void)state;
    return scratch_make("/tmp/cio_fsx_XXXXXX");
}

static void *links_main(void *arg) {
    (void)arg;
    int fd = cio_open(at("file"), O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(cio_write(fd, "hello", 5, 0), 5);
    cio_close(fd);
    assert_int_equal(cio_symlink("file", at("sym")), 0);
    struct statx st;
    assert_int_equal(cio_lstat(at("sym"), &st), 0);
    assert_true(S_ISLNK(st.stx_mode));
    assert_int_equal(st.stx_size, 4); /* the target's name */
    assert_int_equal(cio_stat(at("sym"), &st), 0);
    assert_true(S_ISREG(st.stx_mode));
    assert_int_equal(st.stx_size, 5);
    char buf[64];
    assert_int_equal(cio_readlink(at("sym"), buf, sizeof buf), 4);
    assert_string_equal(buf, "file");
    assert_int_equal(cio_readlink(at("sym"), buf, 4), -ENAMETOOLONG); /* no room for NUL */
    assert_int_equal(cio_readlink(at("file"), buf, sizeof buf), -EINVAL);
    char *real = NULL;
    assert_int_equal(cio_realpath(at("sym"), &real), 0);
    char *expect = realpath(at("file"), NULL);
    assert_string_equal(real, expect);
    free(real);
    free(expect);
    assert_int_equal(cio_realpath(at("missing"), &real), -ENOENT);
    assert_null(real);
    /* A dangling link: lstat works, stat does not. */
    assert_int_equal(cio_symlink("nowhere", at("dangling")), 0);
    assert_int_equal(cio_lstat(at("dangling"), &st), 0);
    assert_int_equal(cio_stat(at("dangling"), &st), -ENOENT);
    assert_int_equal(cio_symlink("x", at("sym")), -EEXIST);
    /* Hard link: same inode, two links. */
    assert_int_equal(cio_link(at("file"), at("hard")), 0);
    struct statx a, b;
    assert_int_equal(cio_lstat(at("file"), &a), 0);
    assert_int_equal(cio_lstat(at("hard"), &b), 0);
    assert_int_equal(a.stx_ino, b.stx_ino);
    assert_int_equal(a.stx_nlink, 2);
    /* lchown on the link itself (to our own ids: allowed without privileges). */
    assert_int_equal(cio_lchown(at("sym"), getuid(), getgid()), 0);
    assert_int_equal(cio_chown(at("file"), (uid_t)-1, (gid_t)-1), 0);
    return NULL;
}

static void test_links(void **state) {
    (void)state;
    run(links_main, NULL);
}

static void *perms_main(void *arg) {
    (void)arg;
    int fd = cio_open(at("p"), O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(cio_fchmod(fd, 0640), 0);
    struct statx st;
    assert_int_equal(cio_fstat(fd, &st), 0);
    assert_int_equal(st.stx_mode & 07777, 0640);
    assert_int_equal(cio_fchown(fd, getuid(), getgid()), 0);
    cio_close(fd);
    assert_int_equal(cio_chmod(at("p"), 04755), 0);
    assert_int_equal(cio_lstat(at("p"), &st), 0);
    assert_int_equal(st.stx_mode & 07777, 04755);
    assert_int_equal(cio_access(at("p"), F_OK), 0);
    assert_int_equal(cio_access(at("p"), R_OK | X_OK), 0);
    assert_int_equal(cio_access(at("nope"), F_OK), -ENOENT);
    assert_int_equal(cio_access(at("p"), 0x100), -EINVAL);
    assert_int_equal(cio_chmod(at("p"), 0), 0);
    /* root reads anything; anyone else gets EACCES */
    assert_int_equal(cio_access(at("p"), R_OK), geteuid() == 0 ? 0 : -EACCES);
    assert_int_equal(cio_access(at("p"), X_OK), -EACCES); /* no x bit: even root */
    assert_int_equal(cio_chmod(at("nope"), 0644), -ENOENT);
    /* Times, to the nanosecond. */
    assert_int_equal(cio_utime(at("p"), 1000000000.25, 1234567890.5), 0);
    assert_int_equal(cio_lstat(at("p"), &st), 0);
    assert_int_equal(st.stx_mtime.tv_sec, 1234567890);
    assert_int_equal(st.stx_mtime.tv_nsec, 500000000);
    assert_int_equal(st.stx_atime.tv_sec, 1000000000);
    assert_int_equal(st.stx_atime.tv_nsec, 250000000);
    assert_int_equal(cio_utime(at("p"), -1, -1), 0); /* now */
    assert_int_equal(cio_lstat(at("p"), &st), 0);
    assert_true(st.stx_mtime.tv_sec > 1700000000);
    return NULL;
}

static void test_permissions_and_times(void **state) {
    (void)state;
    run(perms_main, NULL);
}

static void *sizes_main(void *arg) {
    (void)arg;
    int fd = cio_open(at("big"), O_CREAT | O_RDWR, 0644);
    /* A 1 TiB sparse file costs nothing. */
    const off_t huge = (off_t)1 << 40;
    assert_int_equal(cio_ftruncate(fd, huge), 0);
    struct statx st;
    assert_int_equal(cio_fstat(fd, &st), 0);
    assert_int_equal(st.stx_size, huge);
    assert_true(st.stx_blocks * 512 < (1 << 20));
    assert_int_equal(cio_write(fd, "end", 3, huge - 3), 3);
    char b[3];
    assert_int_equal(cio_read(fd, b, 3, huge - 3), 3);
    assert_memory_equal(b, "end", 3);
    /* fallocate reserves blocks without changing the size (KEEP_SIZE)... */
    int r = cio_fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20);
    if (r != -EOPNOTSUPP) {
        assert_int_equal(r, 0);
        assert_int_equal(cio_fstat(fd, &st), 0);
        assert_int_equal(st.stx_size, huge);
        assert_true(st.stx_blocks * 512 >= (1 << 20));
        /* ...and punching a hole gives them back. */
        assert_int_equal(cio_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1 << 20),
                         0);
        assert_int_equal(cio_fstat(fd, &st), 0);
        assert_true(st.stx_blocks * 512 < (1 << 20));
    }
    assert_int_equal(cio_ftruncate(fd, 10), 0);
    assert_int_equal(cio_fstat(fd, &st), 0);
    assert_int_equal(st.stx_size, 10);
    assert_int_equal(cio_ftruncate(fd, -1), -EINVAL);
    assert_int_equal(cio_ftruncate(-1, 0), -EBADF);
    assert_int_equal(cio_fallocate(fd, 0, 0, 0), -EINVAL);
    cio_close(fd);
    struct statvfs vfs;
    assert_int_equal(cio_statfs(dir, &vfs), 0);
    assert_true(vfs.f_bsize > 0 && vfs.f_blocks > 0);
    assert_int_equal(cio_statfs(at("nope"), &vfs), -ENOENT);
    return NULL;
}

static void test_sizes(void **state) {
    (void)state;
    run(sizes_main, NULL);
}

static void *temp_main(void *arg) {
    (void)arg;
    char t[128];
    snprintf(t, sizeof t, "%s/dXXXXXX", dir);
    assert_int_equal(cio_mkdtemp(t), 0);
    assert_null(strstr(t, "XXXXXX"));
    struct statx st;
    assert_int_equal(cio_lstat(t, &st), 0);
    assert_true(S_ISDIR(st.stx_mode));
    assert_int_equal(st.stx_mode & 0777, 0700);
    snprintf(t, sizeof t, "%s/fXXXXXX", dir);
    int fd = cio_mkstemp(t);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(cio_write(fd, "x", 1, 0), 1);
    cio_close(fd);
    assert_int_equal(cio_lstat(t, &st), 0);
    assert_int_equal(st.stx_mode & 0777, 0600);
    char bad[] = "/tmp/noXs";
    assert_int_equal(cio_mkstemp(bad), -EINVAL);
    assert_int_equal(cio_mkdtemp(NULL), -EINVAL);
    char missing[] = "/nonexistent/dir/XXXXXX";
    assert_int_equal(cio_mkdtemp(missing), -ENOENT);
    return NULL;
}

static void test_temp(void **state) {
    (void)state;
    run(temp_main, NULL);
}

/* A cancelled caller: the job has not started (the pool is busy) or has. */
static void *slow_job(void *arg) {
    (void)arg;
    usleep(100000);
    return NULL;
}

static void *lstat_task(void *arg) {
    struct statx st;
    int r = cio_lstat(arg, &st);
    return r < 0 ? cio_fail(r) : NULL;
}

static void *cancel_main(void *arg) {
    (void)arg;
    /* One worker, kept busy: the lstat job waits in the queue. */
    cio_future *busy = cio_run_in_executor(NULL, slow_job, NULL);
    cio_future *f = cio_create_task(lstat_task, dir);
    cio_yield();
    assert_true(cio_cancel(f));
    assert_int_equal(cio_await(f, NULL), -ECANCELED);
    cio_future_unref(f);
    assert_int_equal(cio_await(busy, NULL), 0);
    cio_future_unref(busy);
    /* Outside a task. */
    return NULL;
}

static void test_cancel_and_bad_input(void **state) {
    (void)state;
    cio_options opt = {.default_executor_workers = 1};
    void *res;
    assert_int_equal(cio_run_with(&opt, cancel_main, NULL, &res), 0);
    struct statx st;
    assert_int_equal(cio_lstat(dir, &st), -EPERM);
    assert_int_equal(cio_lstat(NULL, &st), -EINVAL);
    assert_int_equal(cio_lstat(dir, NULL), -EINVAL);
    assert_int_equal(cio_chmod(NULL, 0), -EINVAL);
    assert_int_equal(cio_fchmod(-1, 0), -EBADF);
    assert_int_equal(cio_link(NULL, "x"), -EINVAL);
    assert_int_equal(cio_symlink("x", NULL), -EINVAL);
    assert_int_equal(cio_readlink("x", NULL, 4), -EINVAL);
    assert_int_equal(cio_realpath("x", NULL), -EINVAL);
    assert_int_equal(cio_utime("x", 0.0 / 0.0, 0), -EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions_and_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_temp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
