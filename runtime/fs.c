/* Files on io_uring: every call suspends only the calling task. A cancelled
 * call returns -ECANCELED only once the kernel has let go of the caller's
 * buffer (see io.c); an open or a read that completed anyway is delivered. */
#include "task.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cio_open(const char *path, int flags, mode_t mode) {
    if (!path)
        return -EINVAL;
    CIO__IO_BEGIN(sqe);
    /* Like Python's open(): not inherited by children. */
    io_uring_prep_openat(sqe, AT_FDCWD, path, flags | O_CLOEXEC, mode);
    return CIO__IO_END(sqe);
}

ssize_t cio_read(int fd, void *buf, size_t len, off_t offset) {
    if (len > UINT32_MAX)
        len = UINT32_MAX; /* a short read, as read(2) may give */
    CIO__IO_BEGIN(sqe);
    io_uring_prep_read(sqe, fd, buf, (unsigned)len, offset < 0 ? (uint64_t)-1 : (uint64_t)offset);
    return CIO__IO_END(sqe);
}

ssize_t cio_write(int fd, const void *buf, size_t len, off_t offset) {
    if (len > UINT32_MAX)
        len = UINT32_MAX;
    CIO__IO_BEGIN(sqe);
    io_uring_prep_write(sqe, fd, buf, (unsigned)len, offset < 0 ? (uint64_t)-1 : (uint64_t)offset);
    return CIO__IO_END(sqe);
}

ssize_t cio_readv(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt,
                        offset < 0 ? (uint64_t)-1 : (uint64_t)offset);
    return CIO__IO_END(sqe);
}

ssize_t cio_writev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt,
                         offset < 0 ? (uint64_t)-1 : (uint64_t)offset);
    return CIO__IO_END(sqe);
}

int cio_close(int fd) {
    if (!cio__task_current()) /* outside a task a plain close is the useful thing */
        return close(fd) < 0 ? -errno : 0;
    CIO__IO_BEGIN(sqe);
    io_uring_prep_close(sqe, fd);
    return CIO__IO_END(sqe);
}

int cio_fsync(int fd) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_fsync(sqe, fd, 0);
    return CIO__IO_END(sqe);
}

int cio_fdatasync(int fd) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    return CIO__IO_END(sqe);
}

int cio_stat(const char *path, struct statx *st) {
    if (!path || !st)
        return -EINVAL;
    CIO__IO_BEGIN(sqe);
    io_uring_prep_statx(sqe, AT_FDCWD, path, 0, STATX_BASIC_STATS, st);
    return CIO__IO_END(sqe);
}

int cio_fstat(int fd, struct statx *st) {
    if (!st)
        return -EINVAL;
    CIO__IO_BEGIN(sqe);
    io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, st);
    return CIO__IO_END(sqe);
}

int cio_unlink(const char *path) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_unlinkat(sqe, AT_FDCWD, path, 0);
    return CIO__IO_END(sqe);
}

int cio_rmdir(const char *path) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_unlinkat(sqe, AT_FDCWD, path, AT_REMOVEDIR);
    return CIO__IO_END(sqe);
}

int cio_rename(const char *from, const char *to) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_renameat(sqe, AT_FDCWD, from, AT_FDCWD, to, 0);
    return CIO__IO_END(sqe);
}

int cio_mkdir(const char *path, mode_t mode) {
    CIO__IO_BEGIN(sqe);
    io_uring_prep_mkdirat(sqe, AT_FDCWD, path, mode);
    return CIO__IO_END(sqe);
}

/* ---- whole files ---- */

/* Reads [off, off + len) completely (short reads continue). */
static ssize_t read_full(int fd, char *buf, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = cio_read(fd, buf + done, len - done, off + (off_t)done);
        if (n < 0)
            return n;
        if (n == 0)
            break; /* the file shrank meanwhile */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

typedef struct part {
    int fd;
    char *buf;
    size_t len;
    off_t off;
} part;

static void *read_part(void *arg) {
    part *p = arg;
    ssize_t n = read_full(p->fd, p->buf, p->len, p->off);
    return n < 0 ? cio_fail((int)n) : (void *)(intptr_t)n;
}

#define PART (1 << 20)
#define MAX_PARTS 8

/* Large files are read by up to MAX_PARTS tasks at once, each with its own
 * request in the ring, so the kernel works on several parts together. */
static ssize_t read_parallel(int fd, char *buf, size_t size) {
    size_t nparts = (size + PART - 1) / PART;
    size_t per = (nparts + MAX_PARTS - 1) / MAX_PARTS * PART;
    part parts[MAX_PARTS];
    cio_future *fs[MAX_PARTS];
    size_t n = 0;
    int err = 0;
    for (size_t off = 0; off < size; off += per) {
        parts[n] = (part){fd, buf + off, size - off < per ? size - off : per, (off_t)off};
        if (!(fs[n] = cio_create_task(read_part, &parts[n]))) {
            err = -ENOMEM; /* the parts already started still finish below */
            break;
        }
        n++;
    }
    ssize_t total = 0;
    for (size_t i = 0; i < n; i++) {
        void *r;
        int e = cio_await(fs[i], &r);
        if (e < 0 && !err)
            err = e;
        total += e < 0 ? 0 : (ssize_t)(intptr_t)r;
        cio_future_unref(fs[i]);
    }
    return err ? err : total;
}

ssize_t cio_read_file(const char *path, void **data) {
    if (!data)
        return -EINVAL;
    *data = NULL;
    int fd = cio_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    struct statx st;
    ssize_t r = cio_fstat(fd, &st);
    size_t size = r == 0 ? st.stx_size : 0;
    char *buf = r == 0 ? malloc(size + 1) : NULL;
    if (r == 0 && !buf)
        r = -ENOMEM;
    if (r == 0)
        r = size > 2 * PART ? read_parallel(fd, buf, size) : read_full(fd, buf, size, 0);
    cio_close(fd);
    if (r < 0) {
        free(buf);
        return r;
    }
    buf[r] = 0; /* a terminator for text files; not counted */
    *data = buf;
    return r;
}

ssize_t cio_write_all(int fd, const void *buf, size_t len, off_t offset) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = cio_write(fd, (const char *)buf + done, len - done,
                              offset < 0 ? -1 : offset + (off_t)done);
        if (n < 0)
            return done ? (ssize_t)done : n;
        if (n == 0)
            return -EIO; /* a file system that takes nothing: do not spin */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int cio_write_file(const char *path, const void *data, size_t len) {
    char tmp[4096];
    if (!path || snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, getpid()) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = cio_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    ssize_t w = cio_write_all(fd, data, len, 0);
    int r = w < 0 ? (int)w : (size_t)w < len ? -EIO : 0;
    if (r == 0)
        r = cio_fsync(fd); /* the data is on disk before the name points at it */
    int c = cio_close(fd);
    r = r ? r : c;
    if (r == 0)
        r = cio_rename(tmp, path);
    if (r < 0)
        unlink(tmp);
    return r;
}
