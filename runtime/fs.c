/* Files: every call suspends only the calling task. A cancelled call
 * returns -ECANCELED only once the kernel has let go of the caller's buffer
 * (see io.c); an open or a read that completed anyway is delivered. */
#include "loop.h"
#include "task.h"
#include "vec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The CQE's result is an int: longer requests become short ones, as read(2)
 * itself may return fewer bytes than asked. */
#define MAX_IO INT32_MAX

static uint64_t io_offset(off_t offset) {
    return offset < 0 ? CIO__OFF_CUR : (uint64_t)offset;
}

/* One request on fd with a buffer or an iovec array. */
static ssize_t rw(uint8_t op, int fd, const void *addr, size_t len, off_t offset) {
    return cio__io(&(cio__req){
        .op = op, .fd = fd, .addr = (void *)addr, .len = (uint32_t)len, .off = io_offset(offset)});
}

/* One request on a path. */
static int at(uint8_t op, const char *path, void *addr2, uint32_t len, int32_t arg) {
    return cio__io(&(cio__req){
        .op = op, .fd = AT_FDCWD, .addr = (void *)path, .addr2 = addr2, .len = len, .arg = arg});
}

/* A pipe or socket made non-blocking by someone else answers -EAGAIN on
 * kernels that honour O_NONBLOCK in io_uring: wait for it, then repeat. */
static bool again(int fd, ssize_t r, int events) {
    return r == -EAGAIN && cio_poll(fd, events, -1) > 0;
}

int cio_open(const char *path, int flags, mode_t mode) {
    if (!path)
        return -EINVAL;
    /* Like Python's open(): not inherited by children. */
    return at(CIO__OP_OPENAT, path, NULL, mode, flags | O_CLOEXEC);
}

static ssize_t read_once(int fd, void *buf, size_t len, off_t offset) {
    return rw(CIO__OP_READ, fd, buf, (size_t)len, offset);
}

ssize_t cio_read(int fd, void *buf, size_t len, off_t offset) {
    if (offset < -1 || (!buf && len))
        return -EINVAL;
    ssize_t r;
    while (again(fd, r = read_once(fd, buf, len > MAX_IO ? MAX_IO : len, offset), POLLIN))
        ;
    return r;
}

static ssize_t write_once(int fd, const void *buf, size_t len, off_t offset) {
    return rw(CIO__OP_WRITE, fd, buf, (size_t)len, offset);
}

ssize_t cio_write(int fd, const void *buf, size_t len, off_t offset) {
    if (offset < -1 || (!buf && len))
        return -EINVAL;
    ssize_t r;
    while (again(fd, r = write_once(fd, buf, len > MAX_IO ? MAX_IO : len, offset), POLLOUT))
        ;
    return r;
}

static ssize_t readv_once(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    return rw(CIO__OP_READV, fd, iov, (size_t)iovcnt, offset);
}

ssize_t cio_readv(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    if (offset < -1 || iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt))
        return -EINVAL;
    ssize_t r;
    while (again(fd, r = readv_once(fd, iov, iovcnt, offset), POLLIN))
        ;
    return r;
}

static ssize_t writev_once(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    return rw(CIO__OP_WRITEV, fd, iov, (size_t)iovcnt, offset);
}

ssize_t cio_writev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    if (offset < -1 || iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt))
        return -EINVAL;
    ssize_t r;
    while (again(fd, r = writev_once(fd, iov, iovcnt, offset), POLLOUT))
        ;
    return r;
}

/* A close never fails for want of an SQE or because the task is being
 * cancelled: a leaked fd is worse than one synchronous close. The close
 * happens and the cancellation is kept for the task's next suspension
 * point, as for any request that completed anyway. A kernel -ECANCELED
 * means the request was dropped before it ran, so the fd is still ours. */
int cio_close(int fd) {
    if (fd < 0)
        return -EBADF;
    cio_loop *loop = cio__loop_running();
    if (loop) /* tasks waiting on fd wake up with an error instead of hanging */
        cio__loop_fd_closing(loop, fd);
    cio__task *t = cio__task_current();
    int asked = t ? t->cancel_requests : 0;
    bool cancelled = t && t->must_cancel;
    int r = -ECANCELED;
    if (t && !cancelled) {
        r = cio__io(&(cio__req){.op = CIO__OP_CLOSE, .fd = fd});
        cancelled = t->cancel_requests != asked;
    }
    if (r == -ECANCELED || r == -EBUSY) /* the request never ran: the fd is still ours */
        r = close(fd) < 0 ? -errno : 0;
    if (cancelled)
        t->must_cancel = true;
    return r;
}

int cio_fsync(int fd) {
    return cio__io(&(cio__req){.op = CIO__OP_FSYNC, .fd = fd});
}

int cio_fdatasync(int fd) {
    return cio__io(&(cio__req){.op = CIO__OP_FSYNC, .fd = fd, .arg = CIO__FSYNC_DATA});
}

int cio_stat(const char *path, struct statx *st) {
    if (!path || !st)
        return -EINVAL;
    return at(CIO__OP_STATX, path, st, 0, 0);
}

int cio_fstat(int fd, struct statx *st) {
    if (!st)
        return -EINVAL;
    return cio__io(
        &(cio__req){.op = CIO__OP_STATX, .fd = fd, .addr = "", .addr2 = st, .arg = AT_EMPTY_PATH});
}

int cio_unlink(const char *path) {
    if (!path)
        return -EINVAL;
    return at(CIO__OP_UNLINKAT, path, NULL, 0, 0);
}

int cio_rmdir(const char *path) {
    if (!path)
        return -EINVAL;
    return at(CIO__OP_UNLINKAT, path, NULL, 0, AT_REMOVEDIR);
}

int cio_rename(const char *from, const char *to) {
    if (!from || !to)
        return -EINVAL;
    return at(CIO__OP_RENAMEAT, from, (void *)to, 0, 0);
}

int cio_mkdir(const char *path, mode_t mode) {
    if (!path)
        return -EINVAL;
    return at(CIO__OP_MKDIRAT, path, NULL, mode, 0);
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
#define TAIL 4096 /* room past the stat'ed size to see EOF, or growth */

/* Every part writes into the caller's buffer, so none may outlive this call:
 * a cancelled caller (or a failed part) cancels the rest and still waits for
 * them to end. Returns the bytes read by part 0 .. n-1, or the first error. */
static void cancel_from(cio_future **fs, size_t i, size_t n) {
    for (; i < n; i++)
        cio_cancel(fs[i]);
}

static ssize_t join_parts(cio_future **fs, size_t n, const part *parts) {
    ssize_t total = 0;
    int err = 0;
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        int e;
        while ((e = cio_await(fs[i], &r)) < 0 && !cio_future_done(fs[i]))
            if (!err) { /* we were cancelled: stop the parts, but wait for them */
                err = e;
                cancel_from(fs, i, n);
            }
        if (e < 0 && !err) {
            err = e;
            cancel_from(fs, i + 1, n);
        }
        /* a short part (the file shrank) ends the contiguous data there */
        if (!err && total == parts[i].off)
            total += (ssize_t)(intptr_t)r;
        cio_future_unref(fs[i]);
    }
    return err ? err : total;
}

/* Large files are read by up to MAX_PARTS tasks at once, each with its own
 * request in the ring, so that reads which miss the page cache proceed in
 * parallel in the kernel. */
static ssize_t read_parallel(int fd, char *buf, size_t size) {
    size_t nparts = (size + PART - 1) / PART;
    size_t per = (nparts + MAX_PARTS - 1) / MAX_PARTS * PART;
    part parts[MAX_PARTS];
    cio_future *fs[MAX_PARTS];
    size_t n = 0;
    bool all = true;
    for (size_t off = 0; off < size && all; off += per) {
        parts[n] = (part){fd, buf + off, size - off < per ? size - off : per, (off_t)off};
        fs[n] = cio_create_task(read_part, &parts[n]);
        all = fs[n] != NULL;
        n += all;
    }
    ssize_t r = join_parts(fs, n, parts); /* the parts started still end first */
    return r >= 0 && !all ? -ENOMEM : r;
}

/* Reads on from have until EOF, growing the buffer: files whose size stat
 * does not tell (procfs, pipes) or that grew since. */
static ssize_t read_rest(int fd, char **buf, size_t *cap, size_t have, bool seekable) {
    for (;;) {
        if (cio__vec_reserve(*buf, cap, have + 2, 4096) < 0)
            return -ENOMEM;
        ssize_t n = cio_read(fd, *buf + have, *cap - 1 - have, seekable ? (off_t)have : -1);
        if (n <= 0)
            return n < 0 ? n : (ssize_t)have;
        have += (size_t)n;
    }
}

#define HUGE_PAGE ((uintptr_t)2 << 20)

/* A fresh big buffer costs a page fault and a page of zeroes per 4 KiB as
 * the kernel copies into it: at page-cache speed that, not the copy, is the
 * bill (a 1 GiB read_file ran at a tenth of a 128 KiB-block loop). Huge
 * pages cut the faults 512-fold. Advice only: malloc's block stays free()'s. */
static void *big_buffer(size_t cap) {
    char *buf = malloc(cap);
    if (buf && cap >= 4 * HUGE_PAGE) {
        uintptr_t lo = ((uintptr_t)buf + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        uintptr_t hi = ((uintptr_t)buf + cap) & ~(HUGE_PAGE - 1);
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
    return buf;
}

static ssize_t read_whole(int fd, const struct statx *st, char **out) {
    bool regular = S_ISREG(st->stx_mode);
    uint64_t size = regular ? st->stx_size : 0;
    if (size > (uint64_t)(SSIZE_MAX - 2 * TAIL))
        return -EFBIG;
    size_t cap = (size_t)size + TAIL;
    char *buf = big_buffer(cap);
    if (!buf)
        return -ENOMEM;
    ssize_t have = 0;
    if (size > 2 * PART) {
        /* A larger readahead window for a cold file (fio's fadvise_hint);
         * a hint that cannot block, so no need to take it off the loop. */
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        have = read_parallel(fd, buf, (size_t)size);
    } else if (size)
        have = read_full(fd, buf, (size_t)size, 0);
    if (have >= 0 && (uint64_t)have == size)
        have = read_rest(fd, &buf, &cap, (size_t)have, regular);
    if (have < 0) {
        free(buf);
        return have;
    }
    buf[have] = 0; /* a terminator for text files; not counted */
    *out = buf;
    return have;
}

ssize_t cio_read_file(const char *path, void **data) {
    if (!data)
        return -EINVAL;
    *data = NULL;
    if (!path)
        return -EINVAL;
    int fd = cio_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    struct statx st;
    char *buf = NULL;
    ssize_t r = cio_fstat(fd, &st);
    if (r == 0)
        r = read_whole(fd, &st, &buf);
    cio_close(fd);
    if (r >= 0)
        *data = buf;
    return r;
}

ssize_t cio_write_all(int fd, const void *buf, size_t len, off_t offset) {
    if (offset < -1 || (!buf && len))
        return -EINVAL;
    size_t done = 0;
    while (done < len) {
        ssize_t n = cio_write(fd, (const char *)buf + done, len - done,
                              offset < 0 ? -1 : offset + (off_t)done);
        if (n < 0)
            return done ? (ssize_t)done : n;
        if (n == 0)
            return done ? (ssize_t)done : -EIO; /* a file system that takes nothing: do not spin */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* Makes a rename in path's directory durable. Only a cancellation is
 * reported: the new content is in place either way. */
static int sync_dir(const char *path) {
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir)
        return 0;
    memcpy(dir, n ? path : ".", n ? n : 1);
    dir[n ? n : 1] = 0;
    int fd = cio_open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd == -ECANCELED ? fd : 0;
    int r = cio_fsync(fd);
    cio_close(fd);
    return r == -ECANCELED ? r : 0;
}

/* Writes the temporary file completely and fsyncs it; closes it always. */
static int write_tmp(int fd, const void *data, size_t len) {
    ssize_t w = cio_write_all(fd, data, len, 0);
    int r = w < 0 ? (int)w : (size_t)w < len ? -EIO : 0;
    if (r == 0)
        r = cio_fsync(fd); /* the data is on disk before the name points at it */
    int c = cio_close(fd);
    return r ? r : c;
}

int cio_write_file(const char *path, const void *data, size_t len) {
    static _Atomic unsigned seq; /* concurrent writers of one path get their own temp files */
    if (!path || (!data && len))
        return -EINVAL;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%d-%u", path, (int)getpid(), atomic_fetch_add(&seq, 1)) >=
        (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = cio_open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0)
        return fd;
    int r = write_tmp(fd, data, len);
    if (r == 0)
        r = cio_rename(tmp, path);
    if (r < 0) {
        unlink(tmp); /* synchronous: a cancelled task must not leave it behind */
        return r;
    }
    return sync_dir(path);
}
