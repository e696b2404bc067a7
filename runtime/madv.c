/* Vectored madvise, with the per-range fallback. */
#include "madv.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#define PIDFD_SELF_ -10000 /* Linux 6.15: the calling thread group */
#define MAX_IOV 1024       /* UIO_MAXIOV */

enum { VEC_UNTRIED, VEC_YES, VEC_NO };
static _Atomic int vec_mode;

static int one(const struct iovec *r, int advice) {
    return madvise(r->iov_base, r->iov_len, advice) == 0 ? 0 : -errno;
}

static int each(const struct iovec *v, size_t n, int advice) {
    for (size_t i = 0; i < n; i++) {
        int r = one(&v[i], advice);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Bytes advised, or -errno. Kernels before 6.13 refuse most advice here
 * (EINVAL), before 6.15 PIDFD_SELF (EBADF); seccomp may refuse the call. */
static long vec(const struct iovec *v, size_t n, int advice) {
    long r = syscall(SYS_process_madvise, PIDFD_SELF_, v, n, advice, 0u);
    return r < 0 ? -errno : r;
}

static int chunk(const struct iovec *v, size_t n, int advice) {
    size_t want = 0;
    for (size_t i = 0; i < n; i++)
        want += v[i].iov_len;
    int mode = atomic_load_explicit(&vec_mode, memory_order_relaxed);
    if (mode != VEC_NO) {
        long got = vec(v, n, advice);
        if (got >= 0 && (size_t)got == want) {
            if (mode == VEC_UNTRIED)
                atomic_store_explicit(&vec_mode, VEC_YES, memory_order_relaxed);
            return 0;
        }
        if (got < 0 && mode == VEC_UNTRIED && got != -ENOMEM && got != -EFAULT)
            atomic_store_explicit(&vec_mode, VEC_NO, memory_order_relaxed);
        /* A partial answer: whole ranges before the stop are done. */
        size_t i = 0;
        for (size_t done = got > 0 ? (size_t)got : 0; i < n && done >= v[i].iov_len; i++)
            done -= v[i].iov_len;
        return each(v + i, n - i, advice);
    }
    return each(v, n, advice);
}

int cio__madvise_many(const struct iovec *v, size_t n, int advice) {
    for (size_t i = 0; i < n; i += MAX_IOV) {
        int r = chunk(v + i, n - i < MAX_IOV ? n - i : MAX_IOV, advice);
        if (r < 0)
            return r;
    }
    return 0;
}

static _Atomic uintptr_t page_size;

struct iovec cio__page_span(const void *p, size_t len) {
    uintptr_t pg = atomic_load_explicit(&page_size, memory_order_relaxed);
    if (!pg) { /* glibc answers from the auxiliary vector: no lock taken */
        long v = sysconf(_SC_PAGESIZE);
        pg = v > 0 ? (uintptr_t)v : 4096;
        atomic_store_explicit(&page_size, pg, memory_order_relaxed);
    }
    uintptr_t lo = (uintptr_t)p & ~(pg - 1);
    uintptr_t hi = ((uintptr_t)p + len + pg - 1) & ~(pg - 1);
    return (struct iovec){(void *)lo, hi - lo};
}

void cio__madvise_populate(void *p, size_t len) {
    struct iovec s = cio__page_span(p, len);
    if (s.iov_len)
        (void)madvise(s.iov_base, s.iov_len, MADV_POPULATE_WRITE);
}
