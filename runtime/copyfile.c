/* copy_file: the data extents of the source (SEEK_DATA / SEEK_HOLE), each
 * with copy_file_range (which the file system may turn into a reflink or a
 * server-side copy), the holes left as holes, the mode kept; read/write when
 * the kernel cannot copy between the two files. On the default executor,
 * stopping between chunks when the caller is cancelled. */
#include "fsjob.h"

#include "cio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CHUNK = 64 << 20, RW_BUF = 1 << 20 };

typedef struct cp {
    const char *src, *dst;
    int flags;
    int in, out;
    bool use_rw;
} cp;

static long copy_rw(cio__fsjob *job, cp *c, off_t off, off_t end) {
    char *buf = malloc(RW_BUF);
    if (!buf)
        return -ENOMEM;
    long r = 0;
    while (off < end && r == 0) {
        size_t want = end - off < RW_BUF ? (size_t)(end - off) : RW_BUF;
        ssize_t n = pread(c->in, buf, want, off);
        if (n <= 0) {
            r = n < 0 ? -errno : 0;
            break; /* the source shrank: what is there is copied */
        }
        for (ssize_t done = 0; done < n && r == 0;) {
            ssize_t w = pwrite(c->out, buf + done, (size_t)(n - done), off + done);
            if (w < 0)
                r = -errno;
            else
                done += w;
        }
        off += n;
        if (cio__fsjob_stopped(job))
            r = -ECANCELED;
    }
    free(buf);
    return r;
}

static bool no_cfr(int err) {
    return err == EXDEV || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL || err == EBADF;
}

static long copy_range(cio__fsjob *job, cp *c, off_t off, off_t end) {
    while (off < end && !c->use_rw) {
        size_t want = end - off < CHUNK ? (size_t)(end - off) : CHUNK;
        off_t o_in = off, o_out = off;
        ssize_t n = copy_file_range(c->in, &o_in, c->out, &o_out, want, 0);
        if (n < 0 && no_cfr(errno))
            c->use_rw = true;
        else if (n < 0)
            return -errno;
        else if (n == 0)
            return 0;
        else
            off += n;
        if (cio__fsjob_stopped(job))
            return -ECANCELED;
    }
    return off < end ? copy_rw(job, c, off, end) : 0;
}

static long copy_extents(cio__fsjob *job, cp *c, off_t size) {
    off_t off = 0;
    while (off < size) {
        off_t data = lseek(c->in, off, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            return 0; /* only a hole is left */
        if (data < 0) /* no SEEK_DATA here: everything is data */
            return copy_range(job, c, off, size);
        off_t hole = lseek(c->in, data, SEEK_HOLE);
        if (hole < 0 || hole > size)
            hole = size;
        long r = copy_range(job, c, data, hole);
        if (r < 0)
            return r;
        off = hole;
    }
    return 0;
}

static long do_copy(cio__fsjob *job, void *v) {
    cp *c = v;
    struct stat st;
    c->in = open(c->src, O_RDONLY | O_CLOEXEC);
    if (c->in < 0)
        return -errno;
    long r = fstat(c->in, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
    if (S_ISDIR(st.st_mode))
        r = -EISDIR;
    int oflags = O_WRONLY | O_CREAT | O_CLOEXEC | ((c->flags & CIO_COPY_EXCL) ? O_EXCL : O_TRUNC);
    c->out = r < 0 ? -1 : open(c->dst, oflags, st.st_mode & 07777);
    if (r == 0 && c->out < 0)
        r = -errno;
    bool created = r == 0;
    /* The mode as the source's (the umask may have cleared bits); the size
     * first, so that a hole at the end stays a hole. */
    if (r == 0 && (fchmod(c->out, st.st_mode & 07777) < 0 || ftruncate(c->out, st.st_size) < 0))
        r = -errno;
    if (r == 0)
        r = copy_extents(job, c, st.st_size);
    close(c->in);
    if (c->out >= 0 && close(c->out) < 0 && r == 0)
        r = -errno;
    if (r < 0 && created)
        unlink(c->dst); /* no half copy left behind */
    return r;
}

int cio_copy_file(const char *src, const char *dst, int flags) {
    if (!src || !dst || (flags & ~CIO_COPY_EXCL))
        return -EINVAL;
    cp c = {.src = src, .dst = dst, .flags = flags, .in = -1, .out = -1};
    return (int)cio__fsjob_run(__func__, do_copy, &c);
}
