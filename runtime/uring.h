/* The loop's submission interface: the only door to the kernel for the rest
 * of the runtime. Everything that completes asynchronously is a cio__op whose
 * done() runs on the loop thread when its CQE arrives. */
#ifndef CIO_URING_H
#define CIO_URING_H

#include <linux/io_uring.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct cio__op {
    /* res is cqe->res, flags cqe->flags (IORING_CQE_F_MORE for multishot). */
    void (*done)(struct cio__op *op, int res, uint32_t flags);
    /* A long-lived request (the loop's wakeup read) that must not make a busy
     * loop enter the kernel on every iteration just to look for its CQE. */
    bool background;
} cio__op;

typedef struct cio__uring cio__uring;

/* Sets the ring up (SINGLE_ISSUER|DEFER_TASKRUN, else COOP_TASKRUN, else plain).
 * NULL and errno on failure (ENOSYS/EPERM when io_uring is unavailable). */
cio__uring *cio__uring_new(unsigned entries);
void cio__uring_free(cio__uring *u);
/* A zeroed SQE whose completion goes to op (op NULL: the CQE is ignored).
 * When the SQ is full the queued entries are submitted first. NULL with errno
 * when no entry can be had. */
struct io_uring_sqe *cio__uring_sqe(cio__uring *u, cio__op *op);
/* Submits what is queued and waits for completions: timeout < 0 waits for at
 * least one, 0 does not wait. Runs done() for every CQE reaped. Returns the
 * number of CQEs handled or a negative errno. */
int cio__uring_run(cio__uring *u, double timeout);
/* Submits queued SQEs without waiting (before blocking elsewhere). */
int cio__uring_flush(cio__uring *u);
/* IORING_OP_ASYNC_CANCEL for op's request; its own CQE is ignored. */
int cio__uring_cancel(cio__uring *u, cio__op *op);
/* Cancels every request in flight (loop close). */
int cio__uring_cancel_all(cio__uring *u);
/* Requests with an op (not background) whose final CQE has not come yet. */
unsigned cio__uring_inflight(const cio__uring *u);
/* Whether an opcode is supported by this kernel (probe at setup). */
int cio__uring_has_op(cio__uring *u, unsigned opcode);
/* The ring fd (for MSG_RING and diagnostics). */
int cio__uring_fd(cio__uring *u);

/* Fills sqe with the common fields (the liburing io_uring_prep_rw shape). */
static inline void cio__sqe_prep(struct io_uring_sqe *sqe, unsigned op, int fd, const void *addr,
                                 unsigned len, uint64_t off) {
    sqe->opcode = (uint8_t)op;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)addr;
    sqe->len = len;
    sqe->off = off;
}

#endif
