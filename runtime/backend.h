/* The kernel boundary. Everything in the runtime that waits for the kernel
 * describes it as a cio__req (what to do, on which fd, with which memory,
 * what to call when it is done) and hands it to the loop's backend:
 *
 *   backend_uring.c  one SQE per request, completions from the CQ;
 *   backend_epoll.c  readiness (epoll, edge-triggered) plus the plain
 *                    syscall, and file operations on its own threads.
 *
 * Nothing outside those two files knows which one runs.
 *
 * Rules every backend keeps:
 *  - done() runs on the loop thread from cio__backend_run, never from inside
 *    submit or cancel (callers may free things in done()).
 *  - Memory the request names belongs to the backend until its final done():
 *    a cancel only asks, and done() still comes, with -ECANCELED when the
 *    request was dropped before it did anything, else with its real result.
 *  - A multishot request (CIO__REQ_MULTISHOT) calls done() with CIO__MORE set
 *    for every result but its last. */
#ifndef CIO_BACKEND_H
#define CIO_BACKEND_H

#include "cio.h"
#include "list.h"
#include <stdbool.h>
#include <stdint.h>

typedef enum cio__opcode {
    CIO__OP_NOP,
    CIO__OP_READ,     /* fd, addr = buffer, len, off (CIO__OFF_CUR: the file position) */
    CIO__OP_WRITE,    /* fd, addr, len, off */
    CIO__OP_READV,    /* fd, addr = iovec array, len = count, off */
    CIO__OP_WRITEV,   /* fd, addr, len, off */
    CIO__OP_RECV,     /* fd, addr, len, arg = MSG_ flags */
    CIO__OP_SEND,     /* fd, addr, len, arg */
    CIO__OP_RECVMSG,  /* fd, addr = msghdr, arg */
    CIO__OP_SENDMSG,  /* fd, addr, arg */
    CIO__OP_ACCEPT,   /* fd, addr = sockaddr or NULL, addr2 = socklen_t *; close-on-exec */
    CIO__OP_CONNECT,  /* fd, addr = sockaddr, len = its length */
    CIO__OP_SHUTDOWN, /* fd, arg = how */
    CIO__OP_POLL,     /* fd, len = poll events; result: the revents */
    CIO__OP_OPENAT,   /* addr = path, arg = flags, len = mode (relative to the cwd) */
    CIO__OP_CLOSE,    /* fd */
    CIO__OP_FSYNC,    /* fd, arg = CIO__FSYNC_DATA or 0 */
    CIO__OP_STATX,    /* fd (or AT_FDCWD), addr = path, addr2 = struct statx *, arg = AT_ flags */
    CIO__OP_UNLINKAT, /* addr = path, arg = 0 or AT_REMOVEDIR */
    CIO__OP_RENAMEAT, /* addr = from, addr2 = to */
    CIO__OP_MKDIRAT,  /* addr = path, len = mode */
    CIO__OP_COUNT
} cio__opcode;

#define CIO__OFF_CUR UINT64_MAX
#define CIO__FSYNC_DATA 1

enum {
    CIO__REQ_BACKGROUND = 1, /* long-lived (the wakeup, signals): a busy loop need not
                                enter the kernel for it, and loop close does not wait */
    CIO__REQ_MULTISHOT = 2,  /* ACCEPT: keeps accepting until cancelled or an error */
    CIO__REQ_POLL_FIRST = 4, /* SEND: the socket said EAGAIN; wait for room first */
};

enum { CIO__MORE = 1 }; /* done() flag: a multishot request goes on */

typedef struct cio__req cio__req;
typedef void (*cio__req_done)(cio__req *r, int res, unsigned flags);

struct cio__req {
    cio__req_done done;
    void *ctx;     /* the owner's (done() gets r back) */
    uint8_t op;    /* cio__opcode */
    uint8_t flags; /* CIO__REQ_* */
    int fd;
    void *addr;
    void *addr2;
    uint64_t off;
    uint32_t len;
    int32_t arg;
    /* The backend's: links and per-request state while it owns the request. */
    cio__list_node blink;
    int bres;
    uint32_t bstate;
};

typedef struct cio__backend cio__backend;

typedef struct cio__backend_ops {
    const char *name;
    /* Starts using r; 0, or a negative errno when there is no room now
     * (the request is then not the backend's). */
    int (*submit)(cio__backend *b, cio__req *r);
    /* Asks the backend to drop r (a no-op when it is done already). 0, or
     * -EBUSY when the backend has no room to ask now (try again later). */
    int (*cancel)(cio__backend *b, cio__req *r);
    /* Drops every request (loop close). */
    void (*cancel_all)(cio__backend *b);
    /* Requests on fd are about to end with the fd: they finish with -ECANCELED
     * (io_uring) or -EBADF (epoll), and the backend forgets the fd. */
    void (*fd_closing)(cio__backend *b, int fd);
    /* The fd's lifetime is cio's from here until fd_closing: registrations
     * need no re-checking (a hint; backends may ignore it). */
    void (*fd_owned)(cio__backend *b, int fd);
    /* Starts what was submitted and waits for completions up to timeout
     * seconds (< 0: until one; 0: not at all), then runs their done().
     * The number of completions handled, or a negative errno. */
    int (*run)(cio__backend *b, double timeout);
    /* Requests that are not background and have not ended. */
    unsigned (*inflight)(const cio__backend *b);
    void (*destroy)(cio__backend *b);
} cio__backend_ops;

struct cio__backend {
    const cio__backend_ops *ops;
    cio_backend kind;
};

/* Sets up the backend that kind asks for (AUTO: io_uring when it can start
 * and has the operations cio needs, else epoll; env CIO_BACKEND overrides
 * AUTO). NULL and errno when none can start; *why (may be NULL) then gets a
 * sentence for the log, and with AUTO how the choice was made. */
cio__backend *cio__backend_new(cio_backend kind, unsigned entries, const char **why);
cio__backend *cio__backend_uring_new(unsigned entries, const char **why);
cio__backend *cio__backend_epoll_new(unsigned entries, const char **why);

static inline int cio__backend_submit(cio__backend *b, cio__req *r) {
    return b->ops->submit(b, r);
}
static inline int cio__backend_cancel(cio__backend *b, cio__req *r) {
    return b->ops->cancel(b, r);
}
static inline int cio__backend_run(cio__backend *b, double timeout) {
    return b->ops->run(b, timeout);
}

#endif
