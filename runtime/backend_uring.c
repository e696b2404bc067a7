/* The io_uring backend: a request is one SQE, its done() runs when its CQE
 * comes. The only file of cio that includes liburing.h. */
#include "backend.h"

#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IORING_SETUP_R_DISABLED
#define IORING_SETUP_R_DISABLED (1U << 6)
#endif

typedef struct uring {
    cio__backend base;
    struct io_uring ring;
    unsigned inflight; /* requests, not background, whose final CQE has not come */
    bool enabled;      /* R_DISABLED rings start on the thread that runs them */
} uring;

/* The best setup this kernel accepts, from the fastest for one thread down. */
static const unsigned setup_flags[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    0,
};

/* What cio asks of the ring, by cio__opcode. */
static const uint8_t opcodes[CIO__OP_COUNT] = {
    [CIO__OP_NOP] = IORING_OP_NOP,           [CIO__OP_READ] = IORING_OP_READ,
    [CIO__OP_WRITE] = IORING_OP_WRITE,       [CIO__OP_READV] = IORING_OP_READV,
    [CIO__OP_WRITEV] = IORING_OP_WRITEV,     [CIO__OP_RECV] = IORING_OP_RECV,
    [CIO__OP_SEND] = IORING_OP_SEND,         [CIO__OP_RECVMSG] = IORING_OP_RECVMSG,
    [CIO__OP_SENDMSG] = IORING_OP_SENDMSG,   [CIO__OP_ACCEPT] = IORING_OP_ACCEPT,
    [CIO__OP_CONNECT] = IORING_OP_CONNECT,   [CIO__OP_SHUTDOWN] = IORING_OP_SHUTDOWN,
    [CIO__OP_POLL] = IORING_OP_POLL_ADD,     [CIO__OP_OPENAT] = IORING_OP_OPENAT,
    [CIO__OP_CLOSE] = IORING_OP_CLOSE,       [CIO__OP_FSYNC] = IORING_OP_FSYNC,
    [CIO__OP_STATX] = IORING_OP_STATX,       [CIO__OP_UNLINKAT] = IORING_OP_UNLINKAT,
    [CIO__OP_RENAMEAT] = IORING_OP_RENAMEAT, [CIO__OP_MKDIRAT] = IORING_OP_MKDIRAT,
};

/* The kernel must have every operation above (and cancellation): a ring
 * that cannot do one of them is no use to cio, and epoll is chosen. */
static const char *missing_op(struct io_uring *ring) {
    static const char *const names[CIO__OP_COUNT] = {
        "NOP",     "READ",    "WRITE",  "READV",    "WRITEV",   "RECV",     "SEND",
        "RECVMSG", "SENDMSG", "ACCEPT", "CONNECT",  "SHUTDOWN", "POLL_ADD", "OPENAT",
        "CLOSE",   "FSYNC",   "STATX",  "UNLINKAT", "RENAMEAT", "MKDIRAT"};
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    if (!p)
        return "the kernel cannot list its io_uring operations (IORING_REGISTER_PROBE)";
    const char *miss = NULL;
    for (int i = 0; i < CIO__OP_COUNT && !miss; i++)
        if (!io_uring_opcode_supported(p, opcodes[i]))
            miss = names[i];
    if (!miss && !io_uring_opcode_supported(p, IORING_OP_ASYNC_CANCEL))
        miss = "ASYNC_CANCEL";
    io_uring_free_probe(p);
    if (!miss)
        return NULL;
    static __thread char why[96];
    snprintf(why, sizeof why, "the kernel's io_uring lacks IORING_OP_%s, which cio needs", miss);
    return why;
}

static const cio__backend_ops uring_ops;

/* TSan cannot see that a ring's memory, unmapped by one loop, is new when
 * the kernel maps it again for another loop's ring on another thread: a
 * ring's end happens before the next ring's start, said through one sync
 * object. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char rings_sync;
#define RING_BORN() __tsan_acquire(&rings_sync)
#define RING_GONE() __tsan_release(&rings_sync)
#else
#define RING_BORN() ((void)0)
#define RING_GONE() ((void)0)
#endif

static const char *setup_error(int err) {
    switch (err) {
    case EPERM:
        return "io_uring_setup is blocked (a seccomp filter such as Docker's default "
               "profile, or kernel.io_uring_disabled)";
    case ENOSYS:
        return "this kernel has no io_uring";
    case ENOMEM:
        return "io_uring_setup failed for want of memory (RLIMIT_MEMLOCK?)";
    default:
        return "the kernel refused io_uring_setup";
    }
}

cio__backend *cio__backend_uring_new(unsigned entries, const char **why) {
    uring *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    int r = -EINVAL;
    for (size_t i = 0; i < sizeof setup_flags / sizeof *setup_flags; i++) {
        struct io_uring_params p = {0};
        /* A CQ well above the SQ: completions of long-lived requests pile up. */
        p.flags = setup_flags[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = entries * 8;
        r = io_uring_queue_init_params(entries, &u->ring, &p);
        if (r != -EINVAL)
            break;
    }
    if (r < 0) {
        free(u);
        if (why)
            *why = setup_error(-r);
        errno = -r;
        return NULL;
    }
    const char *miss = missing_op(&u->ring);
    if (miss) {
        io_uring_queue_exit(&u->ring);
        free(u);
        if (why)
            *why = miss;
        errno = ENOSYS;
        return NULL;
    }
    /* A child forked while the loop runs (a process pool's fork server) must
     * not share the ring's memory: it would see, and could corrupt, our queues. */
    io_uring_ring_dontfork(&u->ring);
    RING_BORN();
    u->base.ops = &uring_ops;
    u->base.kind = CIO_BACKEND_IO_URING;
    u->enabled = !(u->ring.flags & IORING_SETUP_R_DISABLED);
    return &u->base;
}

static void uring_destroy(cio__backend *b) {
    uring *u = (uring *)b;
    RING_GONE();
    io_uring_queue_exit(&u->ring);
    free(u);
}

/* The first submit happens on the loop's thread: that thread becomes the ring's
 * single issuer, so a loop may be created on one thread and run on another. */
static int ensure_enabled(uring *u) {
    if (u->enabled)
        return 0;
    /* liburing 2.3 declares io_uring_enable_rings but does not export it. */
    if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    io_uring_register_ring_fd(&u->ring); /* an optimisation: failure is fine */
    u->enabled = true;
    return 0;
}

static int flush(uring *u) {
    if (!io_uring_sq_ready(&u->ring))
        return 0;
    int r = ensure_enabled(u);
    return r < 0 ? r : io_uring_submit(&u->ring);
}

/* A zeroed SQE (the queued ones are submitted first when the SQ is full). */
static struct io_uring_sqe *get_sqe(uring *u) {
    if (CIO__FAULT(CIO__FAULT_SQE))
        return NULL;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe && flush(u) >= 0)
        sqe = io_uring_get_sqe(&u->ring);
    if (sqe) {
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data(sqe, NULL); /* prep leaves user_data as it was */
    }
    return sqe;
}

static void prep(struct io_uring_sqe *sqe, const cio__req *r) {
    sqe->opcode = opcodes[r->op];
    sqe->fd = r->fd;
    sqe->addr = (uint64_t)(uintptr_t)r->addr;
    sqe->len = r->len;
    sqe->off = r->off;
    switch (r->op) {
    case CIO__OP_RECVMSG:
    case CIO__OP_SENDMSG:
        sqe->len = 1; /* one msghdr */
        /* fall through */
    case CIO__OP_RECV:
    case CIO__OP_SEND:
        sqe->msg_flags = (uint32_t)r->arg;
        if (r->flags & CIO__REQ_POLL_FIRST)
            sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
        break;
    case CIO__OP_ACCEPT:
        sqe->addr2 = (uint64_t)(uintptr_t)r->addr2;
        sqe->accept_flags = SOCK_CLOEXEC;
        if (r->flags & CIO__REQ_MULTISHOT)
            sqe->ioprio |= IORING_ACCEPT_MULTISHOT;
        break;
    case CIO__OP_CONNECT:
        sqe->addr2 = 0;
        sqe->off = r->len; /* the address length travels in off */
        sqe->len = 0;
        break;
    case CIO__OP_SHUTDOWN:
        sqe->len = (uint32_t)r->arg;
        break;
    case CIO__OP_POLL:
        sqe->poll32_events = r->len;
        sqe->len = 0;
        break;
    case CIO__OP_OPENAT:
        io_uring_prep_openat(sqe, AT_FDCWD, r->addr, r->arg, r->len);
        break;
    case CIO__OP_FSYNC:
        sqe->fsync_flags = r->arg & CIO__FSYNC_DATA ? IORING_FSYNC_DATASYNC : 0;
        break;
    case CIO__OP_STATX:
        io_uring_prep_statx(sqe, r->fd, r->addr, r->arg, STATX_BASIC_STATS, r->addr2);
        break;
    case CIO__OP_UNLINKAT:
        io_uring_prep_unlinkat(sqe, AT_FDCWD, r->addr, r->arg);
        break;
    case CIO__OP_RENAMEAT:
        io_uring_prep_renameat(sqe, AT_FDCWD, r->addr, AT_FDCWD, r->addr2, 0);
        break;
    case CIO__OP_MKDIRAT:
        io_uring_prep_mkdirat(sqe, AT_FDCWD, r->addr, r->len);
        break;
    }
    io_uring_sqe_set_data(sqe, (void *)r);
}

static int uring_submit(cio__backend *b, cio__req *r) {
    uring *u = (uring *)b;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return -EBUSY;
    prep(sqe, r);
    if (!(r->flags & CIO__REQ_BACKGROUND))
        u->inflight++;
    return 0;
}

/* A cancel whose own CQE is ignored (user_data NULL). Without an SQE for it
 * nothing happens: callers that must not hang retry (see io.c). */
static int uring_cancel(cio__backend *b, cio__req *r) {
    struct io_uring_sqe *sqe = get_sqe((uring *)b);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)r, 0);
    return 0;
}

static void uring_cancel_all(cio__backend *b) {
    struct io_uring_sqe *sqe = get_sqe((uring *)b);
    if (sqe)
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
}

/* A request on an fd keeps the file open inside the kernel: closing the fd
 * would not end it, so every request on fd is cancelled first. */
static void uring_fd_closing(cio__backend *b, int fd) {
    struct io_uring_sqe *sqe = get_sqe((uring *)b);
    if (sqe)
        io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
}

static void uring_fd_owned(cio__backend *b, int fd) {
    (void)b;
    (void)fd;
}

static unsigned uring_inflight(const cio__backend *b) {
    return ((const uring *)b)->inflight;
}

/* Copies a batch out of the CQ and advances it before running any done(), so
 * a done() may submit, cancel or even run the backend again. */
static int dispatch(uring *u) {
    struct io_uring_cqe *cqes[64];
    int total = 0;
    for (;;) {
        unsigned n = io_uring_peek_batch_cqe(&u->ring, cqes, 64);
        if (!n)
            return total;
        struct {
            cio__req *r;
            int res;
            uint32_t flags;
        } batch[64];
        for (unsigned i = 0; i < n; i++) {
            batch[i].r = io_uring_cqe_get_data(cqes[i]);
            batch[i].res = cqes[i]->res;
            batch[i].flags = cqes[i]->flags;
        }
        io_uring_cq_advance(&u->ring, n);
        for (unsigned i = 0; i < n; i++) {
            cio__req *r = batch[i].r;
            if (!r)
                continue;
            bool more = batch[i].flags & IORING_CQE_F_MORE;
            if (!more && !(r->flags & CIO__REQ_BACKGROUND))
                u->inflight--;
            r->done(r, batch[i].res, more ? CIO__MORE : 0);
        }
        total += (int)n;
    }
}

static int uring_run(cio__backend *b, double timeout) {
    uring *u = (uring *)b;
    int r = ensure_enabled(u);
    if (r < 0)
        return r;
    if (timeout == 0) {
        /* Busy loop: no syscall unless there is something to submit or reap. */
        if (io_uring_sq_ready(&u->ring) || u->inflight)
            r = io_uring_submit_and_get_events(&u->ring);
    } else if (timeout < 0) {
        r = io_uring_submit_and_wait(&u->ring, 1);
    } else {
        struct __kernel_timespec ts;
        ts.tv_sec = (long long)timeout;
        ts.tv_nsec = (long long)((timeout - (double)ts.tv_sec) * 1e9);
        struct io_uring_cqe *cqe;
        r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        return r;
    return dispatch(u);
}

static const cio__backend_ops uring_ops = {
    .name = "io_uring",
    .submit = uring_submit,
    .cancel = uring_cancel,
    .cancel_all = uring_cancel_all,
    .fd_closing = uring_fd_closing,
    .fd_owned = uring_fd_owned,
    .run = uring_run,
    .inflight = uring_inflight,
    .destroy = uring_destroy,
};
