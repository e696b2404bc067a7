/* The rest of the POSIX file-system calls, in a task, on the default
 * executor (fsjob.h): each suspends only its caller. They take the
 * arguments of their syscall, so a job is a small struct of them. */
#include "fsjob.h"
#include "timearg.h"

#include "cio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

typedef struct args {
    const char *p1, *p2;
    int fd, i1;
    unsigned u1, u2;
    long long l1, l2;
    void *out;
    size_t cap;
} args;

#define SYS(expr) ((expr) < 0 ? -(long)errno : 0)

static long do_lstat(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    return SYS(statx(AT_FDCWD, a->p1, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, a->out));
}

int cio_lstat(const char *path, struct statx *st) {
    if (!path || !st)
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_lstat, &(args){.p1 = path, .out = st});
}

static long do_ftruncate(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    return SYS(ftruncate(a->fd, a->l1));
}

int cio_ftruncate(int fd, off_t length) {
    if (fd < 0)
        return -EBADF;
    if (length < 0)
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_ftruncate, &(args){.fd = fd, .l1 = length});
}

static long do_fallocate(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    return SYS(fallocate(a->fd, a->i1, a->l1, a->l2));
}

int cio_fallocate(int fd, int mode, off_t offset, off_t len) {
    if (fd < 0)
        return -EBADF;
    if (offset < 0 || len <= 0)
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_fallocate,
                               &(args){.fd = fd, .i1 = mode, .l1 = offset, .l2 = len});
}

static long do_chmod(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    return a->p1 ? SYS(chmod(a->p1, a->u1)) : SYS(fchmod(a->fd, a->u1));
}

int cio_chmod(const char *path, mode_t mode) {
    if (!path)
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_chmod, &(args){.p1 = path, .u1 = mode});
}

int cio_fchmod(int fd, mode_t mode) {
    if (fd < 0)
        return -EBADF;
    return (int)cio__fsjob_run(__func__, do_chmod, &(args){.fd = fd, .u1 = mode});
}

static long do_chown(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    if (!a->p1)
        return SYS(fchown(a->fd, a->u1, a->u2));
    return a->i1 ? SYS(lchown(a->p1, a->u1, a->u2)) : SYS(chown(a->p1, a->u1, a->u2));
}

int cio_chown(const char *path, uid_t uid, gid_t gid) {
    if (!path)
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_chown, &(args){.p1 = path, .u1 = uid, .u2 = gid});
}

int cio_lchown(const char *path, uid_t uid, gid_t gid) {
    if (!path)
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_chown,
                               &(args){.p1 = path, .i1 = 1, .u1 = uid, .u2 = gid});
}

int cio_fchown(int fd, uid_t uid, gid_t gid) {
    if (fd < 0)
        return -EBADF;
    return (int)cio__fsjob_run(__func__, do_chown, &(args){.fd = fd, .u1 = uid, .u2 = gid});
}

/* Not NaN, and a time_t can hold it (infinity cannot be a timestamp). */
static bool utime_valid(double t) {
    return !cio__time_nan(t) && t < 9.2e18;
}

static struct timespec to_timespec(double t) {
    if (t < 0)
        return (struct timespec){.tv_nsec = UTIME_NOW};
    time_t s = (time_t)t; /* t >= 0: truncation floors */
    long ns = (long)((t - (double)s) * 1e9);
    return (struct timespec){.tv_sec = s, .tv_nsec = ns > 999999999 ? 999999999 : ns};
}

static long do_utime(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    return SYS(utimensat(AT_FDCWD, a->p1, a->out, a->i1));
}

int cio_utime(const char *path, double atime, double mtime) {
    if (!path || !utime_valid(atime) || !utime_valid(mtime))
        return -EINVAL;
    struct timespec ts[2] = {to_timespec(atime), to_timespec(mtime)};
    return (int)cio__fsjob_run(__func__, do_utime, &(args){.p1 = path, .out = ts});
}

static long do_link(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    return a->i1 ? SYS(symlink(a->p1, a->p2)) : SYS(link(a->p1, a->p2));
}

int cio_link(const char *oldpath, const char *newpath) {
    if (!oldpath || !newpath)
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_link, &(args){.p1 = oldpath, .p2 = newpath});
}

int cio_symlink(const char *target, const char *linkpath) {
    if (!target || !linkpath)
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_link, &(args){.p1 = target, .p2 = linkpath, .i1 = 1});
}

static long do_readlink(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    ssize_t n = readlink(a->p1, a->out, a->cap);
    if (n < 0)
        return -errno;
    if ((size_t)n >= a->cap)
        return -ENAMETOOLONG; /* no room for the NUL: it may have been cut */
    ((char *)a->out)[n] = '\0';
    return n;
}

ssize_t cio_readlink(const char *path, char *buf, size_t cap) {
    if (!path || !buf || !cap)
        return -EINVAL;
    return cio__fsjob_run(__func__, do_readlink, &(args){.p1 = path, .out = buf, .cap = cap});
}

static long do_realpath(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    char *r = realpath(a->p1, NULL);
    if (!r)
        return -errno;
    *(char **)a->out = r;
    return 0;
}

int cio_realpath(const char *path, char **resolved) {
    if (!path || !resolved)
        return -EINVAL;
    *resolved = NULL;
    return (int)cio__fsjob_run(__func__, do_realpath, &(args){.p1 = path, .out = resolved});
}

static long do_access(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    return SYS(access(a->p1, a->i1));
}

int cio_access(const char *path, int mode) {
    if (!path || (mode & ~(R_OK | W_OK | X_OK | F_OK)))
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_access, &(args){.p1 = path, .i1 = mode});
}

static long do_statfs(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    return SYS(statvfs(a->p1, a->out));
}

int cio_statfs(const char *path, struct statvfs *st) {
    if (!path || !st)
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_statfs, &(args){.p1 = path, .out = st});
}

static bool template_ok(const char *t) {
    size_t n = t ? strlen(t) : 0;
    return n >= 6 && !strcmp(t + n - 6, "XXXXXX");
}

static long do_mkdtemp(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    return mkdtemp(a->out) ? 0 : -errno;
}

int cio_mkdtemp(char *tmpl) {
    if (!template_ok(tmpl))
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_mkdtemp, &(args){.out = tmpl});
}

static long do_mkstemp(cio__fsjob *j, void *v) {
    (void)j;
    args *a = v;
    int fd = mkostemp(a->out, O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cio_mkstemp(char *tmpl) {
    if (!template_ok(tmpl))
        return -EINVAL;
    return (int)cio__fsjob_run(__func__, do_mkstemp, &(args){.out = tmpl});
}
