/* The io_uring backend: ring setup, SQE hand-out, submit-and-wait, CQE dispatch.
 * The only file of the core that includes liburing.h. */
#include "uring.h"

#include "fault.h"

#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef IORING_SETUP_R_DISABLED
#define IORING_SETUP_R_DISABLED (1U << 6)
#endif

struct cio__uring {
    struct io_uring ring;
    struct io_uring_probe *probe;
    unsigned inflight; /* requests with an op whose final CQE has not come */
    bool enabled;      /* R_DISABLED rings start on the thread that runs them */
};

/* The best setup this kernel accepts, from the fastest for one thread down. */
static const unsigned setup_flags[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    0,
};

cio__uring *cio__uring_new(unsigned entries) {
    cio__uring *u = calloc(1, sizeof *u);
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
        errno = -r;
        return NULL;
    }
    u->enabled = !(u->ring.flags & IORING_SETUP_R_DISABLED);
    u->probe = io_uring_get_probe_ring(&u->ring);
    return u;
}

void cio__uring_free(cio__uring *u) {
    if (!u)
        return;
    if (u->probe)
        io_uring_free_probe(u->probe);
    io_uring_queue_exit(&u->ring);
    free(u);
}

int cio__uring_fd(cio__uring *u) {
    return u->ring.ring_fd;
}

int cio__uring_has_op(cio__uring *u, unsigned opcode) {
    return u->probe && io_uring_opcode_supported(u->probe, (int)opcode);
}

/* The first submit happens on the loop's thread: that thread becomes the ring's
 * single issuer, so a loop may be created on one thread and run on another. */
static int ensure_enabled(cio__uring *u) {
    if (u->enabled)
        return 0;
    /* liburing 2.3 declares io_uring_enable_rings but does not export it. */
    if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    io_uring_register_ring_fd(&u->ring); /* an optimisation: failure is fine */
    u->enabled = true;
    return 0;
}

int cio__uring_flush(cio__uring *u) {
    if (!io_uring_sq_ready(&u->ring))
        return 0;
    int r = ensure_enabled(u);
    return r < 0 ? r : io_uring_submit(&u->ring);
}

struct io_uring_sqe *cio__uring_sqe(cio__uring *u, cio__op *op) {
    if (CIO__FAULT(CIO__FAULT_SQE)) {
        errno = EBUSY;
        return NULL;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) {
        int r = cio__uring_flush(u);
        if (r < 0) {
            errno = -r;
            return NULL;
        }
        sqe = io_uring_get_sqe(&u->ring);
        if (!sqe) {
            errno = EBUSY;
            return NULL;
        }
    }
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, op);
    if (op && !op->background)
        u->inflight++;
    return sqe;
}

int cio__uring_cancel(cio__uring *u, cio__op *op) {
    struct io_uring_sqe *sqe = cio__uring_sqe(u, NULL);
    if (!sqe)
        return -errno;
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
    io_uring_sqe_set_data(sqe, NULL);
    return 0;
}

int cio__uring_cancel_all(cio__uring *u) {
    struct io_uring_sqe *sqe = cio__uring_sqe(u, NULL);
    if (!sqe)
        return -errno;
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data(sqe, NULL);
    return 0;
}

unsigned cio__uring_inflight(const cio__uring *u) {
    return u->inflight;
}

/* Copies a batch out of the CQ and advances it before running any done(), so
 * a done() may submit, cancel or even run the ring again. */
static int dispatch(cio__uring *u) {
    struct io_uring_cqe *cqes[64];
    int total = 0;
    for (;;) {
        unsigned n = io_uring_peek_batch_cqe(&u->ring, cqes, 64);
        if (!n)
            return total;
        struct {
            cio__op *op;
            int res;
            uint32_t flags;
        } batch[64];
        for (unsigned i = 0; i < n; i++) {
            batch[i].op = io_uring_cqe_get_data(cqes[i]);
            batch[i].res = cqes[i]->res;
            batch[i].flags = cqes[i]->flags;
        }
        io_uring_cq_advance(&u->ring, n);
        for (unsigned i = 0; i < n; i++) {
            if (!batch[i].op)
                continue;
            if (!(batch[i].flags & IORING_CQE_F_MORE) && !batch[i].op->background)
                u->inflight--;
            batch[i].op->done(batch[i].op, batch[i].res, batch[i].flags);
        }
        total += (int)n;
    }
}

int cio__uring_run(cio__uring *u, double timeout) {
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
